"""The bot on the channels (journey 5, Sofia), on SQLite and PostgreSQL: in the widget it
answers a PIN question from the knowledge base and counts the deflection; an unclear
question is clarified with buttons, then handed to the Cards queue with the transcript,
intent and slots; "talk to a person" hands off mid-flow; the same flow over SMS and
WhatsApp against the fake providers, where a retried webhook runs the bot once.

The intent model is a real one (threadline.intents, trained here on BANKING77's examples
of a few intents, without embeddings, in seconds). One test asks the real knowledge base
(the demo bank's articles); the others use a small word-match KnowledgeSource, so that what
the bot says does not depend on how the demo articles are worded."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select, update

from tests.conftest import Running, World, add_endpoint, authed_socket, count, eventually, login
from tests.fakes.meta import PHONE_NUMBER_ID, FakeGraph, running_fake_graph, whatsapp_message
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from threadline.config import Settings
from threadline.db import utcnow
from threadline.intents.engine import Example, train
from threadline.intents.engine import Settings as TrainSettings
from threadline.routing.models import Contact
from threadline.selfservice.bot.knowledge import KnowledgeAnswer
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.selfservice.bot.queries import deflection
from threadline.selfservice.bot.services import BOT_DEADLINE, BotRuntime
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.selfservice.knowledge.models import KbArticle
from threadline.threads.models import Thread, ThreadEvent
from threadline.workers.models import Timer

BANKING77 = Path("/work/shared/data/banking77/train.csv")
INTENTS = {
    "change_pin",
    "activate_my_card",
    "card_arrival",
    "card_delivery_estimate",
    "lost_or_stolen_card",
    "exchange_rate",
    "top_up_failed",
    "get_physical_card",
    "pin_blocked",
    "transfer_not_received_by_recipient",
}
NUMBER = "+15005550006"
CUSTOMER = "+351912345678"
WA_ID = "351912345678"


@pytest.fixture(scope="session")
def intent_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on BANKING77's examples of ten intents, as the shared default."""
    if not BANKING77.exists():
        pytest.skip("BANKING77 is not on this machine")
    with BANKING77.open(encoding="utf-8") as data:
        rows = [Example(r["text"], r["category"]) for r in csv.DictReader(data)]
    root = tmp_path_factory.mktemp("intents")
    train([r for r in rows if r.category in INTENTS], TrainSettings(embeddings="none")).save(
        root / "default"
    )
    return root


@pytest.fixture
def settings(settings: Settings, intent_models: Path) -> Settings:
    return settings.model_copy(update={"intent_models_dir": intent_models, "event_poll_s": 0.2})


class WordMatchArticles:
    """A knowledge source over a few articles: the one sharing the most words with the
    question (at least two), in the question's language."""

    def __init__(self, articles: dict[str, dict[str, tuple[str, str]]]) -> None:
        self.articles = articles
        self.asked: list[str] = []

    async def answer(self, org_id: str, question: str, language: str) -> KnowledgeAnswer | None:
        self.asked.append(question)
        words = set(re.findall(r"\w+", question.lower()))
        best, best_score = None, 1
        for article_id, versions in self.articles.items():
            if language not in versions:
                continue
            title, body = versions[language]
            score = len(words & set(re.findall(r"\w+", f"{title} {body}".lower())))
            if score > best_score:
                best, best_score = (article_id, title, body), score
        if best is None:
            return None
        return KnowledgeAnswer(article_id=best[0], title=best[1], text=best[2])


ARTICLES = {
    "kb-change-pin": {
        "en": (
            "How do I change my PIN?",
            "To change your PIN, open the app, choose Card, then Change PIN.",
        )
    },
    "kb-exchange": {"en": ("Exchange rates", "We use the daily rate of the card network.")},
}


def bot_of(server: Running) -> BotRuntime:
    return cast(BotRuntime, server.ctx.bot)


@pytest.fixture
async def kb(server: Running) -> WordMatchArticles:
    source = WordMatchArticles(ARTICLES)
    bot_of(server).knowledge = source
    return source


@pytest.fixture
async def bot_widget(server: Running, world: World) -> str:
    """The site's widget answered by the demo bank's bot (set through the admin API)."""
    admin = await login(server, "admin@example.com")
    try:
        url = f"/api/v1/endpoints/{world.widget.id}"
        refused = await admin.patch(url, json={"settings": {"bot": {"flow": "no-such-flow"}}})
        assert refused.status_code == 422 and "no-such-flow" in refused.text
        refused = await admin.patch(url, json={"settings": {"bot": "demo_bank"}})
        assert refused.status_code == 422
        patched = await admin.patch(url, json={"settings": {"bot": {"flow": "demo_bank"}}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["settings"]["bot"] == {"flow": "demo_bank"}
    finally:
        await admin.aclose()
    return world.widget.key


async def _frames_until(ws: Any, wanted: Any, timeout: float = 10) -> list[dict[str, Any]]:
    """The bot's messages until one satisfies `wanted` (that one last)."""
    seen: list[dict[str, Any]] = []

    async def _loop() -> list[dict[str, Any]]:
        while True:
            frame = json.loads(await ws.recv())
            event = frame.get("event") or {}
            if frame["type"] == "event" and event.get("author_type") == "bot":
                seen.append(event)
                if wanted(event):
                    return seen

    try:
        return await asyncio.wait_for(_loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"not seen; the bot said {[e['body'] for e in seen]}") from None


def _has_choices(event: dict[str, Any]) -> bool:
    return bool((event.get("data") or {}).get("choices"))


def _label(event: dict[str, Any], choice_id: str) -> str:
    return next(c["label"] for c in event["data"]["choices"] if c["id"] == choice_id)


async def _session(server: Running, key: str) -> dict[str, Any]:
    async with server.client() as client:
        response = await client.post(f"/api/v1/widget/{key}/session", json={"locale": "en"})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _say(ws: Any, client_id: str, text: str) -> None:
    await ws.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))


async def test_widget_bot_answers_from_the_knowledge_base_and_counts_the_deflection(
    server: Running, world: World, bot_widget: str, kb: WordMatchArticles
) -> None:
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "How do I change my PIN?")
        said = await _frames_until(visitor, _has_choices)
        assert said[0]["body"].startswith("Hello, I am Demo Bank's virtual assistant")
        assert any("Change PIN" in e["body"] for e in said)  # the article, from the KB
        helped = said[-1]
        assert [c["id"] for c in helped["data"]["choices"]] == ["yes", "no", "agent"]
        await _say(visitor, "m-2", _label(helped, "yes"))
        bye = await _frames_until(visitor, lambda e: "Glad I could help" in e["body"])
        thread_id = bye[-1]["thread_id"]
    async with server.ctx.db.sessions() as db:
        outcome = await db.scalar(select(BotOutcome).where(BotOutcome.thread_id == thread_id))
        assert outcome is not None and outcome.outcome == "deflected"
        assert (outcome.intent, outcome.article_id) == ("change_pin", "kb-change-pin")
        thread = await db.get(Thread, thread_id)
        assert thread is not None and thread.status == "resolved"
    assert await count(server, Contact, Contact.thread_id == thread_id) == 0  # nobody needed
    assert kb.asked == ["How do I change my PIN?"]
    now = utcnow()
    report = await deflection(server.ctx, world.org_id, now - timedelta(hours=1), now)
    assert report == [
        {"outcome": "deflected", "intent": "change_pin", "article_id": "kb-change-pin", "count": 1}
    ]
    other = await deflection(server.ctx, "another-org", now - timedelta(hours=1), now)
    assert other == []
    nikos = await login(server, "nikos@example.com")  # a supervisor's report
    try:
        rows = (await nikos.get("/api/v1/bot/outcomes")).json()
        assert rows == report
        bad = await nikos.get("/api/v1/bot/outcomes", params={"since": "2026-01-01T00:00:00"})
        assert bad.status_code == 422
    finally:
        await nikos.aclose()
    rui = await login(server, "rui@example.com")
    try:
        assert (await rui.get("/api/v1/bot/outcomes")).status_code == 403
    finally:
        await rui.aclose()


async def test_unclear_question_is_clarified_then_handed_off_with_context(
    server: Running, world: World, bot_widget: str, kb: WordMatchArticles
) -> None:
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "I would like to know something about my thing")
        clarify = (await _frames_until(visitor, _has_choices))[-1]
        ids = [c["id"] for c in clarify["data"]["choices"]]
        assert "card_arrival" in ids and ids[-2:] == ["other", "agent"]
        await _say(visitor, "m-2", _label(clarify, "card_arrival"))
        await _frames_until(visitor, lambda e: "last 4 digits" in e["body"])
        await _say(visitor, "m-3", "4321")
        await _frames_until(visitor, lambda e: "card specialist" in e["body"])
        thread_id = clarify["thread_id"]
    contact = await eventually(lambda: _contact(server, thread_id))
    assert contact.queue_id == world.queues["cards"].id
    assert contact.reason == "card_arrival"
    bot = contact.context["bot"]
    assert bot["intent"] == "card_arrival" and bot["slots"] == {"card_last4": "4321"}
    assert bot["confidence"] is not None and bot["confidence"] < 0.6  # it was not sure
    assert [e["by"] for e in bot["entries"]][:2] == ["customer", "bot"]
    assert bot["entries"][0]["text"] == "I would like to know something about my thing"
    assert bot["transcript"]["from_seq"] == 1 and bot["transcript"]["to_seq"] > 5
    assert "4321" in bot["summary"]
    async with server.ctx.db.sessions() as db:
        outcome = await db.scalar(select(BotOutcome).where(BotOutcome.thread_id == thread_id))
        assert outcome is not None and outcome.outcome == "handed_off"
        assert outcome.contact_id == contact.id
    assert kb.asked == []
    rui = await login(server, "rui@example.com")  # the agent's first screen: the bot's card
    try:
        card = (await rui.get(f"/api/v1/threads/{thread_id}/bot")).json()
        assert card["contact_id"] == contact.id and card["intent"] == "card_arrival"
        assert card["slots"] == {"card_last4": "4321"} and card["queue"] == "Cards"
        assert card["transcript"][0]["text"] == "I would like to know something about my thing"
        assert (await rui.get("/api/v1/threads/no-such-thread/bot")).status_code == 404
    finally:
        await rui.aclose()
    async with server.client() as anonymous:
        assert (await anonymous.get(f"/api/v1/threads/{thread_id}/bot")).status_code == 401


async def test_talk_to_a_person_mid_flow(
    server: Running, world: World, bot_widget: str, kb: WordMatchArticles
) -> None:
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "my card has not arrived yet")
        asked = await _frames_until(visitor, lambda e: "last 4 digits" in e["body"])
        await _say(visitor, "m-2", "I want to talk to a person")
        await _frames_until(visitor, lambda e: "colleague" in e["body"])
        thread_id = asked[-1]["thread_id"]
    contact = await eventually(lambda: _contact(server, thread_id))
    assert contact.context["bot"]["reason"] == "customer_asked"
    assert contact.context["bot"]["intent"] == "card_arrival"
    # the flow had not routed yet: the widget's own queue
    assert contact.queue_id == world.queues["general"].id
    # the next message goes to the agent's contact, not to the bot
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-3", "hello?")
        await asyncio.sleep(0.5)
    async with server.ctx.db.sessions() as db:
        bot_lines = await db.scalar(
            select(ThreadEvent.seq)
            .where(ThreadEvent.thread_id == thread_id, ThreadEvent.author_type == "bot")
            .order_by(ThreadEvent.seq.desc())
            .limit(1)
        )
        last = await db.scalar(
            select(ThreadEvent.seq)
            .where(ThreadEvent.thread_id == thread_id, ThreadEvent.client_msg_id == "m-3")
            .limit(1)
        )
    assert bot_lines is not None and last is not None and bot_lines < last


async def _contact(server: Running, thread_id: str) -> Contact | None:
    async with server.ctx.db.sessions() as db:
        found: Contact | None = await db.scalar(
            select(Contact).where(Contact.thread_id == thread_id)
        )
        return found


# ---- SMS and WhatsApp --------------------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def _sms(sid: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": CUSTOMER,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
    }


async def test_sms_bot_numbered_choices_and_a_retried_webhook_runs_it_once(
    server: Running, world: World, twilio: FakeTwilio, kb: WordMatchArticles
) -> None:
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
            "bot": {"flow": "demo_bank"},
        },
    )
    hook = f"{server.base_url}/webhooks/sms/twilio/{NUMBER.replace('+', '%2B')}"
    for _ in range(2):  # the provider retries the same message
        posted = await twilio.post_signed(hook, _sms("SM-1", "How do I change my PIN?"))
        assert posted.status_code == 200, posted.text
    greeting, text = await eventually(lambda: _sent(twilio, 2))
    # the greeting, then (once the intent is known) the answer and its question in one
    # message: a provider may deliver the messages of one turn in any order
    assert greeting.startswith("Hello, I am Demo Bank's virtual assistant")
    assert text.index("Change PIN") < text.index("1. Yes") < text.index("2. No")
    await asyncio.sleep(0.5)  # time for a second run, if there were one
    assert len(twilio.messages) == 2
    assert await count(server, BotConversation) == 1
    posted = await twilio.post_signed(hook, _sms("SM-2", "1"))
    assert posted.status_code == 200
    bye = await eventually(lambda: _sent(twilio, 3))
    assert len(bye) == 3 and "Glad I could help" in bye[-1]
    outcome = await eventually(lambda: _outcome(server))
    assert outcome.outcome == "deflected" and outcome.channel == "sms"


async def _sent(twilio: FakeTwilio, n: int) -> list[str] | None:
    bodies = sorted((m.body for m in twilio.messages), key=lambda b: "Hello" not in b)
    return bodies if len(bodies) >= n else None


async def _outcome(server: Running) -> BotOutcome | None:
    async with server.ctx.db.sessions() as db:
        found: BotOutcome | None = await db.scalar(select(BotOutcome))
        return found


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


async def test_whatsapp_bot_clarifies_with_a_list_and_hands_off_to_cards(
    server: Running, world: World, graph: FakeGraph, kb: WordMatchArticles
) -> None:
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo_bank"}}
    await add_endpoint(server, **body)
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"

    async def write(wamid: str, text: str) -> None:
        message = whatsapp_message(wamid, WA_ID, "text", body=text)
        posted = await graph.notify(hook, message)
        assert posted.status_code == 200, posted.text

    await write("wamid.IN1", "I would like to know something about my thing")
    clarify = await eventually(lambda: _interactive(graph))
    # four choices and a person: more than WhatsApp's three reply buttons, so a list
    assert clarify["type"] == "list"
    rows = {r["title"]: r["id"] for r in clarify["action"]["sections"][0]["rows"]}
    assert "Talk to a person" in rows and rows["My card has not arrived"] == "card_arrival"
    await write("wamid.IN1", "I would like to know something about my thing")  # a retry
    tapped = whatsapp_message(
        "wamid.IN2",
        WA_ID,
        "interactive",
        type="list_reply",
        list_reply={"id": "card_arrival", "title": "My card has not arrived"},
    )
    assert (await graph.notify(hook, tapped)).status_code == 200
    await eventually(lambda: _text_with(graph, "last 4 digits"))
    await write("wamid.IN3", "9876")
    contact = await eventually(lambda: _any_contact(server))
    assert contact.queue_id == world.queues["cards"].id and contact.channel == "whatsapp"
    assert contact.context["bot"]["slots"] == {"card_last4": "9876"}
    assert contact.context["bot"]["intent"] == "card_arrival"
    await eventually(lambda: _text_with(graph, "card specialist"))
    assert all(m.payload["to"] == WA_ID for m in graph.messages)
    assert len(graph.messages) == 4  # greeting, clarification, question, hand-off: once each


async def _interactive(graph: FakeGraph) -> dict[str, Any] | None:
    found = [m.payload["interactive"] for m in graph.messages if "interactive" in m.payload]
    return found[-1] if found else None


async def _text_with(graph: FakeGraph, part: str) -> str | None:
    bodies = [m.payload.get("text", {}).get("body", "") for m in graph.messages]
    return next((b for b in bodies if part in b), None)


async def _any_contact(server: Running) -> Contact | None:
    async with server.ctx.db.sessions() as db:
        found: Contact | None = await db.scalar(select(Contact))
        return found


async def test_a_customer_who_leaves_is_ended_by_the_durable_deadline_not_deflected(
    server: Running, world: World, bot_widget: str, kb: WordMatchArticles
) -> None:
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "How do I change my PIN?")
        helped = (await _frames_until(visitor, _has_choices))[-1]
    thread_id = helped["thread_id"]
    async with server.ctx.db.sessions() as db:
        conversation = await db.scalar(select(BotConversation))
        assert conversation is not None and not conversation.done
        timer = await db.scalar(
            select(Timer).where(
                Timer.kind == BOT_DEADLINE, Timer.fired_at.is_(None), Timer.cancelled.is_(False)
            )
        )
        assert timer is not None and timer.ref_id == conversation.id
        assert timer.due_at > utcnow() + timedelta(minutes=1)  # she has time to answer
    async with server.ctx.uow() as uow:  # ... but she is gone: the deadline comes now
        await uow.session.execute(update(Timer).where(Timer.id == timer.id).values(due_at=utcnow()))
    server.ctx.timers.wake()
    outcome = await eventually(lambda: _outcome(server))
    assert outcome.outcome == "ended" and outcome.reason == "no_reply"
    assert outcome.thread_id == thread_id
    assert await count(server, BotOutcome, BotOutcome.outcome == "deflected") == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Olá, quero falar com uma pessoa", "Vou passá-lo a um colega"),
        ("Хочу поговорить с оператором", "Передаю вас коллеге"),
        ("Θέλω να μιλήσω με εκπρόσωπο", "Σας συνδέω με έναν συνάδελφο"),
    ],
)
async def test_a_person_at_once_in_the_customers_language_over_sms(
    server: Running, world: World, twilio: FakeTwilio, text: str, said: str
) -> None:
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
    assert (await twilio.post_signed(hook, _sms("SM-9", text))).status_code == 200
    contact = await eventually(lambda: _any_contact(server))
    assert contact.context["bot"]["reason"] == "customer_asked"
    assert contact.queue_id == world.queues["general"].id
    [reply] = await eventually(lambda: _sent(twilio, 1))
    assert reply.startswith(said)


async def test_a_bot_taken_off_before_it_answers_leaves_the_customer_to_a_person(
    server: Running, world: World, bot_widget: str
) -> None:
    await server.ctx.consumers.stop()  # the message waits in the log meanwhile
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "How do I change my PIN?")
        await asyncio.sleep(0.3)
    admin = await login(server, "admin@example.com")
    try:
        patched = await admin.patch(f"/api/v1/endpoints/{world.widget.id}", json={"settings": {}})
        assert patched.status_code == 200 and "bot" not in patched.json()["settings"]
    finally:
        await admin.aclose()
    await server.ctx.consumers.start()
    contact = await eventually(lambda: _any_contact(server))
    assert contact.queue_id == world.queues["general"].id and contact.context == {}
    assert await count(server, BotConversation) == 0


async def test_the_real_knowledge_base_answers_and_its_article_is_counted(
    server: Running, world: World, bot_widget: str
) -> None:
    await load_demo_articles(server.ctx, world.org_id, None)  # the demo bank's help articles
    session = await _session(server, bot_widget)
    url = f"{server.ws_url}/api/v1/widget/{bot_widget}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await _say(visitor, "m-1", "How do I change my PIN?")
        said = await _frames_until(visitor, _has_choices)
        answer = said[-2]["body"]
        assert "/help/" in answer and "/en/articles/" in answer  # the article's link
        await _say(visitor, "m-2", _label(said[-1], "yes"))
        await _frames_until(visitor, lambda e: "Glad I could help" in e["body"])
    outcome = await eventually(lambda: _outcome(server))
    async with server.ctx.db.sessions() as db:
        article = await db.get(KbArticle, outcome.article_id)
    assert outcome.outcome == "deflected" and article is not None and "pin" in article.slug
