"""Email out, for real: a customer writes to Threadline's built-in SMTP server (stdlib
smtplib), an agent answers on the email channel through the REST API, and the reply leaves
through the outbox by SMTP to a fake relay (aiosmtpd, asking for AUTH) standing for the
customer's mail provider. The reply threads in the customer's mailbox, their answer to it
lands in the same thread, and a bounce fails the send visibly; on SQLite and PostgreSQL.
How SMTP answers (4xx, 5xx, no answer, relay down) read as retryable or not is checked in
tests/channels/test_conformance.py; what the outbox does with them, in test_sms.py."""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.channels.test_email_corpus import REALWORLD
from tests.channels.test_email_parsing import OUR_OLD_ID, fixture
from tests.conftest import Running, World, add_endpoint, login, set_capacity
from tests.fakes.http_server import free_port
from tests.fakes.smtp_relay import PASSWORD, FakeRelay, running_fake_relay
from tests.integration.test_sms import _recv_until as recv_until
from tests.integration.test_sms import count, desk, eventually
from threadline.channels.email.threading import MessageIds, email_message_id_key
from threadline.channels.models import OutboxMessage
from threadline.config import Settings
from threadline.threads.models import ThreadEvent

SUPPORT = "support@testbank.example"
CARDS = "cards@testbank.example"
CUSTOMER = "joao.silva@example.pt"
CUSTOMER_ID = "<CAF7k2x9.card.0002@mail.example.pt>"
EARLIER_ID = "<CAF7k2x9.card.0001@mail.example.pt>"  # the customer's own earlier message


def email_settings(settings: Settings, tmp_path: Any) -> Settings:
    """Threadline's own SMTP server on (on a free port), short backoffs."""
    return settings.model_copy(
        update={
            "email_smtp_port": free_port(),
            "email_attachments_dir": tmp_path / "email",
            "email_relay_timeout_s": 1.0,
            "outbox_backoff_s": 0.1,
            "outbox_backoff_max_s": 0.3,
            "outbox_max_attempts": 50,
            "outbox_send_timeout_s": 4.0,
            "outbox_lease_s": 8.0,
        }
    )


@pytest.fixture
def settings(settings: Settings, tmp_path: Any) -> Settings:
    return email_settings(settings, tmp_path)


@pytest.fixture
def relay() -> Iterator[FakeRelay]:
    with running_fake_relay() as fake:
        yield fake


@dataclass
class Mailboxes:
    server: Running
    world: World
    relay: FakeRelay

    def send(self, raw: bytes, *, sender: str = CUSTOMER, to: str = CARDS) -> None:
        raw = re.sub(rb"\r?\n", b"\r\n", raw)  # the wire form (smtplib does this only for str)
        port = self.server.ctx.settings.email_smtp_port or 0
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(sender, [to], raw)

    async def asend(self, raw: bytes, **kwargs: str) -> None:
        await asyncio.to_thread(self.send, raw, **kwargs)

    def our_ids(self) -> MessageIds:
        secret = self.server.ctx.settings.secret_key.get_secret_value()
        return MessageIds(email_message_id_key(secret))


@pytest.fixture
async def mailboxes(server: Running, world: World, relay: FakeRelay) -> Mailboxes:
    """Two mailboxes configured by the admin through the API (the first created is the
    default), both sending through the relay; Rui can take three emails."""
    for key, name in ((SUPPORT, "Support"), (CARDS, "Cards")):
        body = relay.mailbox(key, name, world.queues["general"].id, from_name=f"Test Bank {name}")
        created = await add_endpoint(server, **body)
        assert created["has_secret"] and PASSWORD not in json.dumps(created)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, email=3)
    return Mailboxes(server, world, relay)


def customer_email(
    body: str = "My card was blocked at the ATM.",
    *,
    message_id: str = CUSTOMER_ID,
    subject: str = "Cartão bloqueado",
    sender: str = f"João Silva <{CUSTOMER}>",
    to: str = CARDS,
    in_reply_to: str = EARLIER_ID,
    references: str = EARLIER_ID,
) -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"In-Reply-To: {in_reply_to}\r\nReferences: {references}\r\n"
        "Date: Mon, 02 Jun 2025 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    ).encode()


async def thread_with_agent(mail: Mailboxes) -> tuple[httpx.AsyncClient, str]:
    """The customer emails the cards mailbox, Rui accepts: Rui's client and the thread."""
    rui = await login(mail.server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    await mail.asend(customer_email())
    offers = await eventually(lambda: _offers(rui))
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return rui, offers[0]["thread_id"]


async def _offers(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    return (await client.get("/api/v1/offers")).json() or None


async def reply(rui: httpx.AsyncClient, thread_id: str, body: str) -> dict[str, Any]:
    posted = await rui.post(
        f"/api/v1/threads/{thread_id}/messages", json={"body": body, "channel": "email"}
    )
    assert posted.status_code == 201, posted.text
    return dict(posted.json())


async def row_of(server: Running, event_id: int, status: str) -> OutboxMessage | None:
    async with server.ctx.db.sessions() as db:
        row = await db.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event_id))
    return row if row is not None and row.status == status else None


async def timeline(rui: httpx.AsyncClient, thread_id: str) -> list[dict[str, Any]]:
    return list((await rui.get(f"/api/v1/threads/{thread_id}/events")).json())


async def test_reply_threads_in_the_customers_mailbox_and_their_answer_comes_back(
    mailboxes: Mailboxes,
) -> None:
    server, relay = mailboxes.server, mailboxes.relay
    rui, thread_id = await thread_with_agent(mailboxes)
    sent = await reply(rui, thread_id, "Olá João,\n\nIt is unblocked now.")
    row = await eventually(lambda: row_of(server, sent["id"], "sent"))

    [received] = relay.messages
    assert received.mail_from == CARDS  # the mailbox the customer wrote to, not the default
    assert received.rcpt_tos == [CUSTOMER]
    ours = received.message
    assert ours["From"].addresses[0].addr_spec == CARDS
    assert ours["From"].addresses[0].display_name == "Test Bank Cards"
    assert ours["To"] == CUSTOMER
    assert ours["Subject"] == "Re: Cartão bloqueado"
    assert ours["In-Reply-To"] == CUSTOMER_ID
    assert ours["References"].split() == [EARLIER_ID, CUSTOMER_ID]
    assert ours["Message-ID"] == row.provider_msg_id
    assert mailboxes.our_ids().thread_of(ours["Message-ID"]) == thread_id
    text = ours.get_body(("plain",))
    assert text is not None and "It is unblocked now." in text.get_content()

    # the customer answers our message, from their other mailbox
    answer_id = "<reply.0003@other.example.pt>"
    await mailboxes.asend(
        customer_email(
            "Thanks, it works!",
            message_id=answer_id,
            subject=f"RE: {ours['Subject']}",
            sender="João <joao@other.example.pt>",
            in_reply_to=ours["Message-ID"],
            references=f"{EARLIER_ID} {CUSTOMER_ID} {ours['Message-ID']}",
        ),
        sender="joao@other.example.pt",
    )
    # stored under (Message-ID, sender): parsing.provider_id
    answer = await eventually(lambda: _event(server, f"{answer_id} joao@other.example.pt"))
    assert answer.thread_id == thread_id
    assert answer.data["from_other_address"] is True

    # ... and the next reply threads under that answer, still to the customer's address
    second = await reply(rui, thread_id, "Glad to hear it.")
    await eventually(lambda: row_of(server, second["id"], "sent"))
    assert len(relay.messages) == 2
    again = relay.messages[1].message
    assert again["To"] == CUSTOMER
    assert again["Subject"] == "Re: Cartão bloqueado"
    assert again["In-Reply-To"] == answer_id
    assert again["References"].split() == [EARLIER_ID, CUSTOMER_ID, ours["Message-ID"], answer_id]
    assert again["Message-ID"] != ours["Message-ID"]
    assert relay.attempts == 2
    await rui.aclose()


async def _event(server: Running, provider_msg_id: str) -> ThreadEvent | None:
    async with server.ctx.db.sessions() as db:
        query = select(ThreadEvent).where(ThreadEvent.provider_msg_id == provider_msg_id)
        return await db.scalar(query)


async def test_a_bounce_for_our_message_fails_the_send(mailboxes: Mailboxes) -> None:
    server = mailboxes.server
    rui, thread_id = await thread_with_agent(mailboxes)
    nikos = await login(server, "nikos@example.com")
    sent = await reply(rui, thread_id, "Here is your new PIN letter.")
    row = await eventually(lambda: row_of(server, sent["id"], "sent"))
    assert row.provider_msg_id is not None
    # the customer's provider gives up later: a DSN to the mailbox, from the null sender
    dsn = fixture("dsn_bounce.eml").replace(OUR_OLD_ID.encode(), row.provider_msg_id.encode())
    async with desk(server, nikos) as supervisor:
        await mailboxes.asend(dsn, sender="", to=CARDS)
        alert = await recv_until(supervisor, lambda f: f["type"] == "delivery.failed")
    assert alert["outbox_id"] == row.id
    failed = await eventually(lambda: row_of(server, sent["id"], "failed"))
    assert "bounced: nobody@example.net (5.1.1" in (failed.last_error or "")
    kinds = [e["kind"] for e in await timeline(rui, thread_id)]
    assert kinds[-2:] == ["delivery_failed", "status"]  # the outbox's, then the email's note
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 2  # no contact
    await rui.aclose()
    await nikos.aclose()


async def test_mailbox_endpoints_are_checked(mailboxes: Mailboxes) -> None:
    admin = await login(mailboxes.server, "admin@example.com")
    base = {"channel": "email", "name": "x"}
    smtp = {"host": "127.0.0.1", "port": 2525}
    for wrong in (
        {**base, "key": "not-an-address"},
        {**base, "key": "Sales@TestBank.example"},  # must be given normalised
        {**base, "key": "sales@testbank.example", "settings": {"smtp": {"port": 25}}},
        {**base, "key": "sales@testbank.example", "settings": {"smtp": {**smtp, "port": "x"}}},
    ):
        response = await admin.post("/api/v1/endpoints", json=wrong)
        assert response.status_code == 422, (wrong, response.text)
    receive_only = await admin.post(
        "/api/v1/endpoints", json={**base, "key": "sales@testbank.example"}
    )
    assert receive_only.status_code == 201, receive_only.text
    created = await admin.post(
        "/api/v1/endpoints",
        json={**base, "key": "info@testbank.example", "settings": {"smtp": smtp}},
    )
    assert created.status_code == 201, created.text
    assert created.json()["settings"]["smtp"] == {
        **smtp,
        "username": None,
        "starttls": True,
        "ssl": False,
    }
    await admin.aclose()


async def test_a_plain_text_bounce_without_a_report_wrapper_fails_the_send(
    mailboxes: Mailboxes,
) -> None:
    """A real Postfix report (flufl.bounce's postfix_02) in plain text: no multipart/report,
    no recipient fields, only our Message-ID quoted in the returned headers."""
    server = mailboxes.server
    rui, thread_id = await thread_with_agent(mailboxes)
    sent = await reply(rui, thread_id, "Here is your new PIN letter.")
    row = await eventually(lambda: row_of(server, sent["id"], "sent"))
    assert row.provider_msg_id is not None
    original = b"<14915.64162.965657.699956@anthem.concentric.net>"
    report = (REALWORLD / "flufl-postfix_02.eml").read_bytes()
    assert original in report
    await mailboxes.asend(report.replace(original, row.provider_msg_id.encode()), sender="")
    failed = await eventually(lambda: row_of(server, sent["id"], "failed"))
    assert (failed.last_error or "").startswith("bounced: ")
    kinds = [e["kind"] for e in await timeline(rui, thread_id)]
    assert kinds[-2:] == ["delivery_failed", "status"]
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 2  # no contact
    await rui.aclose()


async def test_a_spam_complaint_stops_email_to_the_customer(mailboxes: Mailboxes) -> None:
    """A mailbox provider's ARF report (flanker's Yahoo sample, pointed at our message; the
    recipient it names is not our customer's address, as when a provider redacts it): a
    status note in the thread, the address we wrote to marked, and no further email."""
    server = mailboxes.server
    rui, thread_id = await thread_with_agent(mailboxes)
    sent = await reply(rui, thread_id, "Would you like our new credit card?")
    row = await eventually(lambda: row_of(server, sent["id"], "sent"))
    assert row.provider_msg_id is not None
    report = (
        (REALWORLD / "flanker-complaint-yahoo.eml")
        .read_bytes()
        .replace(b"<20120711015015.4A8BE2E088E@www.example.com>", row.provider_msg_id.encode())
    )
    await mailboxes.asend(report, sender="feedback@arf.mail.yahoo.com")
    note = (await eventually(lambda: _last_status(rui, thread_id)))["data"]
    assert note["email"] == "complaint"
    assert note["complaint"]["recipients"] == ["user@yahoo.com"]
    refused = await rui.post(
        f"/api/v1/threads/{thread_id}/messages", json={"body": "Hello?", "channel": "email"}
    )
    assert refused.status_code == 409, refused.text
    assert "spam" in refused.text
    assert len(mailboxes.relay.messages) == 1  # only the message complained about
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 2  # no contact
    await rui.aclose()


async def _last_status(rui: httpx.AsyncClient, thread_id: str) -> dict[str, Any] | None:
    events = await timeline(rui, thread_id)
    return events[-1] if events and events[-1]["kind"] == "status" else None
