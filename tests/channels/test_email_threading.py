"""Outbound MIME threading and our signed Message-IDs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

from hypothesis import given
from hypothesis import strategies as st

from threadline.channels.contract import EndpointConfig, OutboundMessage
from threadline.channels.email.adapter import EmailAdapter
from threadline.channels.email.parsing import parse_email
from threadline.channels.email.threading import (
    MAX_REFERENCES,
    MessageIds,
    OutgoingAttachment,
    build_message,
    email_message_id_key,
    reply_references,
    reply_subject,
    text_to_html,
)

IDS = MessageIds(email_message_id_key("test-secret"))
THREAD = str(uuid.uuid4())
NOW = datetime(2025, 11, 3, 10, 12, 5, tzinfo=UTC)


def test_message_ids_carry_the_thread_and_are_unique() -> None:
    first, second = IDS.new(THREAD, "testbank.example"), IDS.new(THREAD, "testbank.example")
    assert first != second
    assert first.startswith(f"<tl.{uuid.UUID(THREAD).hex}.") and first.endswith(
        "@testbank.example>"
    )
    assert IDS.thread_of(first) == THREAD == IDS.thread_of(second)


def test_a_retried_send_keeps_its_message_id() -> None:
    first = IDS.new(THREAD, "testbank.example", send_key="outbox-row-1")
    assert first == IDS.new(THREAD, "testbank.example", send_key="outbox-row-1")
    assert first != IDS.new(THREAD, "testbank.example", send_key="outbox-row-2")
    assert IDS.thread_of(first) == THREAD


def test_only_our_key_makes_a_valid_id() -> None:
    mine = IDS.new(THREAD, "testbank.example")
    other_install = MessageIds(email_message_id_key("another-secret"))
    assert other_install.thread_of(mine) is None
    forged = mine.replace(uuid.UUID(THREAD).hex, uuid.uuid4().hex)  # somebody else's thread
    assert IDS.thread_of(forged) is None
    assert IDS.thread_of("<CAF7k2x9=plain.pt.0001@mail.example.pt>") is None
    assert IDS.thread_of(None) is None and IDS.thread_of("") is None


def test_the_domain_is_not_signed_and_case_does_not_matter() -> None:
    mine = IDS.new(THREAD, "testbank.example")
    assert IDS.thread_of(mine.replace("testbank.example", "alias.example")) == THREAD
    assert IDS.thread_of(mine.upper()) == THREAD


def test_answered_thread_takes_the_first_of_ours() -> None:
    mine = IDS.new(THREAD, "testbank.example")
    assert IDS.answered_thread(["<a@b>", mine, IDS.new(str(uuid.uuid4()), "x")]) == THREAD
    assert IDS.answered_thread(["<a@b>"]) is None


@given(st.text(max_size=80))
def test_thread_of_never_raises(message_id: str) -> None:
    assert IDS.thread_of(message_id) is None


def test_reply_subject_has_exactly_one_re() -> None:
    assert reply_subject("Card blocked") == "Re: Card blocked"
    assert reply_subject("RE: Re: AW: Card blocked") == "Re: Card blocked"
    assert reply_subject("Re[2]: Card") == "Re: Card"
    assert reply_subject("ΑΠ: Κάρτα") == "Re: Κάρτα"
    assert reply_subject("Ответ: Перевод") == "Re: Перевод"
    assert reply_subject("Fwd: invoice") == "Re: Fwd: invoice"
    assert reply_subject("Reimbursement") == "Re: Reimbursement"  # not a prefix
    assert reply_subject(None) == "Re: Your message"
    assert reply_subject("Re:") == "Re: Your message"


def test_reply_references_keep_root_and_recent() -> None:
    refs = [f"<m{i}@example.com>" for i in range(40)]
    trimmed = reply_references(refs, "<last@example.com>")
    assert len(trimmed) == MAX_REFERENCES
    assert trimmed[0] == "<m0@example.com>" and trimmed[-1] == "<last@example.com>"
    assert reply_references(["<a@b>", "junk", "<a@b>"], "<c@d>") == ["<a@b>", "<c@d>"]
    assert reply_references([], None) == []


def test_text_to_html_escapes_the_agents_text() -> None:
    html = text_to_html("Hello <b>João</b> & co\nline two\n\nsecond paragraph")
    assert "&lt;b&gt;João&lt;/b&gt; &amp; co<br>\nline two" in html
    assert "<p>second paragraph</p>" in html


def test_build_reply_threads_under_the_customers_message() -> None:
    customer = parse_email(_fixture("gmail_reply.eml"))
    our_id = IDS.new(THREAD, "testbank.example")
    msg = build_message(
        from_address="support@testbank.example",
        from_name="Test Bank — Suporte",
        to_address="joao.silva@example.pt",
        subject=customer.message.data["subject"],
        text="Olá João,\nainda bem! <3",
        message_id=our_id,
        date=NOW,
        in_reply_to=customer.message_id,
        references=customer.references,
        attachments=[OutgoingAttachment("extrato.pdf", "application/pdf", b"%PDF-1.4 x")],
    )
    wire = msg.as_bytes(policy=policy.SMTP)
    assert b"\r\n" in wire and all(len(line) <= 998 for line in wire.split(b"\r\n"))
    back = BytesParser(policy=policy.default).parsebytes(wire)
    assert back["Subject"] == "Re: Cartão bloqueado — preciso de ajuda"
    assert back["Message-ID"] == our_id
    assert back["In-Reply-To"] == customer.message_id
    assert back["References"].split() == [*customer.references, customer.message_id]
    assert back["Date"] == "Mon, 03 Nov 2025 10:12:05 +0000"
    assert back["From"].addresses[0].display_name == "Test Bank — Suporte"
    plain = back.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain == "Olá João,\nainda bem! <3\n"
    assert "ainda bem! &lt;3" in back.get_body(("html",)).get_content()
    [attachment] = back.iter_attachments()
    assert attachment.get_filename() == "extrato.pdf"
    assert attachment.get_content() == b"%PDF-1.4 x"
    assert "Auto-Submitted" not in back


def test_the_customers_reply_to_our_message_finds_the_thread() -> None:
    """Round trip: what we send, answered by a client that sets In-Reply-To/References."""
    our_id = IDS.new(THREAD, "testbank.example")
    ours = build_message(
        from_address="support@testbank.example",
        to_address="joao@example.pt",
        subject="Your card",
        text="It is unblocked.",
        message_id=our_id,
        date=NOW,
    )
    assert ours["Subject"] == "Your card" and "In-Reply-To" not in ours
    reply = (
        "From: someone.else@example.org\r\nTo: support@testbank.example\r\n"
        f"Subject: Re: Your card\r\nMessage-ID: <r1@example.org>\r\n"
        f"In-Reply-To: {our_id}\r\nReferences: {our_id}\r\n\r\nThanks!\r\n"
    ).encode()
    assert IDS.answered_thread(parse_email(reply).answers) == THREAD


def test_automatic_messages_say_so() -> None:
    msg = build_message(
        from_address="support@testbank.example",
        to_address="a@example.com",
        text="We got your message.",
        message_id=IDS.new(THREAD, "testbank.example"),
        date=NOW,
        automatic=True,
    )
    assert msg["Auto-Submitted"] == "auto-replied"
    assert parse_email(msg.as_bytes()).classification == "auto_reply"


def _fixture(name: str) -> bytes:
    from tests.channels.test_email_parsing import fixture

    return fixture(name)


def test_outbound_message_ids_fit_the_provider_id_column() -> None:
    adapter = EmailAdapter("secret")
    message = OutboundMessage(
        channel="email", to="a@b.example", body="hi", thread_id=str(uuid.uuid4()), event_id=1
    )
    for domain in ("bank.example", "x" * 50 + ".example"):
        key = f"s@{domain}"
        endpoint = EndpointConfig(id="e", channel="email", key=key)
        mail = adapter.compose(endpoint, message, datetime.now(UTC))
        assert len(mail["Message-ID"]) <= 128
        assert adapter.message_ids.thread_of(mail["Message-ID"]) == message.thread_id
        assert mail["Subject"] == "Your message" and mail["In-Reply-To"] is None
