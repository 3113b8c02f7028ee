"""The demo bank's bot with native buttons, on SQLite and PostgreSQL: on Telegram its
choices go as an inline keyboard and a tapped button (a signed `callback_query`) answers
them, once however often Telegram retries it, and the spinner is stopped
(answerCallbackQuery); on Messenger they go as quick replies and the tapped one's payload
answers them. Each is taken to a knowledge-base answer (deflected) and to a person.

The intent model and the word-match knowledge source are test_bot.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, count, eventually
from tests.fakes.meta import (
    PAGE_ID,
    FakeGraph,
    SentMessage,
    messenger_message,
    messenger_quick_reply,
    running_fake_graph,
)
from tests.fakes.telegram import FakeTelegram, Sent, running_fake_telegram
from tests.integration.test_bot import (  # noqa: F401 - intent_models, settings: fixtures
    ARTICLES,
    WordMatchArticles,
    bot_of,
    intent_models,
    settings,
)
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.routing.models import Contact
from threadline.selfservice.bot.models import BotConversation, BotOutcome
from threadline.threads.models import ThreadEvent

PSID = "6783921054837261"
UNCLEAR = "I would like to know something about my thing"


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as fake:
        yield fake


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
async def telegram_bot(server: Running, world: World, telegram: FakeTelegram) -> None:
    body = telegram.endpoint("Support bot", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo-bank"}}
    created = await add_endpoint(server, **body)
    await do_register_telegram_webhook(server.ctx, world.org_id, created["id"])
    assert telegram.webhook_allowed_updates is not None
    assert "callback_query" in telegram.webhook_allowed_updates


async def _keyboard(telegram: FakeTelegram, n: int) -> Sent | None:
    """The n-th message sent with an inline keyboard (1 is the first)."""
    found = [m for m in telegram.messages if m.reply_markup is not None]
    return found[n - 1] if len(found) >= n else None


async def _telegram_text(telegram: FakeTelegram, part: str) -> str | None:
    return next((m.text for m in telegram.messages if part in m.text), None)


async def _outcome(server: Running, outcome: str) -> BotOutcome | None:
    async with server.ctx.db.sessions() as db:
        found: BotOutcome | None = await db.scalar(
            select(BotOutcome).where(BotOutcome.outcome == outcome)
        )
        return found


async def _contact(server: Running) -> Contact | None:
    async with server.ctx.db.sessions() as db:
        found: Contact | None = await db.scalar(select(Contact))
        return found


async def test_telegram_inline_keyboard_tapped_to_an_answer_and_to_a_person(
    server: Running,
    world: World,
    telegram: FakeTelegram,
    telegram_bot: None,
    articles: WordMatchArticles,
) -> None:
    posted = await telegram.post_update(
        telegram.private_message("How do I change my PIN?", language_code="en")
    )
    assert posted.status_code == 200, posted.text
    helped = await eventually(lambda: _keyboard(telegram, 1))
    # the answer and its question in one message, the choices as buttons under it
    assert "Change PIN" in helped.text and "Did this answer your question?" in helped.text
    assert [(b["text"], b["callback_data"]) for b in helped.buttons()] == [
        ("Yes", "yes"),
        ("No", "no"),
        ("Talk to a person", "agent"),
    ]
    tap = telegram.tap(helped, "Yes", language_code="en")
    for _ in range(2):  # Telegram retries an update it did not see acknowledged in time
        posted = await telegram.post_update(tap)
        assert posted.status_code == 200, posted.text
    outcome = await eventually(lambda: _outcome(server, "deflected"))
    assert outcome.channel == "telegram" and outcome.intent == "change_pin"
    await eventually(lambda: _telegram_text(telegram, "Glad I could help"))
    query_id = tap["callback_query"]["id"]
    assert telegram.answered == [query_id]  # the spinner stopped; the retry changed nothing
    async with server.ctx.db.sessions() as db:
        taps = list(
            await db.scalars(select(ThreadEvent).where(ThreadEvent.author_type == "customer"))
        )
    assert [e.body for e in taps] == ["How do I change my PIN?", "Yes"]
    assert taps[1].data["callback_data"] == "yes"
    assert taps[1].provider_msg_id.endswith(f":callback:{query_id}")
    assert len([m for m in telegram.messages if "Glad I could help" in m.text]) == 1

    # the next question is unclear: a keyboard of likely needs, and a person tapped
    posted = await telegram.post_update(telegram.private_message(UNCLEAR, language_code="en"))
    assert posted.status_code == 200
    clarify = await eventually(lambda: _keyboard(telegram, 2))
    labels = [b["text"] for b in clarify.buttons()]
    assert "My card has not arrived" in labels and labels[-1] == "Talk to a person"
    assert (
        await telegram.post_update(telegram.tap(clarify, "Talk to a person"))
    ).status_code == 200
    contact = await eventually(lambda: _contact(server))
    assert contact.channel == "telegram" and contact.context["bot"]["reason"] == "customer_asked"
    await eventually(lambda: _telegram_text(telegram, "passing you to a colleague"))
    assert await count(server, BotConversation) == 2
    assert len(telegram.answered) == 2


async def test_an_old_keyboard_tapped_again_is_a_message_like_any_other(
    server: Running,
    world: World,
    telegram: FakeTelegram,
    telegram_bot: None,
    articles: WordMatchArticles,
) -> None:
    """Telegram keeps old keyboards on screen: a tap on one is read for what it says now."""
    await telegram.post_update(
        telegram.private_message("How do I change my PIN?", language_code="en")
    )
    helped = await eventually(lambda: _keyboard(telegram, 1))
    await telegram.post_update(telegram.tap(helped, "Yes"))
    await eventually(lambda: _outcome(server, "deflected"))
    await telegram.post_update(telegram.tap(helped, "No"))  # the conversation was over
    # a new conversation starts, and greets
    await eventually(lambda: _two_greetings(telegram))
    assert len(telegram.answered) == 2


async def _two_greetings(telegram: FakeTelegram) -> bool:
    return sum("virtual assistant" in m.text for m in telegram.messages) == 2


@pytest.fixture
async def messenger_bot(server: Running, world: World, graph: FakeGraph) -> str:
    body = graph.endpoint("messenger", PAGE_ID, "Page", world.queues["general"].id)
    body["settings"] = {**body["settings"], "bot": {"flow": "demo-bank"}}
    await add_endpoint(server, **body)
    return f"{server.base_url}/webhooks/messenger/{PAGE_ID}"


async def _quick(graph: FakeGraph, n: int) -> SentMessage | None:
    found = [m for m in graph.messages if "quick_replies" in m.payload["message"]]
    return found[n - 1] if len(found) >= n else None


async def _messenger_text(graph: FakeGraph, part: str) -> str | None:
    texts = [str(m.payload["message"].get("text", "")) for m in graph.messages]
    return next((t for t in texts if part in t), None)


async def test_messenger_quick_replies_to_an_answer_and_to_the_cards_queue(
    server: Running, world: World, graph: FakeGraph, messenger_bot: str, articles: WordMatchArticles
) -> None:
    async def notify(payload: dict[str, Any]) -> None:
        posted = await graph.notify(messenger_bot, payload)
        assert posted.status_code == 200, posted.text

    await notify(messenger_message("m_in1", PSID, "How do I change my PIN?"))
    helped = await eventually(lambda: _quick(graph, 1))
    message = helped.payload["message"]
    assert "Did this answer your question?" in message["text"]
    assert [(q["title"], q["payload"]) for q in message["quick_replies"]] == [
        ("Yes", "yes"),
        ("No", "no"),
        ("Talk to a person", "agent"),
    ]
    tapped = messenger_quick_reply("m_in2", PSID, helped, "Yes")
    await notify(tapped)
    await notify(tapped)  # Meta retries too: the mid keeps it once
    outcome = await eventually(lambda: _outcome(server, "deflected"))
    assert outcome.channel == "messenger"
    await eventually(lambda: _messenger_text(graph, "Glad I could help"))

    await notify(messenger_message("m_in3", PSID, UNCLEAR))
    clarify = await eventually(lambda: _quick(graph, 2))
    titles = [q["title"] for q in clarify.payload["message"]["quick_replies"]]
    # Messenger's titles are at most 20 characters: a longer label is clipped, its payload
    # still names the choice
    assert titles[-1] == "Talk to a person" and all(len(t) <= 20 for t in titles)
    arrival = next(
        q for q in clarify.payload["message"]["quick_replies"] if q["payload"] == "card_arrival"
    )
    await notify(messenger_quick_reply("m_in4", PSID, clarify, arrival["title"]))
    await eventually(lambda: _messenger_text(graph, "last 4 digits"))
    await notify(messenger_message("m_in5", PSID, "9876"))
    contact = await eventually(lambda: _contact(server))
    assert contact.queue_id == world.queues["cards"].id and contact.channel == "messenger"
    assert contact.context["bot"]["intent"] == "card_arrival"
    assert contact.context["bot"]["slots"] == {"card_last4": "9876"}
    assert all(m.payload["recipient"] == {"id": PSID} for m in graph.messages)
    assert len([m for m in graph.messages if "Glad I could help" in str(m.payload)]) == 1
