"""The bot in outage mode (issue 11 §5), on SQLite and PostgreSQL, against the fake
providers: a WhatsApp customer asking about the broken product first hears the incident's
message with "tell me when it is fixed" as a button, taps it, is confirmed, and is told on
WhatsApp when the supervisor resolves it; an SMS customer who answers "continue" goes on
with the flow, and the incident is not said twice in one conversation; a Telegram customer
who never answers the offer (in Portuguese) is ended by the durable deadline; a Messenger
customer asks for a person from it and is handed off with what they said.

The intent model and the word-match knowledge source are test_bot.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Running, World, add_endpoint, count, eventually, login
from tests.fakes.meta import (
    PAGE_ID,
    PHONE_NUMBER_ID,
    FakeGraph,
    SentMessage,
    messenger_message,
    messenger_quick_reply,
    running_fake_graph,
    whatsapp_message,
)
from tests.fakes.telegram import FakeTelegram, Sent, running_fake_telegram
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from tests.integration.test_bot import (  # noqa: F401 - intent_models, settings: fixtures
    ARTICLES,
    WordMatchArticles,
    bot_of,
    intent_models,
    settings,
)
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.db import utcnow
from threadline.routing.models import Contact
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.selfservice.bot.outage import CONTINUE_CHOICE, FOLLOW_CHOICE
from threadline.selfservice.bot.services import BOT_DEADLINE
from threadline.selfservice.incidents.models import IncidentNotice, IncidentThread
from threadline.workers.models import Timer

WA_ID = "351912345678"
PSID = "6783921054837262"
NUMBER = "+15005550006"
TEXTER = "+351912000222"
INCIDENT = {
    "title": "Card payments failing",
    "messages": {
        "en": "Card payments are failing since 9:00. We are fixing it.",
        "pt": "Os pagamentos com cartão estão a falhar desde as 9:00. Estamos a resolver.",
    },
    "resolution_messages": {"en": "Card payments work again. Sorry for the trouble."},
    "keywords": ["card payment", "pagamento com cartão"],
    "products": ["cards"],
}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
async def articles(server: Running) -> WordMatchArticles:
    """The bot answers from a few articles (test_bot.py's word-match knowledge source)."""
    source = WordMatchArticles(ARTICLES)
    bot_of(server).knowledge = source
    return source


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def declare(server: Running, **changes: Any) -> dict[str, Any]:
    supervisor = await login(server, "nikos@example.com")
    try:
        created = await supervisor.post("/api/v1/incidents", json={**INCIDENT, **changes})
    finally:
        await supervisor.aclose()
    assert created.status_code == 201, created.text
    return dict(created.json())


def _bodies(graph: FakeGraph) -> list[str]:
    out = []
    for m in graph.messages:
        if "interactive" in m.payload:
            out.append(m.payload["interactive"]["body"]["text"])
        else:
            out.append(m.payload.get("text", {}).get("body", ""))
    return out


async def _interactive(graph: FakeGraph) -> dict[str, Any] | None:
    found = [m.payload["interactive"] for m in graph.messages if "interactive" in m.payload]
    return found[-1] if found else None


async def _text_with(graph: FakeGraph, part: str) -> str | None:
    return next((b for b in _bodies(graph) if part in b), None)


async def _notices(server: Running) -> list[IncidentNotice] | None:
    async with server.ctx.db.sessions() as db:
        rows = list(await db.scalars(select(IncidentNotice)))
    return rows if rows and all(n.status != "waiting" for n in rows) else None


async def _outcome(server: Running) -> BotOutcome | None:
    async with server.ctx.db.sessions() as db:
        found: BotOutcome | None = await db.scalar(select(BotOutcome))
        return found


async def test_whatsapp_customer_asks_about_the_outage_is_told_and_hears_when_fixed(
    server: Running, world: World, graph: FakeGraph, articles: WordMatchArticles
) -> None:
    incident = await declare(server)
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo-bank"}}
    await add_endpoint(server, **body)
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"

    asked = whatsapp_message("wamid.OUT1", WA_ID, "text", body="Why does my card payment fail?")
    assert (await graph.notify(hook, asked)).status_code == 200
    offer = await eventually(lambda: _interactive(graph))
    # the incident's message first, with three reply buttons (they fit WhatsApp's titles)
    assert offer["type"] == "button"
    assert offer["body"]["text"] == INCIDENT["messages"]["en"]
    buttons = [(b["reply"]["id"], b["reply"]["title"]) for b in offer["action"]["buttons"]]
    assert buttons == [
        (FOLLOW_CHOICE, "Tell me when fixed"),
        (CONTINUE_CHOICE, "Continue"),
        ("agent", "Talk to a person"),
    ]
    assert len(graph.messages) == 1  # nothing else was said: no greeting, no classification

    tapped = whatsapp_message(
        "wamid.OUT2",
        WA_ID,
        "interactive",
        type="button_reply",
        button_reply={"id": FOLLOW_CHOICE, "title": "Tell me when fixed"},
    )
    assert (await graph.notify(hook, tapped)).status_code == 200
    await eventually(lambda: _text_with(graph, "We will tell you here when it is fixed."))
    outcome = await eventually(lambda: _outcome(server))
    assert outcome.outcome == "deflected" and outcome.reason == "incident_followed"
    async with server.ctx.db.sessions() as db:
        notice = await db.scalar(select(IncidentNotice))
        tag = await db.scalar(select(IncidentThread))
    assert notice is not None and notice.reason == "follow" and notice.channel == "whatsapp"
    assert notice.status == "waiting" and notice.language == "en"
    assert tag is not None and tag.incident_id == incident["id"]

    supervisor = await login(server, "nikos@example.com")
    try:
        resolved = await supervisor.post(f"/api/v1/incidents/{incident['id']}/resolve", json={})
        assert resolved.status_code == 200, resolved.text
    finally:
        await supervisor.aclose()
    [told] = await eventually(lambda: _notices(server))
    assert told.status == "told" and told.told_on == "whatsapp"
    fixed = await eventually(lambda: _text_with(graph, "Card payments work again"))
    assert fixed == INCIDENT["resolution_messages"]["en"]
    assert all(m.payload["to"] == WA_ID for m in graph.messages)
    assert len(graph.messages) == 3  # the offer, the confirmation, the fix: once each


def _sms(sid: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": TEXTER,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


async def _sms_with(twilio: FakeTwilio, part: str, n: int = 1) -> list[str] | None:
    found = [m.body for m in twilio.messages if part in m.body]
    return found if len(found) >= n else None


async def test_sms_customer_continues_and_the_flow_goes_on_with_the_message_said_once(
    server: Running, world: World, twilio: FakeTwilio, articles: WordMatchArticles
) -> None:
    await declare(server)
    await add_endpoint(
        server,
        channel="sms",
        key=NUMBER,
        name="Support line",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={
            "account_sid": ACCOUNT_SID,
            "api_base": twilio.base_url,
            "bot": {"flow": "demo-bank"},
        },
    )
    hook = f"{server.base_url}/webhooks/sms/twilio/{NUMBER.replace('+', '%2B')}"

    async def text(sid: str, body: str) -> None:
        posted = await twilio.post_signed(hook, _sms(sid, body))
        assert posted.status_code == 200, posted.text

    await text("SM-O1", "My card payment was refused, how do I change my PIN?")
    [offer] = await eventually(lambda: _sms_with(twilio, "Card payments are failing"))
    assert "1. Tell me when fixed" in offer and "2. Continue" in offer
    assert "0. Talk to a person" in offer
    await text("SM-O2", "2")
    # the flow starts with what the customer asked: greeted, then answered from the articles
    await eventually(lambda: _sms_with(twilio, "virtual assistant"))
    answer = await eventually(lambda: _sms_with(twilio, "Change PIN"))
    assert "1. Yes" in answer[0]
    assert "card payment was refused" in " ".join(articles.asked)
    # the same incident again in this conversation: not said twice; the flow reads it as
    # "that did not help" and hands the customer to a person
    await text("SM-O3", "My card payment still fails")
    await eventually(lambda: _sms_with(twilio, "passing you to a colleague"))
    assert len([m for m in twilio.messages if "Card payments are failing" in m.body]) == 1
    assert await count(server, BotConversation) == 1
    assert await count(server, IncidentNotice) == 0  # nobody asked to be told
    outcome = await eventually(lambda: _outcome(server))
    assert outcome.outcome == "handed_off" and outcome.channel == "sms"


async def sms_bot(server: Running, world: World, twilio: FakeTwilio) -> str:
    await add_endpoint(
        server,
        channel="sms",
        key=NUMBER,
        name="Support line",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={
            "account_sid": ACCOUNT_SID,
            "api_base": twilio.base_url,
            "bot": {"flow": "demo-bank"},
        },
    )
    return f"{server.base_url}/webhooks/sms/twilio/{NUMBER.replace('+', '%2B')}"


async def test_an_incident_named_by_intent_is_said_once_the_message_is_classified(
    server: Running, world: World, twilio: FakeTwilio, articles: WordMatchArticles
) -> None:
    """No word of the incident in the message: the classifier's intent names it. The flow
    resumes with that intent on "continue"."""
    await declare(
        server,
        title="PIN changes unavailable",
        messages={"en": "PIN changes are unavailable until noon."},
        keywords=[],
        products=[],
        intents=["change_pin"],
    )
    hook = await sms_bot(server, world, twilio)
    sent = await twilio.post_signed(hook, _sms("SM-I1", "How do I change my PIN?"))
    assert sent.status_code == 200
    [offer] = await eventually(lambda: _sms_with(twilio, "PIN changes are unavailable"))
    assert "1. Tell me when fixed" in offer and "2. Continue" in offer
    assert not articles.asked  # the flow waits: nothing looked up yet
    assert (await twilio.post_signed(hook, _sms("SM-I2", "2"))).status_code == 200
    answer = await eventually(lambda: _sms_with(twilio, "Change PIN"))
    assert "1. Yes" in answer[0] and articles.asked == ["How do I change my PIN?"]
    assert len([m for m in twilio.messages if "PIN changes are unavailable" in m.body]) == 1


# ---- Telegram: no answer; Messenger: a person ------------------------------------------------


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as fake:
        yield fake


async def _keyboard(telegram: FakeTelegram) -> Sent | None:
    return next((m for m in telegram.messages if m.reply_markup is not None), None)


async def test_telegram_offer_left_unanswered_ends_at_the_deadline(
    server: Running, world: World, telegram: FakeTelegram, articles: WordMatchArticles
) -> None:
    await declare(server)
    body = telegram.endpoint("Support bot", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo-bank"}}
    created = await add_endpoint(server, **body)
    await do_register_telegram_webhook(server.ctx, world.org_id, created["id"])
    # a Portuguese customer: the incident's Portuguese message, the choices in Portuguese
    asked = telegram.private_message("O pagamento com cartão não funciona", language_code="pt")
    assert (await telegram.post_update(asked)).status_code == 200
    offer = await eventually(lambda: _keyboard(telegram))
    assert offer.text == INCIDENT["messages"]["pt"]
    assert [(b["text"], b["callback_data"]) for b in offer.buttons()] == [
        ("Avisem-me da solução", FOLLOW_CHOICE),
        ("Continuar", CONTINUE_CHOICE),
        ("Falar com uma pessoa", "agent"),
    ]
    async with server.ctx.db.sessions() as db:
        timer = await db.scalar(
            select(Timer).where(
                Timer.kind == BOT_DEADLINE, Timer.fired_at.is_(None), Timer.cancelled.is_(False)
            )
        )
    assert timer is not None and timer.due_at > utcnow() + timedelta(minutes=5)
    async with server.ctx.uow() as uow:  # ... the customer is gone: the deadline comes now
        await uow.session.execute(update(Timer).where(Timer.id == timer.id).values(due_at=utcnow()))
    server.ctx.timers.wake()
    outcome = await eventually(lambda: _outcome(server))
    assert outcome.outcome == "ended" and outcome.reason == "no_reply"
    assert len(telegram.messages) == 1  # nothing more was said
    assert await count(server, IncidentNotice) == 0


async def test_messenger_customer_asks_for_a_person_from_the_offer(
    server: Running, world: World, graph: FakeGraph, articles: WordMatchArticles
) -> None:
    await declare(server)
    body = graph.endpoint("messenger", PAGE_ID, "Page", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo-bank"}}
    await add_endpoint(server, **body)
    hook = f"{server.base_url}/webhooks/messenger/{PAGE_ID}"
    asked = messenger_message("m_o1", PSID, "My card payment keeps failing at the shop")
    assert (await graph.notify(hook, asked)).status_code == 200

    async def offered() -> SentMessage | None:
        return next((m for m in graph.messages if "quick_replies" in m.payload["message"]), None)

    offer = await eventually(offered)
    assert offer.payload["message"]["text"] == INCIDENT["messages"]["en"]
    tapped = messenger_quick_reply("m_o2", PSID, offer, "Talk to a person")
    assert (await graph.notify(hook, tapped)).status_code == 200
    contact = await eventually(lambda: _contact(server))
    context = contact.context["bot"]
    assert context["reason"] == "customer_asked" and contact.channel == "messenger"
    assert "card payment keeps failing" in context["summary"]  # never asked again
    await eventually(lambda: _tagged(server))  # the contact is about the incident

    async def handed_off() -> str | None:
        texts = [str(m.payload["message"].get("text", "")) for m in graph.messages]
        return next((t for t in texts if "passing you to a colleague" in t), None)

    await eventually(handed_off)
    assert len(graph.messages) == 2


async def _contact(server: Running) -> Contact | None:
    async with server.ctx.db.sessions() as db:
        found: Contact | None = await db.scalar(select(Contact))
        return found


async def _tagged(server: Running) -> bool:
    return await count(server, IncidentThread) == 1
