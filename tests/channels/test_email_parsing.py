"""Parsing recorded-style inbound emails (fixtures/email/*.eml): bodies, encodings,
attachments, quoted replies, and which mail must never open a contact."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from threadline.attachments import AttachmentStore
from threadline.channels.email.parsing import html_to_text, parse_email, split_quoted
from threadline.customers.identities import normalise_email

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
    # a Message-ID is the sender's: the dedupe key is (Message-ID, sender)
    assert message.provider_msg_id == (
        "<CAF7k2x9=plain.pt.0001@mail.example.pt> joao.silva@example.pt"
    )
    assert message.data["message_id"] == "<CAF7k2x9=plain.pt.0001@mail.example.pt>"
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


# --- mail as servers really send it (issue 8, item 7) ----------------------------------------

REALWORLD = FIXTURES / "realworld"


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def test_an_unquoted_outlook_boundary_keeps_the_body() -> None:
    # Python's parser reads `boundary=----=_NextPart_...` as "----" and finds no part at all
    parsed = parse_email(
        (REALWORLD / "mail-gem-outlook-express-unquoted-boundary.eml").read_bytes()
    )
    assert parsed.message.body == "Hello\nThis is an outlook test\n\nSo there.\n\nMe."
    assert parsed.message.data["html"]["size"] > 0
    nested = crlf(
        "From: a@example.com\nSubject: x\nContent-Type: multipart/mixed;\n"
        "\tboundary=----=_NextPart_000_0001_01D9.AB\n\n"
        "------=_NextPart_000_0001_01D9.AB\nContent-Type: multipart/alternative;\n"
        " boundary=----=_NextPart_001_0002_01D9.AB\n\n"
        "------=_NextPart_001_0002_01D9.AB\nContent-Type: text/plain\n\nOutlook body\n"
        "------=_NextPart_001_0002_01D9.AB--\n"
        "------=_NextPart_000_0001_01D9.AB\nContent-Type: text/plain; name=x.txt\n"
        "Content-Disposition: attachment; filename=x.txt\n\nboundary=----=_kept as written\n"
        "------=_NextPart_000_0001_01D9.AB--\n"
    )
    parsed = parse_email(nested)
    assert parsed.message.body == "Outlook body"
    [meta] = parsed.message.attachments
    data = next(b.data for b in parsed.blobs if b.sha256 == meta["sha256"])
    assert meta["filename"] == "x.txt"
    assert data == b"boundary=----=_kept as written"  # only Content-Type fields are touched


MIXED = """From: Ana <ana@example.com>
Subject: two photos
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Here is the front of the card:
--b1
Content-Type: image/png; name=front.png
Content-Disposition: inline; filename=front.png
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b1
Content-Type: text/plain; charset=utf-8

and here is the back.
--b1
Content-Type: text/html; charset=utf-8

<p>Thanks, <b>Ana</b></p>
--b1--
"""


def test_every_text_part_of_a_mixed_message_is_kept_in_order() -> None:
    parsed = parse_email(crlf(MIXED))
    assert parsed.message.body == (
        "Here is the front of the card:\n\nand here is the back.\n\nThanks, Ana"
    )
    [image] = parsed.message.attachments
    assert (image["filename"], image["content_type"]) == ("front.png", "image/png")
    html = next(b.data for b in parsed.blobs if b.sha256 == parsed.message.data["html"]["sha256"])
    assert b"<pre>Here is the front" in html and b"<b>Ana</b>" in html


def test_apple_mail_with_an_image_between_two_texts() -> None:
    parsed = parse_email((REALWORLD / "mail-gem-apple-mail-image-in-the-middle.eml").read_bytes())
    assert parsed.message.body.startswith("With Apple Mail, you can put a picture")
    assert parsed.message.body.endswith("Oh look I am PLaying around with fonts!")
    [image] = parsed.message.attachments
    assert image["filename"] == "IMG_2583.jpeg"
    html = next(b.data for b in parsed.blobs if b.sha256 == parsed.message.data["html"]["sha256"])
    assert b"you can put a picture" in html and b"fonts!" in html  # both HTML parts


def test_an_attached_email_is_an_attachment_not_a_body() -> None:
    parsed = parse_email((REALWORLD / "mail-gem-outlook-2007-msg-attachment.eml").read_bytes())
    assert parsed.message.body == "This is mail with msg attahment sent from Outlook 2007"
    [attached] = parsed.message.attachments
    assert (attached["filename"], attached["content_type"]) == ("message.eml", "message/rfc822")


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("", "Olá, não recebi o cartão — Привет".encode(), "Olá, não recebi o cartão — Привет"),
        ("Content-Type: text/plain\r\n", "Ελληνικά ✓".encode(), "Ελληνικά ✓"),
        # a wrong label: UTF-8 bytes declared latin-1
        ("Content-Type: text/plain; charset=iso-8859-1\r\n", "Ação".encode(), "Ação"),
        ("Content-Type: text/plain; charset=windows-1251\r\n", "Привет".encode("cp1251"), "Привет"),
        ("Content-Type: text/plain; charset=koi8-r\r\n", "Привет".encode("koi8-r"), "Привет"),
        (
            "Content-Type: text/plain; charset=iso-8859-7\r\n",
            "Καλημέρα".encode("iso-8859-7"),
            "Καλημέρα",
        ),
        (
            "Content-Type: text/plain; charset=iso-2022-jp\r\n",
            "すみません".encode("iso-2022-jp"),
            "すみません",
        ),
        (
            "Content-Type: text/plain; charset=x-unknown\r\n",
            b"caf\xe9 \x93ok\x94",
            "café “ok”",
        ),
        ("", "caf\xe9".encode("latin-1"), "café"),  # unlabelled 8-bit: cp1252
    ],
)
def test_text_is_decoded_in_the_charset_it_really_is(
    content_type: str, body: bytes, text: str
) -> None:
    raw = (HEADERS + content_type + "Content-Transfer-Encoding: 8bit\r\n\r\n").encode()
    assert parse_email(raw + body + b"\r\n").message.body == text


def test_raw_8bit_headers_are_read_in_the_body_charset() -> None:
    raw = (
        b"From: =?koi8-r?b?7czYx8E=?= <olga@example.ru>\r\nSubject: "
        + "Перевод".encode("koi8-r")
        + b"\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
        + "Здравствуйте".encode("koi8-r")
    )
    parsed = parse_email(raw)
    assert parsed.message.data["subject"] == "Перевод"
    assert parsed.message.body == "Здравствуйте"


def test_a_spam_complaint_is_a_complaint() -> None:
    parsed = parse_email((REALWORLD / "flanker-complaint-yahoo.eml").read_bytes())
    assert (parsed.classification, parsed.reason) == ("complaint", "feedback report")
    complaint = parsed.complaint
    assert complaint is not None and complaint.feedback_type == "abuse"
    assert complaint.recipients == ("user@yahoo.com",)
    assert complaint.original_message_id == "<20120711015015.4A8BE2E088E@www.example.com>"
    assert parsed.answers[0] == complaint.original_message_id


ARF_IN_MIXED = """From: Junk Mail Reports <staff@hotmail.com>
To: abuse@testbank.example
Subject: complaint about message from 192.0.2.1
Content-Type: multipart/mixed; boundary="x"

--x
Content-Type: text/plain

This is an email abuse report.
--x
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: <Joao.Silva@example.pt>

--x
Content-Type: message/rfc822

From: support@testbank.example
To: joao.silva@example.pt
Message-ID: <ours@testbank.example>
Subject: Your card

Hello
--x--
"""


@pytest.mark.parametrize(
    ("raw", "classification", "reason"),
    [
        # an ARF report without the multipart/report wrapper
        (crlf(ARF_IN_MIXED), "complaint", "feedback report"),
        (crlf(HEADERS + "Feedback-Type: abuse\n\nreport\n"), "complaint", "feedback headers"),
        # a DSN part inside multipart/mixed
        (
            crlf(
                HEADERS + 'Content-Type: multipart/mixed; boundary="y"\n\n--y\n'
                "Content-Type: text/plain\n\nnot delivered\n--y\n"
                "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
                "Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
                "--y--\n"
            ),
            "bounce",
            "delivery-status report",
        ),
        (crlf(HEADERS + "X-Failed-Recipients: gone@example.net\n\nfailed\n"), "bounce", None),
        (
            crlf(
                "From: Mail Delivery System <>\nSubject: Undeliverable: hi\n\n"
                "Your message could not be delivered.\n"
            ),
            "bounce",
            "mailer-daemon sender",
        ),
        (
            crlf(
                "From: ops@example.com\nAuto-Submitted: auto-replied\n"
                "Subject: Undeliverable: Your card\n\nDelivery has failed.\n"
            ),
            "bounce",
            "non-delivery subject",
        ),
        # a customer whose parcel was not delivered is a customer
        (
            crlf(
                "From: ana@example.com\nSubject: Delivery failed\n\n"
                "My card was not delivered, the courier says the address is wrong.\n"
            ),
            "message",
            "person",
        ),
        # ... and so is one who forwards us a bounce they received
        (
            crlf(
                "From: ana@example.com\nSubject: Fwd: Undeliverable\n"
                'Content-Type: multipart/mixed; boundary="z"\n\n--z\n'
                "Content-Type: text/plain\n\nI got this when writing to you\n--z\n"
                "Content-Type: message/rfc822\n\n"
                "From: MAILER-DAEMON@example.net\nSubject: Undeliverable\n"
                "X-Failed-Recipients: support@testbank.example\n\nfailed\n--z--\n"
            ),
            "message",
            "person",
        ),
    ],
)
def test_reports_are_recognised_in_any_wrapper(
    raw: bytes, classification: str, reason: str | None
) -> None:
    parsed = parse_email(raw)
    assert parsed.classification == classification
    if reason:
        assert parsed.reason == reason


def test_the_complaint_names_who_complained_and_about_what() -> None:
    complaint = parse_email(crlf(ARF_IN_MIXED)).complaint
    assert complaint is not None
    assert complaint.recipients == ("joao.silva@example.pt",)
    assert complaint.original_message_id == "<ours@testbank.example>"


def test_a_plain_text_bounce_without_a_report_wrapper_names_our_message() -> None:
    parsed = parse_email((REALWORLD / "flanker-bounce-gmail-invalid-address.eml").read_bytes())
    assert parsed.classification == "bounce" and parsed.bounce is not None
    assert parsed.bounce.failed
    assert [r.address for r in parsed.bounce.recipients] == ["awfawfawfawfawfaw@someserverhere.com"]
    assert parsed.bounce.original_message_id == (
        "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>"
    )
    assert parsed.message.attachments == ()


def test_a_delay_warning_is_not_a_failure() -> None:
    parsed = parse_email((REALWORLD / "flufl-simple_28.eml").read_bytes())
    assert parsed.classification == "bounce" and parsed.bounce is not None
    assert not parsed.bounce.failed


def test_the_dedupe_key_is_the_message_id_and_its_sender() -> None:
    mail = HEADERS + "Message-ID: <same@example.com>\r\n\r\nhi\r\n"
    first = parse_email(mail.encode()).message.provider_msg_id
    again = parse_email(mail.encode()).message.provider_msg_id
    other = parse_email(mail.replace("a@example.com", "b@example.net").encode())
    assert first == again == "<same@example.com> a@example.com"
    assert other.message.provider_msg_id == "<same@example.com> b@example.net"


@pytest.mark.parametrize("address", ['"john doe"@example.com', '"a@b"@example.com'])
def test_a_quoted_local_part_is_a_sender(address: str) -> None:
    raw = f"From: John <{address}>\r\nSubject: hi\r\n\r\nhello\r\n".encode()
    parsed = parse_email(raw)
    assert parsed.message.identity_value == address
    assert normalise_email(address) == address  # and the customer's identity takes it


@pytest.mark.parametrize(
    ("headers", "envelope_from", "sender", "source"),
    [
        ("", "Ana@Example.com", "ana@example.com", "envelope"),  # SMTP: MAIL FROM
        ("Return-Path: <ana@example.com>\n", None, "ana@example.com", "return-path"),  # IMAP
        (
            "Sender: Ana <ana@example.com>\nReturn-Path: <b@example.com>\n",
            None,
            "ana@example.com",
            "sender",
        ),
        ("", None, "", "none"),
    ],
)
def test_mail_without_from_is_attributed_to_its_envelope_sender(
    headers: str, envelope_from: str | None, sender: str, source: str
) -> None:
    raw = crlf(headers + "To: support@testbank.example\nSubject: who?\n\nhello\n")
    parsed = parse_email(raw, envelope_from=envelope_from)
    assert parsed.classification == "message"
    assert parsed.message.identity_value == sender
    assert parsed.message.data["from_source"] == source
