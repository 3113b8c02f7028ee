"""A customer's media on WhatsApp, Messenger, Telegram and SMS (MMS) is fetched from the
provider (the fakes serve it as each provider does) once, kept with the thread's files and
served to staff by the files route with its type; a retried webhook fetches nothing again;
a provider refusing the media leaves the entry with its reference only, stored once; the
credentials go only to the provider's own host; erasing the customer removes the files.
On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, events_of, login, set_capacity
from tests.fakes.meta import (
    PAGE_ID,
    PHONE_NUMBER_ID,
    FakeGraph,
    messenger_event,
    running_fake_graph,
    whatsapp_message,
)
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram, running_fake_telegram
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_sms import inbound as sms_inbound
from tests.integration.test_sms import sms_endpoint
from tests.integration.test_sms import webhook_url as sms_webhook_url
from tests.integration.test_thread_files import PNG, _png
from threadline.channels.provider_media import (
    MediaUnavailable,
    PinnedUrl,
    fetch_bounded,
    refuse_private,
)
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.threads.models import ThreadEvent
from threadline.web.media import media_store

WA_ID = "351912345678"
PSID = "6483920145327781"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)) * 8 + b"\xff\xd9"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"email_attachments_dir": tmp_path / "files"})


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as fake:
        yield fake


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def _channel(
    server: Running, world: World, body: dict[str, Any], queued: bool = True, **capacity: int
) -> dict[str, Any]:
    queue_id = world.queues["general"].id if queued else None
    created = await add_endpoint(server, **{**body, "queue_id": queue_id})
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, **capacity)
    return created


async def _the_message(server: Running, channel: str) -> ThreadEvent:
    [event] = await events_of(server, ThreadEvent.kind == "message", ThreadEvent.channel == channel)
    return event


async def _served_as_kept(server: Running, event: ThreadEvent, data: bytes, kind: str) -> str:
    """The entry names the kept file, and the files route serves its bytes with its type
    to an agent of the organisation. Returns the digest."""
    [kept] = event.data["attachments"]
    assert kept["content_type"] == kind and kept["size"] == len(data)
    assert media_store(server.ctx.settings).exists(kept["sha256"])
    rui = await login(server, "rui@example.com")
    timeline = (await rui.get(f"/api/v1/threads/{event.thread_id}/events")).json()
    [shown] = [e for e in timeline if e["id"] == event.id]
    assert shown["data"]["attachments"][0]["sha256"] == kept["sha256"]
    served = await rui.get(f"/api/v1/threads/{event.thread_id}/files/{kept['sha256']}")
    await rui.aclose()
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == kind
    assert served.headers["content-disposition"].startswith("inline;")
    return str(kept["sha256"])


async def test_a_whatsapp_image_is_kept_fetched_once_and_erased_with_the_customer(
    server: Running, world: World, graph: FakeGraph
) -> None:
    # a number with no queue: no conversation to resolve before the erasure below
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WA")
    await _channel(server, world, body, queued=False, whatsapp=3)
    media_id = graph.add_media(PNG, "image/png")
    note = whatsapp_message(
        "wamid.IMG1", WA_ID, "image", id=media_id, mime_type="image/png", sha256="bWV0YQ=="
    )
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"
    for _ in range(2):  # Meta's retry: stored once, fetched once
        assert (await graph.notify(hook, note)).status_code == 200
    assert (graph.media_lookups, graph.media_fetches) == (1, 1)
    event = await _the_message(server, "whatsapp")
    digest = await _served_as_kept(server, event, PNG, "image/png")
    [kept] = event.data["attachments"]
    assert kept["media_id"] == media_id and kept["provider_sha256"] == "bWV0YQ=="  # Meta's
    assert kept["filename"] == "image.png"

    # erasing the customer removes the kept file with the rest of what they sent
    async with server.ctx.db.sessions() as db:
        customer = await db.scalar(select(Customer).where(Customer.org_id == world.org_id))
    assert customer is not None
    admin = await login(server, "admin@example.com")
    erase = f"/api/v1/customers/{customer.id}/erase"
    erased = await admin.post(erase, json={"confirm": customer.id})
    assert erased.status_code == 200, erased.text
    assert not media_store(server.ctx.settings).exists(digest)
    gone = await admin.get(f"/api/v1/threads/{event.thread_id}/files/{digest}")
    assert gone.status_code == 404
    await admin.aclose()


async def test_whatsapp_media_meta_will_not_hand_over_keeps_its_id_only(
    server: Running, world: World, graph: FakeGraph
) -> None:
    await _channel(server, world, graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WA"), whatsapp=3)
    media_id = graph.add_media(PNG, "image/png")
    graph.media_fail_with = 404
    note = whatsapp_message("wamid.IMG2", WA_ID, "image", id=media_id, mime_type="image/png")
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"
    for _ in range(2):
        assert (await graph.notify(hook, note)).status_code == 200
    assert graph.media_fetches == 1  # the retry found the message stored: no second try
    event = await _the_message(server, "whatsapp")
    assert event.data["attachments"] == [
        {"type": "image", "media_id": media_id, "mime_type": "image/png"}
    ]


async def test_a_messenger_image_is_kept_from_its_cdn_url_once(
    server: Running, world: World, graph: FakeGraph
) -> None:
    await _channel(server, world, graph.endpoint("messenger", PAGE_ID, "Page"), messenger=3)
    url = graph.cdn_url(JPEG, "image/jpeg")

    def note(mid: str, attachment_url: str) -> dict[str, Any]:
        attachment = {"type": "image", "payload": {"url": attachment_url}}
        return messenger_event(
            {
                "sender": {"id": PSID},
                "recipient": {"id": PAGE_ID},
                "timestamp": 1760000000000,
                "message": {"mid": mid, "attachments": [attachment]},
            }
        )

    hook = f"{server.base_url}/webhooks/messenger/{PAGE_ID}"
    for _ in range(2):
        assert (await graph.notify(hook, note("m_img", url))).status_code == 200
    assert graph.media_fetches == 1
    await _served_as_kept(server, await _the_message(server, "messenger"), JPEG, "image/jpeg")

    # refused by the CDN: the entry keeps the URL only, once
    graph.media_fail_with = 403
    refused = graph.cdn_url(PNG, "image/png")
    for _ in range(2):
        assert (await graph.notify(hook, note("m_img2", refused))).status_code == 200
    assert graph.media_fetches == 2
    [second] = await events_of(server, ThreadEvent.provider_msg_id == "m_img2")
    assert second.data["attachments"] == [{"type": "image", "url": refused}]


async def test_refuse_private_allows_only_https_to_public_addresses() -> None:
    for url in (
        "http://example.com/a.jpg",  # not https
        "https://127.0.0.1/a.jpg",
        "https://10.1.2.3/a.jpg",
        "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "https://[::1]/a.jpg",
        "https://localhost/a.jpg",
    ):
        with pytest.raises(MediaUnavailable):
            await refuse_private(url)
    # a public address (no DNS needed): fetched at the address checked, named as given
    pinned = await refuse_private("https://93.184.215.14:8443/a.jpg?oh=1")
    assert pinned.url == "https://93.184.215.14:8443/a.jpg?oh=1"
    assert (pinned.host, pinned.hostname) == ("93.184.215.14:8443", "93.184.215.14")


async def test_a_telegram_photo_keeps_its_largest_size_under_the_cap_once(
    server: Running, world: World, telegram: FakeTelegram
) -> None:
    bot = await _channel(server, world, telegram.endpoint("Bot"), telegram=3)
    await do_register_telegram_webhook(server.ctx, world.org_id, bot["id"])
    small, medium, large = _png(32, 24), _png(320, 240), _png(640, 480)
    photo = telegram.photo((small, 32, 24), (medium, 320, 240), (large, 640, 480))
    photo[-1]["file_size"] = 25 * 1024 * 1024  # the largest is over the Bot API's 20 MB
    update = telegram.private_message(None, photo=photo, caption="my card")
    hook = f"{server.base_url}/webhooks/telegram/{BOT_USERNAME}"
    for _ in range(2):
        assert (await telegram.post_update(update, hook)).status_code == 200
    assert (telegram.file_lookups, telegram.file_fetches) == (1, 1)
    event = await _the_message(server, "telegram")
    # Telegram calls its photos JPEG: the fake's bytes are a PNG, served as what was said
    [kept] = event.data["attachments"]
    assert kept["file_id"] == photo[1]["file_id"] and kept["kind"] == "photo"
    assert kept["content_type"] == "image/jpeg" and kept["size"] == len(medium)
    assert await media_store(server.ctx.settings).get(kept["sha256"]) == medium
    assert telegram.token not in json.dumps(event.data)

    # a file_id Telegram no longer knows: the reference stays, the message is stored once
    telegram.files_fail_with = 400
    document = {"file_id": telegram.add_file(PNG, "documents/scan.png"), "file_name": "scan.png"}
    update = telegram.private_message(None, document={**document, "mime_type": "image/png"})
    for _ in range(2):
        assert (await telegram.post_update(update, hook)).status_code == 200
    assert telegram.file_lookups == 2
    [_, second] = await events_of(
        server, ThreadEvent.channel == "telegram", ThreadEvent.kind == "message"
    )
    assert "sha256" not in second.data["attachments"][0]
    assert second.data["attachments"][0]["file_id"] == document["file_id"]


async def test_an_mms_picture_is_kept_with_the_accounts_credentials_once(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await _channel(server, world, sms_endpoint(twilio), sms=3)
    media_url = twilio.add_media(PNG, "image/png", "MM1")
    params = sms_inbound(
        "MM1", "my receipt", NumMedia="1", MediaUrl0=media_url, MediaContentType0="image/png"
    )
    for _ in range(2):
        assert (await twilio.post_signed(sms_webhook_url(server), params)).status_code == 200
    assert twilio.media_fetches == 1
    event = await _the_message(server, "sms")
    await _served_as_kept(server, event, PNG, "image/png")
    assert event.data["attachments"][0]["url"] == media_url  # the provider's link stays

    # refused by Twilio, or not on the account's host: the link only, stored once
    twilio.media_fail_with = 404
    refused = twilio.add_media(PNG, "image/png", "MM2")
    elsewhere = "https://media.example/p.jpg"  # gets no credentials: not even tried
    params = sms_inbound(
        "MM2",
        "again",
        NumMedia="2",
        MediaUrl0=refused,
        MediaContentType0="image/png",
        MediaUrl1=elsewhere,
        MediaContentType1="image/jpeg",
    )
    for _ in range(2):
        assert (await twilio.post_signed(sms_webhook_url(server), params)).status_code == 200
    assert twilio.media_fetches == 2
    [second] = await events_of(server, ThreadEvent.provider_msg_id == "MM2")
    assert second.data["attachments"] == [
        {"url": refused, "content_type": "image/png"},
        {"url": elsewhere, "content_type": "image/jpeg"},
    ]


async def test_a_pinned_fetch_goes_to_the_address_checked_naming_the_host(
    graph: FakeGraph,
) -> None:
    url = graph.cdn_url(JPEG, "image/jpeg")
    pinned = PinnedUrl(url, "scontent.xx.fbcdn.net", "scontent.xx.fbcdn.net")
    async with httpx.AsyncClient() as http:
        data, kind = await fetch_bounded(http, "https://scontent.xx.fbcdn.net/x", pinned=pinned)
        assert (data, kind) == (JPEG, "image/jpeg")
        with pytest.raises(MediaUnavailable, match="too big"):
            await fetch_bounded(http, url, max_bytes=len(JPEG) - 1)
    assert graph.media_fetches == 2
