"""The flow engine as the IVR (journey 5 on the phone), through the signed voice webhooks
with the fake Twilio, on SQLite and PostgreSQL: a number whose `settings.bot` names the demo
bank's flow greets the caller and asks what they need; said aloud, a PIN question gets the
knowledge base's answer, and "yes" ends the call deflected (counted); by keys, an unclear
need is clarified, the card's last digits are typed, and the call is handed to the Cards
queue with the transcript, intent and slots, then connected to the agent who accepts it,
whose desktop shows the bot's card; "0" or asking for a person hands off at once in the
caller's language; an incident in force is said first; a retried webhook does not advance
the flow twice (also while the answer is being looked up); an answer that does not come
within the webhook's budget takes the flow's no-answer path; silence asks again, and a
hang-up ends the flow, not deflected.

The intent model is a real one (test_bot's: BANKING77's examples of ten intents); the
knowledge base is the real one, with the demo bank's articles."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from tests.conftest import Running, World, count, eventually, login
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_bot import intent_models
from tests.integration.test_voice import (
    CALLER,
    IVR,
    NUMBER,
    contact_of,
    dialled,
    offered,
    query,
    said,
    twiml,
    url,
    voice_endpoint,
)
from threadline.channels.voice.twilio_voice import client_identity
from threadline.config import Settings
from threadline.selfservice.bot import voice as voice_flows
from threadline.selfservice.bot.knowledge import KnowledgeAnswer
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.selfservice.bot.services import BotRuntime
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.selfservice.knowledge.models import KbArticle
from threadline.threads.models import Thread, ThreadEvent

__all__ = ["intent_models"]  # a fixture, imported for pytest

FLOW = {"flow": "demo_bank"}
# the language question before the flow, for callers whose language is not known
LANGUAGES: dict[str, Any] = {
    "languages": [
        {"digit": "1", "code": "en", "say": "en-GB", "label": "For English, press 1."},
        {"digit": "2", "code": "pt", "say": "pt-PT", "label": "Para português, prima 2."},
        {"digit": "3", "code": "ru", "say": "ru-RU", "label": "По-русски нажмите 3."},
        {"digit": "4", "code": "el", "say": "el-GR", "label": "Για ελληνικά, πατήστε 4."},
    ],
    "greeting": {"en": "Welcome to Test Bank."},
    "hold": {"poll_s": 1, "announce_every_s": 5, "per_caller_s": 90},
}


@pytest.fixture
def settings(settings: Settings, intent_models: Path) -> Settings:
    return settings.model_copy(update={"intent_models_dir": intent_models})


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def flow_number(
    server: Running, world: World, twilio: FakeTwilio, ivr: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The number, its IVR the demo bank's flow, saved by the admin through the API."""
    body = voice_endpoint(world, twilio, bot=FLOW)
    if ivr is None:
        del body["settings"]["ivr"]
    else:
        body["settings"]["ivr"] = ivr
    admin = await login(server, "admin@example.com")
    try:
        created = await admin.post("/api/v1/endpoints", json=body)
    finally:
        await admin.aclose()
    assert created.status_code == 201, created.text
    assert created.json()["settings"]["bot"] == FLOW
    return dict(created.json())


def flow_gather(root: ET.Element) -> tuple[str, ET.Element]:
    """The flow's question: its action (the next turn) and the Gather."""
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root, encoding="unicode")
    assert gather.get("input") == "dtmf speech"
    action = gather.get("action") or ""
    assert query(action)["step"] == "flow"
    assert root.findtext("Redirect") == action  # silence comes back to the same turn
    return action, gather


def key_for(root: ET.Element, label: str) -> str:
    """The key the flow says to press for a choice ("For <label>, press <n>.")."""
    text = " ".join(said(root))
    marker = f"For {label}, press "
    assert marker in text, text
    return text.split(marker, 1)[1][0]


async def answer(
    twilio: FakeTwilio, action: str, sid: str, caller: str = CALLER, **given: str
) -> ET.Element:
    return twiml(await twilio.call_webhook(action, sid, caller, NUMBER, **given))


async def test_saving_a_flow_on_a_number(server: Running, world: World, twilio: FakeTwilio) -> None:
    admin = await login(server, "admin@example.com")
    try:
        unknown = voice_endpoint(world, twilio, bot={"flow": "no-such-flow"})
        refused = await admin.post("/api/v1/endpoints", json=unknown)
        assert refused.status_code == 422 and "no-such-flow" in refused.text
        neither = voice_endpoint(world, twilio)
        del neither["settings"]["ivr"]
        refused = await admin.post("/api/v1/endpoints", json=neither)
        assert refused.status_code == 422 and "settings.ivr" in refused.text
        # a number with a flow: the menu is optional, and needs no options
        created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio))
        assert created.status_code == 201, created.text
        patch = {"settings": {**created.json()["settings"], "ivr": LANGUAGES, "bot": FLOW}}
        patched = await admin.patch(f"/api/v1/endpoints/{created.json()['id']}", json=patch)
        assert patched.status_code == 200, patched.text
        assert patched.json()["settings"]["bot"] == FLOW
    finally:
        await admin.aclose()


async def test_a_pin_question_said_aloud_is_answered_and_the_call_counts_deflected(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await load_demo_articles(server.ctx, world.org_id, None)
    await flow_number(server, world, twilio)
    first = twiml(await twilio.call_webhook(url(server), "CA-F1", CALLER, NUMBER, "ringing"))
    again = twiml(await twilio.call_webhook(url(server), "CA-F1", CALLER, NUMBER, "ringing"))
    assert ET.tostring(again) == ET.tostring(first)  # a retried call: the same start, once
    action, gather = flow_gather(first)
    assert query(action)["turn"] == "1"
    assert said(first)[0].startswith("Hello, I am Demo Bank's virtual assistant")
    assert said(first)[-1] == "How can I help you today?"
    assert gather.get("language") == "en-US"

    asked = {"SpeechResult": "How do I change my PIN?", "Confidence": "0.91"}
    helped = await answer(twilio, action, "CA-F1", **asked)
    retried = await answer(twilio, action, "CA-F1", **asked)  # the provider retries
    assert ET.tostring(retried) == ET.tostring(helped)
    next_action, gather = flow_gather(helped)
    assert query(next_action)["turn"] == "4"  # asked, classified, answered
    assert gather.get("numDigits") == "1"
    text = " ".join(said(helped))
    assert "PIN" in text and "/help/" in text  # the article, and its link
    assert text.endswith("For Yes, press 1. For No, press 2. For Talk to a person, press 0.")
    async with server.ctx.db.sessions() as db:
        conversation = await db.scalar(select(BotConversation))
        assert conversation is not None and conversation.channel == "voice"
        assert conversation.turn == 4 and not conversation.done
    assert await count(server, BotConversation) == 1

    bye = await answer(twilio, next_action, "CA-F1", SpeechResult="Yes, thanks.")
    assert said(bye) == ["Glad I could help. Goodbye!"]
    assert bye.find("Hangup") is not None
    status = await twilio.call_webhook(
        url(server, "/status"), "CA-F1", CALLER, NUMBER, "completed", CallDuration="40"
    )
    assert status.status_code == 200
    async with server.ctx.db.sessions() as db:
        [outcome] = (await db.scalars(select(BotOutcome))).all()
        assert (outcome.outcome, outcome.channel, outcome.intent) == (
            "deflected",
            "voice",
            "change_pin",
        )
        article = await db.get(KbArticle, outcome.article_id)
        assert article is not None and "pin" in article.slug
        thread = await db.get_one(Thread, outcome.thread_id)
        assert thread.status == "resolved"
        turns = (
            await db.scalars(
                select(ThreadEvent)
                .where(ThreadEvent.kind == "ivr", ThreadEvent.thread_id == thread.id)
                .order_by(ThreadEvent.seq)
            )
        ).all()
    assert [t.data["turn"] for t in turns] == [1, 4, 5]  # each turn played once
    assert turns[1].data["heard"]["value"] == "How do I change my PIN?"
    assert all(t.author_type == "bot" and t.channel == "voice" for t in turns)
    nikos = await login(server, "nikos@example.com")
    try:
        rows = (await nikos.get("/api/v1/bot/outcomes")).json()
    finally:
        await nikos.aclose()
    assert rows == [
        {"outcome": "deflected", "intent": "change_pin", "article_id": article.id, "count": 1}
    ]


async def test_by_keys_the_call_is_clarified_handed_off_and_connected_with_context(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await flow_number(server, world, twilio, LANGUAGES)
    root = twiml(await twilio.call_webhook(url(server), "CA-F2", CALLER, NUMBER, "ringing"))
    assert said(root)[0] == "Welcome to Test Bank."  # the caller is new: the language first
    language = root.find("Gather").get("action") or ""  # type: ignore[union-attr]
    assert query(language)["step"] == "language"
    root = await answer(twilio, language, "CA-F2", Digits="1")
    action, _ = flow_gather(root)
    root = await answer(twilio, action, "CA-F2", Digits="5")  # no words: not understood
    action, gather = flow_gather(root)
    assert "I am not sure I understood" in " ".join(said(root))
    assert gather.get("numDigits") == "1"
    # the card's question, whichever way the likeliest intents put it
    label, intent = next(
        (label, intent)
        for label, intent in (
            ("My card has not arrived", "card_arrival"),
            ("When will my card arrive?", "card_delivery_estimate"),
        )
        if f"For {label}," in " ".join(said(root))
    )
    pressed = key_for(root, label)
    root = await answer(twilio, action, "CA-F2", Digits=pressed)
    action, gather = flow_gather(root)
    assert said(root) == ["What are the last 4 digits of your card?"]
    assert gather.get("finishOnKey") == "#"
    hold = await answer(twilio, action, "CA-F2", Digits="4321")
    [announcement] = said(hold)
    assert announcement.startswith("Thank you. A card specialist will take it from here.")
    assert "number 1 in the queue" in announcement
    assert query(hold.findtext("Redirect") or "")["contact"]

    contact = await contact_of(server, "CA-F2")
    assert contact.queue_id == world.queues["cards"].id and contact.reason == intent
    assert contact.context["lang"] == "en" and contact.context["call_sid"] == "CA-F2"
    bot = contact.context["bot"]
    assert bot["intent"] == intent and bot["slots"] == {"card_last4": "4321"}
    assert bot["reason"] == "card_arrival" and bot["queue"] == "Cards"
    assert [e["text"] for e in bot["entries"] if e["by"] == "customer"] == [
        "5",
        pressed,
        "4321",
    ]

    rui = await login(server, "rui@example.com")
    try:
        assert (
            await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
        ).is_success
        [offer] = await offered(rui)
        assert offer["contact_id"] == contact.id
        assert (await rui.post(f"/api/v1/offers/{offer['id']}/accept")).status_code == 200
        connect = await eventually(lambda: dialled(twilio, "CA-F2"))
        assert connect.findtext("Dial/Client") == client_identity(world.agents["rui"].id)
        card = (await rui.get(f"/api/v1/threads/{contact.thread_id}/bot")).json()
    finally:
        await rui.aclose()
    assert card["contact_id"] == contact.id and card["intent"] == intent
    assert card["slots"] == {"card_last4": "4321"} and card["queue"] == "Cards"
    assert card["transcript"][0]["by"] == "bot"  # the greeting
    async with server.ctx.db.sessions() as db:
        outcome = await db.scalar(select(BotOutcome))
    assert outcome is not None and outcome.outcome == "handed_off"
    assert outcome.contact_id == contact.id and outcome.channel == "voice"


@pytest.mark.parametrize(
    ("digit", "voice", "given", "handoff"),
    [
        ("2", "pt-PT", {"Digits": "0"}, "Vou passá-lo a um colega"),
        ("3", "ru-RU", {"Digits": "0"}, "Передаю вас коллеге"),
        ("4", "el-GR", {"Digits": "0"}, "Σας συνδέω με έναν συνάδελφο"),
        ("2", "pt-PT", {"SpeechResult": "Quero falar com uma pessoa."}, "Vou passá-lo"),
        ("3", "ru-RU", {"SpeechResult": "Соедините с оператором"}, "Передаю вас коллеге"),
        ("4", "el-GR", {"SpeechResult": "Θέλω να μιλήσω με έναν άνθρωπο"}, "Σας συνδέω"),
    ],
)
async def test_a_person_at_any_step_in_the_callers_language(
    server: Running,
    world: World,
    twilio: FakeTwilio,
    digit: str,
    voice: str,
    given: dict[str, str],
    handoff: str,
) -> None:
    await flow_number(server, world, twilio, LANGUAGES)
    root = twiml(await twilio.call_webhook(url(server), "CA-F3", CALLER, NUMBER, "ringing"))
    language = root.find("Gather").get("action") or ""  # type: ignore[union-attr]
    root = await answer(twilio, language, "CA-F3", Digits=digit)
    action, gather = flow_gather(root)
    assert gather.get("language") == voice  # the flow speaks, and listens, in their language
    if "Digits" in given:  # a step further: the question about the card's digits
        root = await answer(twilio, action, "CA-F3", Digits="7")
        action, _ = flow_gather(root)
        choices = root.find("Gather")
        assert choices is not None and choices.get("numDigits") == "1"
    hold = await answer(twilio, action, "CA-F3", **given)
    [announcement] = said(hold)
    assert announcement.startswith(handoff)
    assert hold.find("Say").get("language") == voice  # type: ignore[union-attr]
    contact = await contact_of(server, "CA-F3")
    assert contact.context["bot"]["reason"] == "customer_asked"
    assert contact.queue_id == world.queues["general"].id  # the number's queue
    assert contact.context["lang"] == voice[:2]


async def test_the_incident_in_force_is_said_first(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    supervisor = await login(server, "nikos@example.com")
    try:
        created = await supervisor.post(
            "/api/v1/incidents",
            json={
                "title": "Card payments failing",
                "messages": {"en": "Card payments are failing since 9:00. We are fixing it."},
            },
        )
    finally:
        await supervisor.aclose()
    assert created.status_code == 201, created.text
    await flow_number(server, world, twilio)
    root = twiml(await twilio.call_webhook(url(server), "CA-F4", CALLER, NUMBER, "ringing"))
    flow_gather(root)
    assert said(root)[0] == "Card payments are failing since 9:00. We are fixing it."
    assert said(root)[1].startswith("Hello, I am Demo Bank's virtual assistant")


async def test_the_menu_keeps_working_on_numbers_without_a_flow(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio))
    finally:
        await admin.aclose()
    assert created.status_code == 201 and "bot" not in created.json()["settings"]
    assert IVR["options"]
    root = twiml(await twilio.call_webhook(url(server), "CA-F5", CALLER, NUMBER, "ringing"))
    language = root.find("Gather").get("action") or ""  # type: ignore[union-attr]
    assert query(language)["step"] == "language"
    refused = await twilio.call_webhook(
        url(server, "/ivr?step=flow&turn=1"), "CA-F5", CALLER, NUMBER
    )
    assert refused.status_code == 422
    assert await count(server, BotConversation) == 0


async def test_silence_asks_again_and_a_hang_up_ends_the_flow_not_deflected(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await flow_number(server, world, twilio)
    root = twiml(await twilio.call_webhook(url(server), "CA-F6", CALLER, NUMBER, "ringing"))
    action, _ = flow_gather(root)
    # the caller says nothing: Twilio follows the Redirect, with no Digits nor speech
    again = await answer(twilio, root.findtext("Redirect") or "", "CA-F6")
    assert said(again) == ["Sorry, I did not understand.", "How can I help you today?"]
    assert query(flow_gather(again)[0])["turn"] == "2"
    for _ in range(2):  # the status callback, retried
        ended = await twilio.call_webhook(
            url(server, "/status"), "CA-F6", CALLER, NUMBER, "completed", CallDuration="12"
        )
        assert ended.status_code == 200
    async with server.ctx.db.sessions() as db:
        [outcome] = (await db.scalars(select(BotOutcome))).all()
        conversation = await db.get_one(BotConversation, outcome.conversation_id)
    assert (outcome.outcome, outcome.reason, outcome.channel) == ("ended", "hung_up", "voice")
    assert conversation.done and conversation.outcome == "end"
    late = await answer(twilio, action, "CA-F6", Digits="0")  # a webhook after the end
    assert ET.tostring(late) == ET.tostring(again)  # changes nothing
    assert await count(server, BotOutcome) == 1


class SlowArticles:
    """A knowledge source that takes `delay_s` to find its one article."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.asked = 0

    async def answer(self, org_id: str, question: str, language: str) -> KnowledgeAnswer | None:
        self.asked += 1
        await asyncio.sleep(self.delay_s)
        return KnowledgeAnswer(article_id="kb-pin", title="PIN", text="Open the app, then PIN.")


async def test_a_webhook_retried_while_the_answer_is_looked_up_advances_nothing(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    slow = SlowArticles(3.0)
    cast(BotRuntime, server.ctx.bot).knowledge = slow
    await flow_number(server, world, twilio)
    root = twiml(await twilio.call_webhook(url(server), "CA-F7", CALLER, NUMBER, "ringing"))
    action, _ = flow_gather(root)
    asked = {"SpeechResult": "How do I change my PIN?"}
    first = asyncio.create_task(answer(twilio, action, "CA-F7", **asked))
    await asyncio.sleep(1.0)
    retried = await answer(twilio, action, "CA-F7", **asked)  # while the first one works
    assert not first.done()
    assert said(retried) == [] and retried.find("Pause") is not None  # wait a second
    later = retried.findtext("Redirect") or ""
    assert query(later)["step"] == "flow" and int(query(later)["turn"]) > 1
    helped = await first
    assert "Open the app, then PIN." in said(helped)
    again = await answer(twilio, later, "CA-F7")  # the redirect: the answer, played again
    assert ET.tostring(again) == ET.tostring(helped)
    assert slow.asked == 1


async def test_an_answer_that_does_not_come_in_time_hands_the_call_to_a_person(
    server: Running, world: World, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice_flows, "MACHINE_BUDGET_S", 1.0)  # Twilio's patience, shortened
    cast(BotRuntime, server.ctx.bot).knowledge = SlowArticles(30.0)
    await flow_number(server, world, twilio)
    root = twiml(await twilio.call_webhook(url(server), "CA-F8", CALLER, NUMBER, "ringing"))
    action, _ = flow_gather(root)
    hold = await answer(twilio, action, "CA-F8", SpeechResult="How do I change my PIN?")
    [announcement] = said(hold)
    assert announcement.startswith("I am passing you to a colleague")
    contact = await contact_of(server, "CA-F8")
    assert contact.queue_id == world.queues["general"].id
    assert contact.context["bot"]["intent"] == "change_pin"
