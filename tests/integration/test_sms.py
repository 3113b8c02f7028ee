"""SMS over Twilio-style webhooks against a fake Twilio speaking its real HTTP API: inbound
signed posts land in the customer's one thread (once per MessageSid), bad posts store
nothing, agent replies go out through the outbox exactly once, through an outage too, and
delivery reports reach the row and the desktop; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from tests.conftest import (
    WIDGET_SECRET,
    Running,
    World,
    add_endpoint,
    authed_socket,
    count,
    eventually,
    login,
    set_capacity,
)
from tests.fakes.site_backend import signed_identify
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from threadline.auth.roles import Principal
from threadline.channels.models import Endpoint, OutboxMessage
from threadline.channels.outbox import OUTBOX_SEND
from threadline.config import Settings
from threadline.customers.models import Customer, Identity
from threadline.db import utcnow
from threadline.errors import Invalid
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent
from threadline.threads.services import do_agent_message
from threadline.web.media import media_store
from threadline.workers.timers import schedule

T = TypeVar("T")
NUMBER = "+15005550006"
CUSTOMER = "+351912345678"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """Short backoffs, so that an outage and its recovery fit in a test."""
    return settings.model_copy(
        update={
            "email_attachments_dir": tmp_path / "files",
            "outbox_backoff_s": 0.1,
            "outbox_backoff_max_s": 0.3,
            "outbox_max_attempts": 50,
            "outbox_send_timeout_s": 1.0,
            "outbox_lease_s": 3.0,
        }
    )


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def sms_endpoint(twilio: FakeTwilio, queue_id: str | None = None) -> dict[str, Any]:
    """The SMS number, sending through the fake, as an admin posts it to /api/v1/endpoints."""
    return {
        "channel": "sms",
        "key": NUMBER,
        "name": "Support line",
        "queue_id": queue_id,
        "secret": AUTH_TOKEN,
        "settings": {"account_sid": ACCOUNT_SID, "api_base": twilio.base_url},
    }


@pytest.fixture
async def sms(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    """An SMS number, configured by the admin through the API, pointing at the fake."""
    created = await add_endpoint(server, **sms_endpoint(twilio, world.queues["general"].id))
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3)
    return created


def webhook_url(server: Running, suffix: str = "") -> str:
    return f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}{suffix}"


def inbound(sid: str, body: str, sender: str = CUSTOMER, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": NUMBER,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


async def outbox_row(server: Running, **conditions: Any) -> OutboxMessage | None:
    async with server.ctx.db.sessions() as db:
        row = await db.scalar(select(OutboxMessage).order_by(OutboxMessage.created_at.desc()))
    if row is None or any(getattr(row, k) != v for k, v in conditions.items()):
        return None
    return row


async def sms_thread_with_agent(
    server: Running, twilio: FakeTwilio, text: str = "my card is blocked"
) -> tuple[httpx.AsyncClient, str]:
    """A customer texts in, Rui accepts the offer: returns Rui's client and the thread."""
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    posted = await twilio.post_signed(webhook_url(server), inbound("SM-in-1", text))
    assert posted.status_code == 200, posted.text
    offers = await eventually(lambda: _offers(rui))
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return rui, offers[0]["thread_id"]


async def _offers(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    return (await client.get("/api/v1/offers")).json() or None


async def _recv_until(ws: Any, wanted: Callable[[dict[str, Any]], bool], timeout: float = 8) -> Any:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if wanted(frame):
                return frame

    return await asyncio.wait_for(_loop(), timeout)


def desk(server: Running, client: httpx.AsyncClient) -> Any:
    cookie = client.cookies.get("tl_session")
    return websockets.connect(
        f"{server.ws_url}/api/v1/stream", additional_headers={"Cookie": f"tl_session={cookie}"}
    )


async def test_inbound_sms_lands_in_the_thread_and_opens_a_contact(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    media = {"NumMedia": "1", "MediaUrl0": "https://media.example/p.jpg"}
    media["MediaContentType0"] = "image/jpeg"
    response = await twilio.post_signed(webhook_url(server), inbound("SM1", "hello", **media))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    async with server.ctx.db.sessions() as db:
        event = await db.scalar(select(ThreadEvent).where(ThreadEvent.provider_msg_id == "SM1"))
        assert event is not None and event.channel == "sms" and event.body == "hello"
        assert event.author_type == "customer"
        assert event.data["attachments"] == [
            {"url": "https://media.example/p.jpg", "content_type": "image/jpeg"}
        ]
        contact = await db.scalar(select(Contact).where(Contact.thread_id == event.thread_id))
        assert contact is not None and contact.queue_id == world.queues["general"].id
        identity = await db.scalar(select(Identity).where(Identity.kind == "phone"))
        assert identity is not None and identity.value == CUSTOMER
        assert identity.customer_id == contact.customer_id


async def test_a_provider_retry_is_stored_once(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    for _ in range(3):
        response = await twilio.post_signed(webhook_url(server), inbound("SM-dup", "once"))
        assert response.status_code == 200, response.text
    assert await count(server, ThreadEvent, ThreadEvent.provider_msg_id == "SM-dup") == 1
    assert await count(server, Contact) == 1


async def test_unsigned_forged_and_malformed_posts_store_nothing(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    url = webhook_url(server)
    params = inbound("SM-bad", "let me in")
    async with httpx.AsyncClient(timeout=10) as anyone:
        unsigned = await anyone.post(url, data=params)
        garbage = await anyone.post(url, content=b"\xff\x00", headers={"X-Twilio-Signature": "x"})
        other_url = await anyone.post(  # a signature for another URL (replayed elsewhere)
            url, data=params, headers={"X-Twilio-Signature": twilio.sign(url + "/x", params)}
        )
        tampered = await anyone.post(  # signed, then the body changed
            url,
            data={**params, "Body": "changed"},
            headers={"X-Twilio-Signature": twilio.sign(url, params)},
        )
        status_unsigned = await anyone.post(
            webhook_url(server, "/status"), data={"MessageSid": "SMx", "MessageStatus": "delivered"}
        )
    forged = await twilio.post_signed(url, params, token="not-the-auth-token")
    for response in (unsigned, garbage, other_url, tampered, forged, status_unsigned):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    no_sender = await twilio.post_signed(url, {k: v for k, v in params.items() if k != "From"})
    not_a_phone = await twilio.post_signed(url, inbound("SM-bad2", "hi", sender="nobody"))
    bad_status = await twilio.post_signed(
        webhook_url(server, "/status"), {"MessageSid": "SMx", "MessageStatus": "exploded"}
    )
    for response in (no_sender, not_a_phone, bad_status):
        assert response.status_code == 422, response.text
    unknown_number = await twilio.post_signed(
        f"{server.base_url}/webhooks/sms/twilio/%2B15005550009", params
    )
    assert unknown_number.status_code == 404
    assert await count(server, ThreadEvent) == 0
    assert await count(server, Customer) == 0


async def test_agent_reply_goes_out_once_and_delivery_is_tracked(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    async with desk(server, rui) as stream:
        for _ in range(2):  # a retried client id is one message, one send
            reply = await rui.post(
                f"/api/v1/threads/{thread_id}/messages",
                json={"body": "Unblocked it for you.", "client_msg_id": "r-1"},
            )
            assert reply.status_code == 201, reply.text
            assert reply.json()["channel"] == "sms"
        sent = await _recv_until(
            stream, lambda f: f["type"] == "delivery" and f["status"] == "sent"
        )
        assert sent["thread_id"] == thread_id and sent["event_id"] == reply.json()["id"]
        [message] = twilio.messages
        assert (message.to, message.from_, message.body) == (
            CUSTOMER,
            NUMBER,
            "Unblocked it for you.",
        )
        row = await eventually(lambda: outbox_row(server, status="sent"))
        assert row.provider_msg_id == message.sid and row.event_id == reply.json()["id"]
        report = await twilio.report(message, "delivered")
        assert report.status_code == 200, report.text
        delivered = await _recv_until(
            stream, lambda f: f["type"] == "delivery" and f["status"] == "delivered"
        )
        assert delivered["thread_id"] == thread_id
    assert await eventually(lambda: outbox_row(server, status="delivered"))
    stale = await twilio.report(message, "sent")  # late and out of order: no step back
    assert stale.status_code == 200
    await asyncio.sleep(0.5)
    assert await outbox_row(server, status="delivered")
    assert len(twilio.messages) == 1 and twilio.attempts == 1
    # the agent's timeline shows how the message did
    events = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    states = {e["id"]: e["delivery"] for e in events}
    assert states[reply.json()["id"]] == "delivered"
    assert {e["delivery"] for e in events if e["author_type"] == "customer"} == {None}
    await rui.aclose()


async def test_outage_keeps_the_message_queued_until_the_provider_returns(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    twilio.fail_with = 503
    reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Still there?"})
    assert reply.status_code == 201, reply.text
    await eventually(lambda: _retrying(server, twilio))
    assert twilio.messages == []
    twilio.fail_with = None
    row = await eventually(lambda: outbox_row(server, status="sent"))
    assert row.attempts >= 3
    await asyncio.sleep(0.8)  # a duplicate send would show by now
    assert [m.body for m in twilio.messages] == ["Still there?"]
    assert await count(server, ThreadEvent, ThreadEvent.kind == "delivery_failed") == 0
    await rui.aclose()


async def _retrying(server: Running, twilio: FakeTwilio) -> bool:
    row = await outbox_row(server, status="queued")
    return bool(row and row.attempts >= 2 and twilio.attempts >= 2)


async def test_a_refused_message_fails_on_the_timeline_and_tells_supervisors(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    nikos = await login(server, "nikos@example.com")
    twilio.fail_with = 400  # e.g. 21211: not a valid 'To' number; retrying cannot help
    async with desk(server, nikos) as supervisor:
        reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Hi"})
        assert reply.status_code == 201
        alert = await _recv_until(supervisor, lambda f: f["type"] == "delivery.failed")
        assert alert["thread_id"] == thread_id and alert["status"] == "failed"
    row = await eventually(lambda: outbox_row(server, status="failed"))
    assert row.attempts == 1 and "21211" in (row.last_error or "")
    events = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    failure = events[-1]
    assert failure["kind"] == "delivery_failed" and failure["author_type"] == "system"
    assert failure["data"]["event_id"] == reply.json()["id"]
    await rui.aclose()
    await nikos.aclose()


async def test_a_send_cut_short_by_a_crash_is_not_repeated_but_settled_by_its_report(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    """Twilio takes no idempotency key: a `sending` row whose lease ran out (its process
    died mid-call) becomes `unknown`, is never sent again, and its status callback, which
    names the outbox row, settles it."""
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    twilio.fail_with = 503
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Did it go?"})
    row = await eventually(lambda: _leave_as_crashed(server))
    twilio.fail_with = None
    unknown = await eventually(lambda: outbox_row(server, status="unknown"))
    assert unknown.id == row.id
    await asyncio.sleep(0.5)
    assert twilio.messages == []  # not sent again
    events = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    assert events[-1]["kind"] == "delivery_unknown"
    # the provider had it after all: its report finds the row by the id in the callback URL
    callback = webhook_url(server, f"/status?outbox_id={unknown.id}")
    report = await twilio.post_signed(
        callback, {"MessageSid": "SM-lost-answer", "MessageStatus": "delivered"}
    )
    assert report.status_code == 200, report.text
    settled = await eventually(lambda: outbox_row(server, status="delivered"))
    assert settled.provider_msg_id == "SM-lost-answer"
    await rui.aclose()


async def _leave_as_crashed(server: Running) -> OutboxMessage | None:
    """Turn a row waiting for its retry into what a process that died mid-send leaves: the
    row `sending` with its lease run out, and its recovery timer due (the pending retry
    timer, firing too, finds the same). Only a row that no worker holds now (still
    `queued`, under its row lock) is touched."""
    row = await outbox_row(server, status="queued")
    if row is None:
        return None
    async with server.ctx.uow() as uow:
        locked = await uow.lock(OutboxMessage, row.id)
        if locked.status != "queued":
            return None  # claimed meanwhile: try again once it is back
        locked.status, locked.attempts = "sending", locked.attempts + 1
        locked.leased_until = utcnow() - timedelta(seconds=1)
        schedule(uow.session, row.org_id, OUTBOX_SEND, row.id, locked.leased_until)
    return row


async def test_a_lost_answer_is_unknown_not_retried(
    server: Running, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    twilio.delay_s = 2.0  # longer than the send timeout: it may have sent, we cannot know
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Slow one"})
    row = await eventually(lambda: outbox_row(server, status="unknown"))
    assert row.attempts == 1
    await asyncio.sleep(1.5)
    assert twilio.attempts == 1
    await rui.aclose()


async def test_replying_by_sms_needs_a_phone(server: Running, world: World, sms: Any) -> None:
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    session = (await rui.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    async with authed_socket(
        f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", session["visitor_token"]
    ) as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "c1", "text": "hi"}))
        ack = await _recv_until(visitor, lambda f: f["type"] == "ack")
    offers = await eventually(lambda: _offers(rui))
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    refused = await rui.post(
        f"/api/v1/threads/{ack['thread_id']}/messages", json={"body": "x", "channel": "sms"}
    )
    assert refused.status_code == 409 and refused.json()["code"] == "conflict", refused.text
    nowhere = await rui.post(
        f"/api/v1/threads/{ack['thread_id']}/messages", json={"body": "x", "channel": "pigeon"}
    )
    assert nowhere.status_code == 422, nowhere.text
    assert (
        await count(
            server, ThreadEvent, ThreadEvent.author_type == "agent", ThreadEvent.kind == "message"
        )
        == 0
    )
    assert await count(server, OutboxMessage) == 0
    await rui.aclose()


async def test_one_phone_on_sms_and_chat_is_one_customer(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    texted = await twilio.post_signed(webhook_url(server), inbound("SM-x", "card question"))
    assert texted.status_code == 200
    async with server.ctx.db.sessions() as db:
        by_sms = await db.scalar(select(ThreadEvent).where(ThreadEvent.provider_msg_id == "SM-x"))
        assert by_sms is not None
    async with httpx.AsyncClient(base_url=server.base_url) as browser:
        session = (await browser.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    async with authed_socket(
        f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", session["visitor_token"]
    ) as visitor:
        await visitor.send(json.dumps(signed_identify(WIDGET_SECRET, name="Ana", phone=CUSTOMER)))
        identified = await _recv_until(visitor, lambda f: f["type"] == "identified")
        await visitor.send(json.dumps({"type": "message", "client_id": "c1", "text": "me again"}))
        ack = await _recv_until(visitor, lambda f: f["type"] == "ack")
    assert ack["thread_id"] == by_sms.thread_id  # one customer, one thread, two channels
    async with server.ctx.db.sessions() as db:
        customer_id = await db.scalar(
            select(Identity.customer_id).where(Identity.kind == "phone", Identity.value == CUSTOMER)
        )
        channels = set(
            await db.scalars(
                select(ThreadEvent.channel).where(ThreadEvent.thread_id == by_sms.thread_id)
            )
        )
    assert identified["customer_id"] == customer_id
    assert {"sms", "chat"} <= channels


async def test_endpoints_are_admin_only_and_never_show_their_secret(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    assert sms["has_secret"] is True and "secret" not in sms
    assert sms["settings"] == {
        "account_sid": ACCOUNT_SID,
        "api_base": twilio.base_url,
        "provider": "twilio",
    }
    admin = await login(server, "admin@example.com")
    listed = (await admin.get("/api/v1/endpoints")).json()
    assert {e["channel"] for e in listed} == {"chat", "sms"}
    assert AUTH_TOKEN not in json.dumps(listed) and WIDGET_SECRET not in json.dumps(listed)
    body = {"channel": "sms", "key": NUMBER, "name": "Again", "settings": sms["settings"]}
    assert (await admin.post("/api/v1/endpoints", json=body)).status_code == 409
    for wrong in (
        {**body, "key": "12345"},
        {**body, "key": "+15005550007", "settings": {}},
        {
            **body,
            "key": "+15005550007",
            "settings": {"account_sid": ACCOUNT_SID, "api_base": "ftp://x"},
        },
        {**body, "key": "+15005550007", "settings": {"account_sid": ACCOUNT_SID, "provider": "x"}},
        {**body, "channel": "pigeon"},
    ):
        response = await admin.post("/api/v1/endpoints", json=wrong)
        assert response.status_code == 422, (wrong, response.text)
    agent = await login(server, "rui@example.com")
    assert (await agent.get("/api/v1/endpoints")).status_code == 403
    assert (await agent.post("/api/v1/endpoints", json=body)).status_code == 403
    async with server.ctx.db.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Endpoint)) == 2
    await admin.aclose()
    await agent.aclose()


# ---- files (MMS) -------------------------------------------------------------------------------
# Files go with a reply: uploaded to the thread, named in the reply's `attachments`.

PNG = b"\x89PNG\r\n\x1a\n" + b"a receipt, as an image" * 10


async def queue_reply(
    server: Running, world: World, thread_id: str, body: str, files: list[dict[str, Any]]
) -> ThreadEvent:
    """Rui's reply with files, through the reply service the API calls."""
    rui = world.agents["rui"]
    principal = Principal(agent_id=rui.id, org_id=world.org_id, role="agent", name=rui.name)
    return await do_agent_message(
        server.ctx, principal, thread_id, body, None, "sms", attachments=files
    )


async def stored_file(server: Running, data: bytes, name: str, kind: str) -> dict[str, Any]:
    sha256 = await media_store(server.ctx.settings).put(data)
    return {"sha256": sha256, "filename": name, "content_type": kind, "size": len(data)}


async def test_a_reply_with_a_file_goes_as_mms_by_a_signed_link(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    receipt = await stored_file(server, PNG, "recibo março.png", "image/png")
    await queue_reply(server, world, thread_id, "Here is your receipt", [receipt])
    await eventually(lambda: outbox_row(server, status="sent"))
    [message] = twilio.messages
    assert message.body == "Here is your receipt"
    [link] = message.media_urls
    assert link.startswith(f"{server.base_url}/media/")
    async with httpx.AsyncClient(timeout=10) as provider:  # Twilio fetches the file
        fetched = await provider.get(link)
        token = link.split("/media/")[1].split("/")[0]
        forged = await provider.get(link.replace(token, token[:-4] + "AAAA"))
        unsigned = await provider.get(f"{server.base_url}/media/{receipt['sha256']}/x.png")
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    assert "recibo%20mar%C3%A7o.png" in fetched.headers["content-disposition"]
    assert forged.status_code == 404 and unsigned.status_code == 404
    await rui.aclose()


async def test_files_a_channel_cannot_send_are_refused_and_nothing_is_stored(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    png = await stored_file(server, PNG, "a.png", "image/png")
    big = await stored_file(server, b"x" * (5 * 1024 * 1024 + 1), "big.png", "image/png")
    exe = await stored_file(server, b"MZ...", "setup.exe", "application/x-msdownload")
    refused = {
        "too many": ([png] * 11, "at most 10"),
        "too big": ([big], "larger than sms's 5 MB"),
        "wrong type": ([exe], "cannot send application/x-msdownload"),
        "not ours": ([{**png, "sha256": "0" * 64}], "no such attachment"),
        "not a digest": ([{**png, "sha256": "../../etc/passwd"}], "no such attachment"),
    }
    for files, reason in refused.values():
        with pytest.raises(Invalid) as problem:
            await queue_reply(server, world, thread_id, "files", files)
        assert reason in problem.value.message
    assert await count(server, OutboxMessage) == 0
    agent_messages = (ThreadEvent.author_type == "agent", ThreadEvent.kind == "message")
    assert await count(server, ThreadEvent, *agent_messages) == 0
    await rui.aclose()


async def test_an_agent_uploads_a_file_and_sends_it_with_the_reply_api(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    rui, thread_id = await sms_thread_with_agent(server, twilio)
    uploaded = await rui.post(
        f"/api/v1/threads/{thread_id}/attachments",
        files={"file": ("statement.pdf", b"%PDF-1.7 a statement", "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    ref = uploaded.json()
    assert ref["filename"] == "statement.pdf" and ref["size"] == 20
    sent = await rui.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"body": "Your statement", "attachments": [ref], "client_msg_id": "m-file"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["data"]["attachments"][0]["sha256"] == ref["sha256"]
    await eventually(lambda: outbox_row(server, status="sent"))
    [message] = twilio.messages
    assert message.body == "Your statement" and len(message.media_urls) == 1
    # bad uploads and bad references are refused with a reason
    empty = await rui.post(
        f"/api/v1/threads/{thread_id}/attachments", files={"file": ("e.txt", b"", "text/plain")}
    )
    assert empty.status_code == 422 and "empty" in empty.text
    forged = await rui.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"attachments": [{**ref, "sha256": "../../etc/passwd"}]},
    )
    assert forged.status_code == 422
    on_chat = await rui.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"body": "x", "channel": "chat", "attachments": [ref]},
    )
    assert on_chat.status_code == 422 and "chat" in on_chat.text
    await rui.aclose()
