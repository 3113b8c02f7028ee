"""Telegram over the Bot API against a fake Telegram speaking its real HTTP API: the bot's
webhook is registered with a secret token, private messages land in the customer's one
thread (once per message, edits as new entries), forged and malformed posts store nothing,
agent replies go out through the outbox exactly once, flood control (429 retry_after) is
waited out, and the bot token never shows in logs or API answers; on SQLite and
PostgreSQL. How the Bot API's errors read (outage, blocked bot, lost answer) is checked in
tests/channels/test_conformance.py."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, count, eventually, login, set_capacity
from tests.fakes.telegram import BOT_TOKEN, BOT_USERNAME, FakeTelegram, running_fake_telegram
from threadline.channels.models import OutboxMessage
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.config import Settings
from threadline.customers.models import Customer, Identity
from threadline.errors import Conflict
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

T = TypeVar("T")
USER_ID = 424242


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short backoffs, so that an outage and its recovery fit in a test."""
    return settings.model_copy(
        update={
            "outbox_backoff_s": 0.1,
            "outbox_backoff_max_s": 0.3,
            "outbox_max_attempts": 50,
            "outbox_send_timeout_s": 1.0,
            "outbox_lease_s": 3.0,
        }
    )


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as fake:
        yield fake


@pytest.fixture
async def bot(server: Running, world: World, telegram: FakeTelegram) -> dict[str, Any]:
    """A bot configured by the admin through the API, its webhook registered with the fake
    Telegram; Rui may take Telegram conversations."""
    created = await add_endpoint(
        server, **telegram.endpoint("Support bot", world.queues["general"].id)
    )
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, telegram=3)
    url = await do_register_telegram_webhook(server.ctx, world.org_id, created["id"])
    assert url == f"{server.base_url}/webhooks/telegram/{BOT_USERNAME}"
    return created


def webhook_url(server: Running, key: str = BOT_USERNAME) -> str:
    return f"{server.base_url}/webhooks/telegram/{key}"


async def outbox_row(server: Running, **conditions: Any) -> OutboxMessage | None:
    async with server.ctx.db.sessions() as db:
        row = await db.scalar(select(OutboxMessage).order_by(OutboxMessage.created_at.desc()))
    if row is None or any(getattr(row, k) != v for k, v in conditions.items()):
        return None
    return row


async def _offers(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    return (await client.get("/api/v1/offers")).json() or None


async def telegram_thread_with_agent(
    server: Running, telegram: FakeTelegram
) -> tuple[httpx.AsyncClient, str]:
    """A customer writes to the bot, Rui accepts the offer: Rui's client and the thread."""
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    posted = await telegram.post_update(telegram.private_message("my card is blocked"))
    assert posted.status_code == 200, posted.text
    offers = await eventually(lambda: _offers(rui))
    assert offers[0]["channel"] == "telegram"
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return rui, offers[0]["thread_id"]


async def test_the_webhook_is_registered_with_a_secret_token(
    server: Running, world: World, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    assert telegram.webhook_url == webhook_url(server)
    secret = telegram.webhook_secret or ""
    assert len(secret) == 64 and BOT_TOKEN not in secret
    assert telegram.webhook_allowed_updates == ["message", "edited_message", "callback_query"]
    telegram.token = "7012345678:AnotherTokenTheBotNowHas"  # ours was revoked
    with pytest.raises(Conflict) as refused:
        await do_register_telegram_webhook(server.ctx, world.org_id, bot["id"])
    assert "401" in refused.value.message and BOT_TOKEN not in refused.value.message


async def test_a_private_message_lands_in_the_thread_and_opens_a_contact(
    server: Running, world: World, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    update = telegram.private_message("Olá, o meu cartão", message_id=7)
    response = await telegram.post_update(update)
    assert response.status_code == 200, response.text
    async with server.ctx.db.sessions() as db:
        event = await db.scalar(select(ThreadEvent).where(ThreadEvent.kind == "message"))
        assert event is not None and event.body == "Olá, o meu cartão"
        assert event.author_type == "customer" and event.author_name == "Ana Silva"
        assert event.provider_msg_id == f"{BOT_USERNAME}:{USER_ID}:7"
        assert event.data["endpoint_id"] == bot["id"]
        assert event.data["username"] == "ana_s"
        assert event.data["update_id"] == update["update_id"]
        contact = await db.scalar(select(Contact).where(Contact.thread_id == event.thread_id))
        assert contact is not None and contact.queue_id == world.queues["general"].id
        assert contact.channel == "telegram" and contact.language == "pt"
        identity = await db.scalar(select(Identity).where(Identity.kind == "telegram"))
        assert identity is not None and identity.value == str(USER_ID)
        customer = await db.get(Customer, identity.customer_id)
        assert customer is not None and customer.id == contact.customer_id
        assert customer.name == "Ana Silva" and customer.language == "pt"


async def test_media_and_start_links_are_kept_in_the_event_data(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960},
    ]
    voice = {"file_id": "v1", "file_unique_id": "vu", "duration": 3, "mime_type": "audio/ogg"}
    updates = [
        telegram.private_message("/start c0ntinue-Code_1"),
        telegram.private_message(None, photo=photo, caption="the receipt"),
        telegram.private_message(None, voice=voice),
    ]
    for update in updates:
        assert (await telegram.post_update(update)).status_code == 200
    async with server.ctx.db.sessions() as db:
        events = list(
            await db.scalars(
                select(ThreadEvent)
                .where(ThreadEvent.channel == "telegram", ThreadEvent.kind == "message")
                .order_by(ThreadEvent.seq)
            )
        )
    start, receipt, note = events
    assert start.body == "/start c0ntinue-Code_1"
    assert start.data["start_payload"] == "c0ntinue-Code_1"
    assert receipt.body == "the receipt" and "start_payload" not in receipt.data
    assert receipt.data["attachments"] == [
        {"kind": "photo", "file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960}
    ]
    assert note.body == "" and note.data["attachments"] == [{"kind": "voice", **voice}]


async def test_a_retried_update_is_stored_once_and_an_edit_is_an_edit_of_the_original(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    update = telegram.private_message("once", message_id=11)
    for _ in range(3):
        response = await telegram.post_update(update)
        assert response.status_code == 200, response.text
    edit = telegram.edited(update, "once, edited", edit_date=1_700_000_100)
    for _ in range(2):
        assert (await telegram.post_update(edit)).status_code == 200
    messages = (ThreadEvent.channel == "telegram", ThreadEvent.kind == "message")
    assert await count(server, ThreadEvent, *messages) == 1
    assert await count(server, Contact) == 1
    async with server.ctx.db.sessions() as db:
        original = await db.scalar(select(ThreadEvent).where(ThreadEvent.body == "once"))
        edited = await db.scalar(select(ThreadEvent).where(ThreadEvent.body == "once, edited"))
    assert original is not None and edited is not None
    assert edited.kind == "edit" and edited.author_type == "customer"
    assert edited.data["relates_to"] == {
        "provider_msg_id": f"{BOT_USERNAME}:{USER_ID}:11",
        "event_id": original.id,
        "seq": original.seq,
    }
    assert edited.provider_msg_id == f"{BOT_USERNAME}:{USER_ID}:11:edit:1700000100"


async def test_forged_malformed_and_foreign_updates_store_nothing(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    update = telegram.private_message("let me in")
    for secret in ("", "wrong-secret", BOT_TOKEN):
        forged = await telegram.post_update(update, secret=secret)
        assert forged.status_code == 403, forged.text
        assert forged.json()["code"] == "forbidden"
    unknown_bot = await telegram.post_update(update, webhook_url(server, "other_bot"))
    assert unknown_bot.status_code == 404
    group = telegram.private_message("hi all")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fans"}
    no_chat = telegram.private_message("x")
    del no_chat["message"]["chat"]
    no_sender = telegram.private_message("x")
    del no_sender["message"]["from"]
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"update_id": "1"}', b"null"):
        malformed = await telegram.post_update(None, content=body)
        assert malformed.status_code == 422, (body, malformed.text)
    bad_place = telegram.private_message(None, location={"latitude": "north", "longitude": 0})
    ignored = [
        group,
        {"update_id": 1, "callback_query": {"id": "1", "from": {"id": 1, "first_name": "A"}}},
        {"update_id": 2, "channel_post": {"message_id": 1, "chat": {"id": -1, "type": "channel"}}},
        telegram.private_message(None, poll={"id": "1", "question": "?", "options": []}),
        # Updates whose message cannot be read: logged and acknowledged, never retried
        no_chat,
        no_sender,
        bad_place,
    ]
    for well_formed in ignored:  # acknowledged, or Telegram would retry them for a day
        response = await telegram.post_update(well_formed)
        assert response.status_code == 200, response.text
    assert await count(server, ThreadEvent) == 0
    assert await count(server, Customer) == 0


async def test_an_agent_reply_reaches_telegram_exactly_once(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    rui, thread_id = await telegram_thread_with_agent(server, telegram)
    reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Unblocked!"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["channel"] == "telegram"
    row = await eventually(lambda: outbox_row(server, status="sent"))
    assert row.address == str(USER_ID)
    await asyncio.sleep(0.5)
    assert [(m.chat_id, m.text) for m in telegram.messages] == [(USER_ID, "Unblocked!")]
    assert telegram.attempts == 1
    assert row.provider_msg_id == f"{USER_ID}:{telegram.messages[0].message_id}"
    await rui.aclose()


async def test_flood_control_waits_as_long_as_telegram_asks(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    """A 429 with `parameters.retry_after`: the next attempt comes no sooner, though our own
    backoff (0.1-0.3 s here) would have tried again at once; then it goes, once."""
    rui, thread_id = await telegram_thread_with_agent(server, telegram)
    telegram.fail_with, telegram.retry_after = 429, 2
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Still there?"})
    await eventually(lambda: _attempted(telegram, 1))
    telegram.fail_with = None
    row = await eventually(lambda: outbox_row(server, status="sent"))
    assert row.attempts == 2
    first, second = telegram.attempted_at
    assert second - first >= 2.0
    await asyncio.sleep(0.3)
    assert [m.text for m in telegram.messages] == ["Still there?"]
    await rui.aclose()


async def _attempted(telegram: FakeTelegram, times: int) -> bool:
    return telegram.attempts >= times


async def test_the_bot_token_never_shows_in_logs_or_answers(
    server: Running,
    telegram: FakeTelegram,
    bot: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    rui, thread_id = await telegram_thread_with_agent(server, telegram)
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "first"})
    await eventually(lambda: outbox_row(server, status="sent"))
    telegram.fail_with = 500
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "second"})
    await eventually(lambda: outbox_row(server, status="queued"))
    telegram.fail_with = None
    await eventually(lambda: outbox_row(server, status="sent"))
    assert "/bot<bot-token>/sendMessage" in caplog.text  # httpx logged the call, redacted
    assert BOT_TOKEN not in caplog.text
    assert BOT_TOKEN.split(":")[1] not in caplog.text + capsys.readouterr().out
    admin = await login(server, "admin@example.com")
    listed = (await admin.get("/api/v1/endpoints", params={"channel": "telegram"})).json()
    assert listed[0]["has_secret"] is True and listed[0]["settings"] == bot["settings"]
    events = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    for answer in (listed, events, bot):
        assert BOT_TOKEN.split(":")[1] not in json.dumps(answer)
    await rui.aclose()
    await admin.aclose()


async def test_telegram_endpoints_are_checked(
    server: Running, world: World, telegram: FakeTelegram
) -> None:
    admin = await login(server, "admin@example.com")
    body = {"channel": "telegram", "key": BOT_USERNAME, "name": "Bot", "secret": BOT_TOKEN}
    for wrong in (
        {**body, "key": "not_a_b0t"},
        {**body, "key": "x"},
        {**body, "settings": {"api_base": "ftp://api.telegram.org"}},
        {**body, "settings": {"api_base": f"https://api.telegram.org/bot{BOT_TOKEN}"}},
        {**body, "settings": {"token": BOT_TOKEN}},
    ):
        response = await admin.post("/api/v1/endpoints", json=wrong)
        assert response.status_code == 422, (wrong, response.text)
        assert BOT_TOKEN not in response.text
    created = await admin.post("/api/v1/endpoints", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["settings"] == {"api_base": "https://api.telegram.org"}
    await admin.aclose()


# ---- updates as Telegram really sends them (tests/channels/fixtures/telegram) --------------

FIXTURES = Path(__file__).parents[1] / "channels" / "fixtures" / "telegram"


def recorded(name: str) -> dict[str, Any]:
    update: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return update


async def test_locations_venues_and_contacts_are_stored_as_what_they_are(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    names = ("message_with_location", "message_with_venue", "message_with_contact")
    for name in names:
        for _ in range(2):  # a retried update is stored once
            response = await telegram.post_update(recorded(name))
            assert response.status_code == 200, (name, response.text)
    async with server.ctx.db.sessions() as db:
        located, venue, contact = list(
            await db.scalars(
                select(ThreadEvent).where(ThreadEvent.kind == "message").order_by(ThreadEvent.id)
            )
        )
        customer = await db.scalar(select(Customer))
    assert located.data["location"] == {"latitude": 55.693416, "longitude": 37.624605}
    assert venue.data["location"] == {
        "latitude": 38.710832,
        "longitude": -9.136742,
        "name": "Praça do Comércio",
        "address": "Praça do Comércio, 1100-148 Lisboa",
    }
    assert contact.data["contacts"] == [
        {
            "name": "Rui Costa",
            "phones": [{"phone": "+351912345678"}],
            "emails": [],
            "telegram_user_id": 87654321,
        }
    ]
    assert {e.body for e in (located, venue, contact)} == {""}
    # the name Telegram gives (first and last name) names the customer
    assert customer is not None and customer.name == "Name"
    assert located.author_name == "Name"


async def test_the_telegram_name_names_a_customer_who_has_none(
    server: Running, telegram: FakeTelegram, bot: dict[str, Any]
) -> None:
    assert (await telegram.post_update(recorded("message"))).status_code == 200
    async with server.ctx.db.sessions() as db:
        customer = await db.scalar(select(Customer))
    assert customer is not None and customer.name == "FirstName LastName"
