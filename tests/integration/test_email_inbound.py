"""Email in, for real: the built-in SMTP server spoken to with the stdlib smtplib client,
and IMAP polling of a real dovecot; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import smtplib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.channels.test_email_corpus import MANIFEST, REALWORLD
from tests.channels.test_email_parsing import OUR_OLD_ID, fixture
from tests.conftest import World, make_world
from tests.fakes.dovecot import DOVECOT, Dovecot, running_dovecot
from threadline.attachments import AttachmentStore
from threadline.channels.email.imap_poller import ImapPoller
from threadline.channels.email.parsing import parse_email
from threadline.channels.email.service import EmailInbound, EmailOptions, start_email_inbound
from threadline.channels.email.threading import build_message
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.models import Customer, Identity
from threadline.errors import Invalid
from threadline.routing.models import Contact
from threadline.threads.models import Thread, ThreadEvent

MAILBOX = "support@testbank.example"


@dataclass
class Mail:
    ctx: Context
    world: World
    endpoint: Endpoint
    inbound: EmailInbound
    store: AttachmentStore

    def send(self, raw: bytes, *, sender: str = "someone@example.com", to: str = MAILBOX) -> None:
        raw = re.sub(rb"\r?\n", b"\r\n", raw)  # the wire form (smtplib does this only for str)
        with smtplib.SMTP("127.0.0.1", self.inbound.smtp_port or 0, timeout=10) as client:
            client.sendmail(sender, [to], raw)

    async def asend(self, raw: bytes, **kwargs: str) -> None:
        await asyncio.to_thread(self.send, raw, **kwargs)

    async def count(self, model: type, *where: object) -> int:
        async with self.ctx.db.sessions() as session:
            query = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
            return int(await session.scalar(query) or 0)

    async def messages(self) -> list[ThreadEvent]:
        async with self.ctx.db.sessions() as session:
            query = select(ThreadEvent).where(
                ThreadEvent.org_id == self.world.org_id, ThreadEvent.kind != "queued"
            )
            return list(await session.scalars(query.order_by(ThreadEvent.id)))

    def our_message_id(self, thread_id: str) -> str:
        return self.inbound.receiver.message_ids.new(thread_id, "testbank.example")


async def add_mailbox(
    ctx: Context,
    world: World,
    key: str = MAILBOX,
    *,
    settings: dict[str, Any] | None = None,
    secret: str | None = None,
) -> Endpoint:
    async with ctx.uow() as uow:
        endpoint = Endpoint(
            org_id=world.org_id,
            channel="email",
            key=key,
            name="Support mailbox",
            queue_id=world.queues["general"].id,
            settings=settings or {},
            secret=secret,
        )
        uow.session.add(endpoint)
    return endpoint


@pytest.fixture
async def mail(ctx: Context, tmp_path: Path) -> AsyncIterator[Mail]:
    world = await make_world(ctx)
    endpoint = await add_mailbox(ctx, world)
    options = EmailOptions(
        smtp_port=0, attachments_dir=tmp_path / "attachments", max_message_bytes=200_000
    )
    inbound = await start_email_inbound(ctx, options)
    try:
        yield Mail(ctx, world, endpoint, inbound, AttachmentStore(options.attachments_dir))
    finally:
        await inbound.stop()


def with_our_id(name: str, our_id: str) -> bytes:
    return fixture(name).replace(OUR_OLD_ID.encode(), our_id.encode())


async def test_an_email_opens_a_contact_in_the_customers_thread(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"), sender="joao.silva@example.pt")
    [event] = await mail.messages()
    assert (event.kind, event.channel, event.author_type) == ("message", "email", "customer")
    assert event.body is not None and event.body.startswith("Bom dia,")
    assert event.data["subject"] == "Cartão bloqueado — preciso de ajuda"
    assert event.provider_msg_id == (
        "<CAF7k2x9=plain.pt.0001@mail.example.pt> joao.silva@example.pt"
    )
    assert event.author_name == "João Silva"
    assert await mail.count(Contact, Contact.thread_id == event.thread_id) == 1
    assert (
        await mail.count(
            Identity, Identity.kind == "email", Identity.value == "joao.silva@example.pt"
        )
        == 1
    )
    assert mail.inbound.receiver.stats["message"] == 1


async def test_plus_addressing_and_case_find_the_mailbox(mail: Mail) -> None:
    await mail.asend(fixture("koi8r_plain.eml"), to="Support+Cards@TestBank.example")
    [event] = await mail.messages()
    assert event.data["subject"] == "Перевод не дошёл"


async def test_attachments_are_kept_on_disk(mail: Mail) -> None:
    await mail.asend(fixture("attachment.eml"))
    [event] = await mail.messages()
    pdf, png = event.data["attachments"]
    assert pdf["filename"] == "απόδειξη.pdf"
    assert (await mail.store.get(pdf["sha256"])).startswith(b"%PDF-1.4")
    assert mail.store.exists(png["sha256"])
    assert mail.store.exists(event.data["html"]["sha256"])


async def test_a_reply_to_our_message_lands_in_the_same_thread(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"))
    [first] = await mail.messages()
    our_id = mail.our_message_id(first.thread_id)
    # the customer replies (their client keeps our id in In-Reply-To and References)
    await mail.asend(with_our_id("gmail_reply.eml", our_id))
    # ... and a colleague they forwarded our answer to replies from another address
    ours = build_message(
        from_address=MAILBOX,
        to_address="joao.silva@example.pt",
        subject="Cartão",
        text="Desbloqueado.",
        message_id=our_id,
        date=datetime.now(UTC),
    )
    forwarded = (
        "From: Ana <ana@other.example>\r\nTo: support@testbank.example\r\n"
        f"Subject: Re: {ours['Subject']}\r\nMessage-ID: <{uuid.uuid4()}@other.example>\r\n"
        f"In-Reply-To: {our_id}\r\nReferences: {our_id}\r\n\r\nAlso for my card, please.\r\n"
    ).encode()
    await mail.asend(forwarded, sender="ana@other.example")

    first, reply, colleague = await mail.messages()
    assert first.thread_id == reply.thread_id == colleague.thread_id
    assert reply.body == "Obrigado, já funciona!"
    assert "from_other_address" not in reply.data
    assert colleague.data["from_other_address"] is True
    assert colleague.data["from"] == "ana@other.example"
    assert await mail.count(Customer, Customer.org_id == mail.world.org_id) == 1
    assert await mail.count(Identity, Identity.value == "ana@other.example") == 0
    assert await mail.count(Contact, Contact.thread_id == first.thread_id) == 1


async def test_a_forged_thread_reference_does_not_cross_threads(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"))
    [first] = await mail.messages()
    forged = mail.our_message_id(first.thread_id)[:-25] + "x" * 8 + "@testbank.example>"
    raw = (
        "From: mallory@evil.example\r\nTo: support@testbank.example\r\nSubject: Re: hi\r\n"
        f"Message-ID: <m1@evil.example>\r\nIn-Reply-To: {forged}\r\n\r\nhello\r\n"
    ).encode()
    await mail.asend(raw)
    _, other = await mail.messages()
    assert other.thread_id != first.thread_id


async def test_unknown_recipient_is_refused_with_550(mail: Mail) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await mail.asend(fixture("plain_pt.eml"), to="nobody@testbank.example")
    [(code, _)] = refused.value.recipients.values()
    assert code == 550
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await mail.asend(fixture("plain_pt.eml"), to="victim@elsewhere.example")  # no relay
    assert await mail.messages() == []
    assert mail.inbound.receiver.stats["rejected_recipient"] == 2


async def test_a_message_over_the_size_limit_is_refused_with_552(mail: Mail) -> None:
    raw = fixture("plain_pt.eml") + (b"x" * 70 + b"\r\n") * 4000
    with pytest.raises(smtplib.SMTPException) as refused:
        await mail.asend(raw)
    assert getattr(refused.value, "smtp_code", None) == 552
    assert await mail.messages() == []


async def test_auto_replies_and_bounces_open_no_contact(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"))
    [first] = await mail.messages()
    our_id = mail.our_message_id(first.thread_id)
    await mail.asend(with_our_id("auto_reply_ru.eml", our_id), sender="olga@example.ru")
    await mail.asend(with_our_id("dsn_bounce.eml", our_id), sender="")  # MAIL FROM:<>
    await mail.asend(fixture("mailing_list.eml"))
    await mail.asend(fixture("auto_reply_ru.eml"))  # refers to no thread of ours

    events = await mail.messages()
    assert [e.kind for e in events] == ["message", "status", "status"]
    _, auto_reply, bounce = events
    assert {auto_reply.thread_id, bounce.thread_id} == {first.thread_id}
    assert auto_reply.author_type == bounce.author_type == "system"
    assert auto_reply.data["email"] == "auto_reply"
    assert bounce.data["bounce"]["original_message_id"] == our_id
    assert bounce.data["bounce"]["recipients"][0]["address"] == "nobody@example.net"
    assert bounce.body is not None and "nobody@example.net (5.1.1" in bounce.body
    assert await mail.count(Contact) == 1
    assert await mail.count(Customer, Customer.org_id == mail.world.org_id) == 1
    stats = mail.inbound.receiver.stats
    assert (stats["auto_reply"], stats["bounce"], stats["list"]) == (2, 1, 1)


async def test_mail_from_the_null_sender_opens_no_contact(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"), sender="")  # MAIL FROM:<> (RFC 3834)
    assert await mail.messages() == []
    assert await mail.count(Customer) == 0
    assert mail.inbound.receiver.stats["auto_reply"] == 1


async def test_bounce_handlers_hear_about_failed_sends(mail: Mail) -> None:
    heard = []

    async def on_bounce(endpoint: Endpoint, bounce: object) -> None:
        heard.append((endpoint.id, bounce))

    mail.inbound.receiver.bounce_handlers.append(on_bounce)
    await mail.asend(fixture("dsn_bounce.eml"), sender="")
    [(endpoint_id, bounce)] = heard
    assert endpoint_id == mail.endpoint.id
    assert bounce.original_message_id == OUR_OLD_ID  # type: ignore[attr-defined]


async def test_the_same_message_id_twice_is_stored_once(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"))
    await mail.asend(fixture("plain_pt.eml"))
    await asyncio.gather(*(mail.asend(fixture("html_only.eml")) for _ in range(3)))
    events = await mail.messages()
    assert len(events) == 2
    assert mail.inbound.receiver.stats["duplicate"] == 3


async def test_our_own_message_coming_back_is_dropped(mail: Mail) -> None:
    await mail.asend(fixture("plain_pt.eml"))
    [first] = await mail.messages()
    ours = build_message(
        from_address=MAILBOX,
        to_address=MAILBOX,
        text="loop",
        message_id=mail.our_message_id(first.thread_id),
        date=datetime.now(UTC),
    )
    await mail.asend(ours.as_bytes(), sender=MAILBOX)
    assert len(await mail.messages()) == 1
    assert mail.inbound.receiver.stats["own"] == 1


async def test_mail_without_from_is_the_envelope_senders(mail: Mail) -> None:
    no_from = b"To: support@testbank.example\r\nSubject: who?\r\n\r\nhi\r\n"
    await mail.asend(no_from, sender="Ana@Example.com")  # MAIL FROM
    [event] = await mail.messages()
    assert event.data["from"] == "ana@example.com"
    assert event.data["from_source"] == "envelope"
    assert await mail.count(Identity, Identity.value == "ana@example.com") == 1
    # what the IMAP poller hands over: the headers only (Return-Path, Sender)
    receiver, endpoint = mail.inbound.receiver, mail.endpoint
    imap = b"Return-Path: <rui@example.com>\r\nSubject: who?\r\n\r\nola\r\n"
    assert (await receiver.receive(endpoint, imap)).created
    assert await mail.count(Identity, Identity.value == "rui@example.com") == 1


async def test_a_message_without_any_sender_is_refused_permanently(mail: Mail) -> None:
    with pytest.raises(Invalid, match="no sender"):  # IMAP: no From, Sender nor Return-Path
        await mail.inbound.receiver.receive(mail.endpoint, b"Subject: who?\r\n\r\nhi\r\n")
    assert await mail.messages() == []


async def test_lines_longer_than_998_bytes_are_accepted(mail: Mail) -> None:
    # Outlook and web mailers send HTML on one line; RFC 5321's limit refused it with 500
    line = "<p>" + "Cartão bloqueado. " * 600 + "</p>"
    raw = (
        "From: joao.silva@example.pt\r\nSubject: long\r\n"
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{line}\r\n"
    ).encode()
    assert len(line.encode()) > 10_000
    await mail.asend(raw, sender="joao.silva@example.pt")
    [event] = await mail.messages()
    assert event.body is not None and event.body.count("Cartão bloqueado.") == 600


async def test_another_sender_reusing_a_message_id_is_stored(mail: Mail) -> None:
    def sent_by(address: str, text: str) -> bytes:
        return (
            f"From: {address}\r\nSubject: hi\r\nMessage-ID: <1234@localhost>\r\n\r\n{text}\r\n"
        ).encode()

    await mail.asend(sent_by("ana@example.com", "from Ana"))
    await mail.asend(sent_by("rui@example.net", "from Rui"))  # a careless client's id
    await mail.asend(sent_by("ana@example.com", "from Ana"))  # a redelivery of Ana's
    events = await mail.messages()
    assert sorted(e.body or "" for e in events) == ["from Ana", "from Rui"]
    assert len({e.thread_id for e in events}) == 2
    assert mail.inbound.receiver.stats["duplicate"] == 1


@pytest.mark.parametrize("address", ['"john doe"@example.com', '"a@b"@example.com'])
async def test_a_quoted_local_part_is_a_customer(mail: Mail, address: str) -> None:
    raw = f"From: John <{address}>\r\nSubject: hi\r\n\r\nhello\r\n".encode()
    await mail.asend(raw, sender=address)
    [event] = await mail.messages()
    assert event.data["from"] == address
    assert await mail.count(Identity, Identity.kind == "email", Identity.value == address) == 1


# --- the real-world corpus (tests/channels/fixtures/email/realworld) -------------------------


async def test_the_realworld_corpus_through_the_smtp_server(mail: Mail) -> None:
    """Every message of the corpus sent to our SMTP server (by a relay: the envelope sender
    says nothing), then the held-out ones through the receiver as the IMAP poller calls it:
    people open contacts, reports and robots never do."""
    expected: dict[str, str] = {}
    for entry in MANIFEST["messages"]:
        raw = (REALWORLD / entry["file"]).read_bytes()
        await mail.asend(raw, sender="relay@example.org")
        expected[entry["file"]] = entry["classification"]
    for entry in MANIFEST["heldout"]:
        raw = (REALWORLD / "heldout" / entry["file"]).read_bytes()
        receipt = await mail.inbound.receiver.receive(mail.endpoint, raw)
        if "known_gap" not in entry:
            assert receipt.classification == entry["classification"], entry["file"]
    # people's messages open contacts, stored once per (Message-ID, sender); a known gap of
    # the classifier (a report taken for a person) is counted as what it does today
    people = [
        parse_email((REALWORLD / e["file"]).read_bytes())
        for e in MANIFEST["messages"]
        if e["classification"] == "message" or "known_gap" in e  # a report taken for a person
    ] + [
        parse_email((REALWORLD / "heldout" / e["file"]).read_bytes())
        for e in MANIFEST["heldout"]
        if e["classification"] == "message"
    ]
    events = await mail.messages()
    assert {e.data["from"] for e in events} == {p.message.identity_value for p in people}
    assert len(events) == len({p.message.provider_msg_id for p in people})
    assert await mail.count(Contact) == len({p.message.identity_value for p in people})
    stats = mail.inbound.receiver.stats
    assert stats["complaint"] == 2
    reports = [e for e in MANIFEST["messages"] if e["classification"] == "bounce"]
    assert stats["bounce"] >= len(reports) - sum("known_gap" in e for e in reports)


# --- IMAP ------------------------------------------------------------------------------------


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        pytest.skip("dovecot-imapd is not installed (scripts/ensure-services.sh installs it)")
    with running_dovecot() as server:
        yield server


def imap_settings(server: Dovecot) -> dict[str, Any]:
    return {
        "settings": {
            "imap": {
                "host": server.host,
                "port": server.port,
                "username": server.user,
                "ssl": False,
            }
        },
        "secret": server.password,
    }


async def test_imap_poller_fetches_new_mail_once_and_marks_it_seen(
    ctx: Context, tmp_path: Path, dovecot: Dovecot
) -> None:
    world = await make_world(ctx)
    endpoint = await add_mailbox(ctx, world, **imap_settings(dovecot))
    inbound = await start_email_inbound(ctx, EmailOptions(attachments_dir=tmp_path))
    poller = ImapPoller(inbound.receiver, interval_s=1, timeout_s=10)
    old = await asyncio.to_thread(dovecot.append, fixture("mailing_list.eml"), seen=True)
    first = await asyncio.to_thread(dovecot.append, fixture("plain_pt.eml"))
    second = await asyncio.to_thread(dovecot.append, fixture("attachment.eml"))

    assert await poller.poll(endpoint) == 2  # the first time: only the unseen ones
    assert "\\Seen" in await asyncio.to_thread(dovecot.flags, first)
    assert "\\Seen" in await asyncio.to_thread(dovecot.flags, second)
    assert endpoint.settings["imap_state"]["last_uid"] == second > old
    assert await poller.poll(endpoint) == 0

    async with ctx.db.sessions() as session:
        stored = await session.get(Endpoint, endpoint.id)
        assert stored is not None and stored.settings["imap_state"]["last_uid"] == second
        events = list(
            await session.scalars(
                select(ThreadEvent).where(ThreadEvent.kind == "message").order_by(ThreadEvent.id)
            )
        )
        assert [e.data["subject"] for e in events] == [
            "Cartão bloqueado — preciso de ajuda",
            "Πρόβλημα με τη μεταφορά",
        ]
        assert await session.scalar(select(func.count()).select_from(Contact)) == 2

    # a reply to our message and a bounce arrive later
    thread_id = events[0].thread_id
    our_id = inbound.receiver.message_ids.new(thread_id, "testbank.example")
    await asyncio.to_thread(dovecot.append, with_our_id("gmail_reply.eml", our_id))
    await asyncio.to_thread(dovecot.append, with_our_id("dsn_bounce.eml", our_id))
    await asyncio.to_thread(dovecot.append, fixture("plain_pt.eml"))  # the same message again
    assert await poller.poll(endpoint) == 3
    async with ctx.db.sessions() as session:
        kinds = list(
            await session.scalars(
                select(ThreadEvent.kind)
                .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind != "queued")
                .order_by(ThreadEvent.seq)
            )
        )
        assert kinds == ["message", "message", "status"]
        assert await session.scalar(select(func.count()).select_from(Contact)) == 2
        assert await session.scalar(select(func.count()).select_from(Thread)) == 2
    await inbound.stop()


async def test_imap_polling_runs_in_the_background_and_survives_a_bad_mailbox(
    ctx: Context, tmp_path: Path, dovecot: Dovecot
) -> None:
    world = await make_world(ctx)
    await add_mailbox(ctx, world, **imap_settings(dovecot))
    wrong = imap_settings(dovecot) | {"secret": "wrong password"}
    await add_mailbox(ctx, world, key="sales@testbank.example", **wrong)
    options = EmailOptions(attachments_dir=tmp_path, imap_poll_s=0.2, imap_timeout_s=5)
    inbound = await start_email_inbound(ctx, options)
    try:
        await asyncio.to_thread(dovecot.append, fixture("koi8r_plain.eml"))
        stored = 0
        # dovecot answers a wrong password only after its failure delay, so the good
        # mailbox's message may be stored before the bad mailbox's error is counted
        for _ in range(150):
            async with ctx.db.sessions() as session:
                query = select(func.count()).where(ThreadEvent.kind == "message")
                stored = await session.scalar(query) or 0
            if stored and inbound.receiver.stats["imap_errors"] >= 1:
                break
            await asyncio.sleep(0.1)
        assert stored, "the poller stored nothing"
        assert inbound.receiver.stats["imap_errors"] >= 1  # the mailbox with a wrong password
    finally:
        await inbound.stop()


async def test_imap_mail_without_from_is_the_return_paths(
    ctx: Context, tmp_path: Path, dovecot: Dovecot
) -> None:
    world = await make_world(ctx)
    endpoint = await add_mailbox(ctx, world, **imap_settings(dovecot))
    inbound = await start_email_inbound(ctx, EmailOptions(attachments_dir=tmp_path))
    poller = ImapPoller(inbound.receiver, interval_s=1, timeout_s=10)
    raw = (
        b"Return-Path: <Ana@Example.com>\r\nTo: support@testbank.example\r\n"
        b"Subject: sent by a script\r\nMessage-ID: <script.1@example.com>\r\n\r\nhello\r\n"
    )
    await asyncio.to_thread(dovecot.append, raw)
    assert await poller.poll(endpoint) == 1
    async with ctx.db.sessions() as session:
        [event] = list(
            await session.scalars(select(ThreadEvent).where(ThreadEvent.kind == "message"))
        )
    assert (event.data["from"], event.data["from_source"]) == ("ana@example.com", "return-path")
    await inbound.stop()
