"""Parsing recorded-style inbound emails (fixtures/email/*.eml): bodies, encodings,
attachments, quoted replies, and which mail must never open a contact."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from threadline.channels.email.attachments import AttachmentStore
from threadline.channels.email.parsing import html_to_text, parse_email, split_quoted

FIXTURES = Path(__file__).parent / "fixtures" / "email"
OUR_OLD_ID = (
    "<tl.00000000000000000000000000000000.aaaaaaaaaa.aaaaaaaaaaaaaaaaaaaaaaaaaa@testbank.example>"
)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "classification"),
    [
        ("plain_pt.eml", "message"),
        ("koi8r_plain.eml", "message"),
        ("html_only.eml", "message"),
        ("attachment.eml", "message"),
        ("gmail_reply.eml", "message"),
        ("outlook_reply_el.eml", "message"),
        ("auto_reply_ru.eml", "auto_reply"),
        ("dsn_bounce.eml", "bounce"),
        ("mailing_list.eml", "list"),
    ],
)
def test_classification(name: str, classification: str) -> None:
    assert parse_email(fixture(name)).classification == classification


def test_plain_message_with_encoded_words() -> None:
    parsed = parse_email(fixture("plain_pt.eml"))
    message = parsed.message
    assert (message.channel, message.identity_kind) == ("email", "email")
    assert message.identity_value == "joao.silva@example.pt"  # lower-cased
    assert message.sender_name == "João Silva"  # iso-8859-1 encoded word
    assert message.provider_msg_id == "<CAF7k2x9=plain.pt.0001@mail.example.pt>"
    assert message.data["subject"] == "Cartão bloqueado — preciso de ajuda"
    assert message.data["to"] == ["support@testbank.example"]
    assert "três tentativas no multibanco" in message.body
    assert "html" not in message.data and message.attachments == ()


def test_koi8r_body_and_subject() -> None:
    parsed = parse_email(fixture("koi8r_plain.eml"))
    assert parsed.message.data["subject"] == "Перевод не дошёл"
    assert parsed.message.sender_name == "Ольга Иванова"
    assert parsed.message.body.startswith("Здравствуйте!\nМой перевод не дошёл")


def test_html_only_becomes_readable_text_and_the_html_is_kept_marked_unsafe() -> None:
    parsed = parse_email(fixture("html_only.eml"))
    body = parsed.message.body
    assert "• 12.50 € at Café Lisboa" in body
    assert "here (https://bank.example/statement?id=42)" in body
    assert "<" not in body and "alert" not in body and "color: red" not in body
    assert "ignored title" not in body
    html = parsed.message.data["html"]
    assert html["unsafe"] is True
    [blob] = parsed.blobs
    assert blob.sha256 == html["sha256"] and b"<script>" in blob.data


def test_attachments_are_metadata_plus_blobs() -> None:
    parsed = parse_email(fixture("attachment.eml"))
    assert parsed.message.data["subject"] == "Πρόβλημα με τη μεταφορά"  # iso-8859-7
    assert parsed.message.body == "Καλημέρα, επισυνάπτω την απόδειξη της μεταφοράς."
    pdf, png = parsed.message.attachments
    assert pdf["filename"] == "απόδειξη.pdf"  # RFC 2231 encoded
    assert pdf["content_type"] == "application/pdf"
    blobs = {b.sha256: b.data for b in parsed.blobs}
    assert blobs[pdf["sha256"]].startswith(b"%PDF-1.4")
    assert pdf["size"] == len(blobs[pdf["sha256"]])
    assert png["filename"] == "passwd.png"  # no path components survive
    assert png["content_id"] == "<logo@example.gr>"
    assert hashlib.sha256(blobs[png["sha256"]]).hexdigest() == png["sha256"]


async def test_attachment_store_is_content_addressed(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path)
    parsed = parse_email(fixture("attachment.eml"))
    for blob in parsed.blobs:
        assert await store.put(blob.data) == blob.sha256
        assert await store.put(blob.data) == blob.sha256  # idempotent
    pdf = parsed.message.attachments[0]
    assert (await store.get(pdf["sha256"])).startswith(b"%PDF")
    assert store.path(pdf["sha256"]).parent.name == pdf["sha256"][:2]
    with pytest.raises(ValueError, match="sha256"):
        store.path("../../etc/passwd")
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob("*.part")))


def test_gmail_reply_threading_headers_and_quote() -> None:
    parsed = parse_email(fixture("gmail_reply.eml"))
    assert parsed.in_reply_to == OUR_OLD_ID
    assert parsed.references == ("<CAF7k2x9=plain.pt.0001@mail.example.pt>", OUR_OLD_ID)
    assert parsed.answers[0] == OUR_OLD_ID  # In-Reply-To first, then references newest first
    assert parsed.message.body == "Obrigado, já funciona!"
    assert parsed.message.data["quoted_text"].startswith("On Mon, 3 Nov 2025 at 10:12")
    assert "O cartão foi desbloqueado." in parsed.message.data["quoted_text"]


def test_outlook_reply_greek() -> None:
    parsed = parse_email(fixture("outlook_reply_el.eml"))
    assert parsed.message.data["subject"] == "Απάντηση: Κάρτα"
    assert parsed.message.sender_name == "Ελένη Παπαδοπούλου"
    assert parsed.message.body == "Σας ευχαριστώ, η κάρτα έφτασε σήμερα."
    assert "Ετοιμάζουμε νέα κάρτα." in parsed.message.data["quoted_text"]


def test_auto_reply() -> None:
    parsed = parse_email(fixture("auto_reply_ru.eml"))
    assert parsed.classification == "auto_reply"
    assert parsed.reason == "auto-submitted: auto-replied"
    assert parsed.message.data["subject"] == "Автоответ: Нет на месте"
    assert parsed.answers == (OUR_OLD_ID,)


def test_dsn_bounce_names_the_failed_recipient_and_our_message() -> None:
    parsed = parse_email(fixture("dsn_bounce.eml"))
    bounce = parsed.bounce
    assert bounce is not None and bounce.failed
    [recipient] = bounce.recipients
    assert recipient.address == "nobody@example.net"
    assert (recipient.action, recipient.status) == ("failed", "5.1.1")
    assert "User unknown" in (recipient.diagnostic or "")
    assert bounce.original_message_id == OUR_OLD_ID
    assert parsed.answers[0] == OUR_OLD_ID


def test_mailing_list() -> None:
    assert parse_email(fixture("mailing_list.eml")).reason == "list headers"


HEADERS = "From: a@example.com\r\nTo: support@testbank.example\r\nSubject: hi\r\n"


@pytest.mark.parametrize(
    ("extra", "envelope_from", "classification"),
    [
        ("Auto-Submitted: no\r\n", None, "message"),
        ("Auto-Submitted: auto-generated\r\n", None, "auto_reply"),
        ("X-Autorespond: yes\r\n", None, "auto_reply"),
        ("Precedence: bulk\r\n", None, "list"),
        ("Precedence: junk\r\n", None, "list"),
        ("List-Unsubscribe: <mailto:u@example.com>\r\n", None, "list"),
        ("Return-Path: <>\r\n", None, "auto_reply"),
        ("", "", "auto_reply"),  # MAIL FROM:<>
        ("", "a@example.com", "message"),
        ("Return-Path: <a@example.com>\r\n", None, "message"),
        (
            'Content-Type: multipart/report; report-type=disposition-notification; b="x"\r\n',
            None,
            "auto_reply",
        ),
    ],
)
def test_classification_rules(extra: str, envelope_from: str | None, classification: str) -> None:
    raw = (HEADERS + extra + "\r\nbody\r\n").encode()
    assert parse_email(raw, envelope_from=envelope_from).classification == classification


def test_plain_text_bounce_from_mailer_daemon() -> None:
    raw = (
        b"From: Mail Delivery Subsystem <mailer-daemon@example.net>\r\n"
        b"To: support@testbank.example\r\nSubject: Delivery failure\r\n"
        b"X-Failed-Recipients: gone@example.net\r\n\r\n"
        b"A message that you sent could not be delivered.\r\n\r\n"
        b"------ This is a copy of the message's headers. ------\r\n"
        b"Message-ID: <ours@testbank.example>\r\nSubject: Re: x\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.classification == "bounce"
    assert parsed.bounce is not None
    assert parsed.bounce.original_message_id == "<ours@testbank.example>"
    assert [r.address for r in parsed.bounce.recipients] == ["gone@example.net"]


def test_message_without_message_id_or_with_a_huge_one_gets_a_bounded_provider_id() -> None:
    raw = (HEADERS + "\r\nbody\r\n").encode()
    assert parse_email(raw).message.provider_msg_id == ("sha256:" + hashlib.sha256(raw).hexdigest())
    huge = (HEADERS + f"Message-ID: <{'x' * 300}@example.com>\r\n\r\nbody\r\n").encode()
    provider_id = parse_email(huge).message.provider_msg_id
    assert provider_id is not None and len(provider_id) <= 128


def test_garbage_does_not_raise() -> None:
    parsed = parse_email(b"\x00\xff not an email \r\n\r\n\xfe")
    assert parsed.message.identity_value == ""
    raw = (
        b"From: <<<>>>\r\nSubject: =?x-unknown?q?abc?=\r\n"
        b"Content-Type: text/plain; charset=bogus\r\n\r\n\xe9t\xe9\r\n"
    )
    assert "t" in parse_email(raw).message.body


def test_split_quoted_keeps_everything_when_the_reply_is_all_quote() -> None:
    text = "> quoted first\nmy answer below"
    assert split_quoted(text) == (text, "")
    assert split_quoted("Thanks!\n\n> old\n> older\n") == ("Thanks!", "> old\n> older")


def test_split_quoted_portuguese_and_russian_heads() -> None:
    new, quoted = split_quoted("Sim.\n\nEm seg., 3 de nov. de 2025 às 10:12, Banco escreveu:\n> x")
    assert (new, quoted.splitlines()[0][:6]) == ("Sim.", "Em seg")
    new, _ = split_quoted("Да.\n\n3 нояб. 2025 г., в 10:12, Банк написал(а):\n> x")
    assert new == "Да."


def test_html_to_text_pre_and_entities() -> None:
    assert html_to_text("<pre>a\n  b</pre><p>x&amp;y&nbsp;z</p>") == "a\nb\n\nx&y z"
