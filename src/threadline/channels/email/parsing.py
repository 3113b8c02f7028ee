"""Inbound email (RFC 5322 bytes) -> a classified, normalised InboundMessage. Pure: stdlib
`email` with `policy.default`, no I/O; attachment and HTML bytes come back as blobs for the
caller to store (attachments.py).

Classification, first rule that matches wins (never a contact unless `message`):
  complaint   a spam complaint (ARF, RFC 5965): a message/feedback-report part in any
              container, report-type=feedback-report, a Feedback-Type header, or a Hotmail
              JMRP report (X-HmXmrOriginalRecipient)
  bounce      a delivery report: a message/delivery-status part in any container (with or
              without the multipart/report wrapper), X-Failed-Recipients, a MAILER-DAEMON /
              postmaster / "Mail Delivery System" sender, or a non-delivery subject
              ("Undeliverable:", "Mail delivery failed", ...) sent by a robot (null return
              path, Auto-Submitted, no From) or with a mail system's wording in the body
  auto_reply  Auto-Submitted other than "no" (RFC 3834), X-Autoreply / X-Autorespond,
              Precedence: auto_reply, a read receipt (report-type=disposition-notification),
              or a null return path (`Return-Path: <>` / `MAIL FROM:<>`)
  list        List-Id / List-Unsubscribe, or Precedence: bulk | junk | list
  message     anything else: a person writing to us

Mail as servers really send it: an unquoted Outlook boundary (`boundary=----=_NextPart_..`)
is quoted before parsing; every inline text part of a multipart/mixed message is kept, in
order; text is decoded as UTF-8 when it is valid UTF-8 whatever the label says, else in its
declared charset, else cp1252/latin-1; a message without From is attributed to its Sender,
else the envelope sender (SMTP MAIL FROM, or IMAP's Return-Path).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from html.parser import HTMLParser
from typing import Any, Literal

from threadline.channels.contract import InboundMessage

Classification = Literal["message", "auto_reply", "bounce", "complaint", "list"]

MAX_BODY_CHARS = 100_000  # a timeline entry, not an archive: the full HTML is kept as a blob
MAX_QUOTED_CHARS = 20_000
MAX_PROVIDER_ID = 128  # thread_events.provider_msg_id is String(128)
MAX_PARTS = 500  # MIME leaves looked at: a message of a million empty parts is not a body
MSG_ID = re.compile(r"<[^<>\s]+>")
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_LIST_PRECEDENCE = frozenset({"bulk", "junk", "list"})
# Who sends delivery reports: local parts and display names of MTAs' robots.
_ROBOT_SENDER = re.compile(
    r"mailer[-_ ]?daemon|postmaster|\bmdaemon\b|mail[-_. ]?delivery[-_. ]?(sub)?system|"
    r"mail[-_. ]?administrator|\bndr\b",
    re.I,
)
# Subjects of non-delivery reports, as MTAs (and their translations) write them.
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(able|ed)|undelivered mail|non[- ]?deliver|nondeliverable|"
    r"(permanent |mail |message )?deliver(y|ing)( status notification| notification| failure|"
    r" failed| has failed| problem| warning| report)|delivery status|"
    r"mail delivery (failed|failure|warning|problem)|failure notice|failed mail|"
    r"returned mail|mail system error|could not send message|"
    r"(mail|message|e-?mail) (could not|couldn't|was not|has not been) (be )?delivered|"
    r"warning: could not send|unzustellbar|non remis|no se puede entregar|"
    r"não (é possível|foi possível) entregar|mensagem não entregue|"
    r"недоставлен|не доставлен|αδυναμία παράδοσης|δεν παραδόθηκε)",
    re.I,
)
# A mail system's words in the body of a report (not a parcel that was not delivered).
_BOUNCE_BODY = re.compile(
    r"this is the (mail system|postfix program|qmail-send program|mail delivery agent)|"
    r"(permanent|fatal) (fatal )?errors?|delivery to the following recipient|"
    r"could not be delivered to (one or more|the following) recipient|"
    r"following (address(es)?|recipients?) (had|failed)|non-delivery report|"
    r"(message|mail) (could not|was not|has not been|wasn.t) (be )?delivered|"
    r"(user|mailbox) (unknown|not found|is full|unavailable)|no such (user|mailbox)|"
    r"could not deliver (the )?message to|failed recipient|remote (host|server) said|"
    r"(status|smtp|error|code|diagnostic)[^\n]{0,40}\b[45]\.\d\.\d{1,3}\b|"
    r"\b(55[0-4]|45[0-2])[ -][45]\.\d\.\d{1,3}\b",
    re.I,
)
_SURROGATE = re.compile("[\udc80-\udcff]")
_QUOTED_BOUNDARY = re.compile(rb'(boundary\s*=\s*)([^"\s;][^\s;]*)', re.I)
_CONTENT_TYPE_FIELD = re.compile(rb"^content-type:[^\n]*(?:\r?\n[ \t][^\n]*)*", re.I | re.M)
# Labels that mean a superset in practice (what browsers do, WHATWG Encoding).
_CHARSET_SUPERSETS = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "tis-620": "cp874",
    "iso-2022-jp": "iso2022_jp_ext",
}


@dataclass(frozen=True, slots=True)
class Blob:
    """Bytes to keep outside the database, addressed by their SHA-256."""

    sha256: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    action: str  # failed|delayed|delivered|relayed|expanded (RFC 3464)
    status: str  # e.g. 5.1.1
    diagnostic: str | None


@dataclass(frozen=True, slots=True)
class Bounce:
    """What a delivery report says about one of our outbound messages."""

    recipients: tuple[FailedRecipient, ...]
    original_message_id: str | None
    delayed: bool = False  # a warning that delivery is still being tried

    @property
    def failed(self) -> bool:
        """Permanent failure (not merely a delay warning)."""
        if self.recipients:
            return any(r.action == "failed" or r.status.startswith("5") for r in self.recipients)
        return not self.delayed


@dataclass(frozen=True, slots=True)
class Complaint:
    """A spam complaint (ARF feedback report, RFC 5965) about one of our messages."""

    feedback_type: str  # abuse|fraud|virus|other|not-spam|... (lower case)
    recipients: tuple[str, ...]  # who complained: Original-Rcpt-To, else the original's To
    original_message_id: str | None
    reporter: str | None  # the mailbox provider that sent the report


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    classification: Classification
    reason: str  # the rule that classified it, for logs
    message: InboundMessage
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    blobs: tuple[Blob, ...]
    bounce: Bounce | None = None
    complaint: Complaint | None = None

    @property
    def answers(self) -> tuple[str, ...]:
        """Message-IDs this one replies to, nearest first (In-Reply-To, then References
        newest first): where to look for the thread it belongs to."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        for report in (self.bounce, self.complaint):
            if report is not None and report.original_message_id:
                ids.insert(0, report.original_message_id)
        return tuple(dict.fromkeys(ids))


def parse_email(raw: bytes, *, envelope_from: str | None = None) -> ParsedEmail:
    """Parse one message as received. `envelope_from` is the SMTP `MAIL FROM` ("" for the
    null sender) when known; IMAP gives only the headers (Return-Path)."""
    msg = BytesParser(EmailMessage, policy=policy.default).parsebytes(quote_boundaries(raw))
    charset = _declared_charset(msg)
    address, name, source = _sender(msg, envelope_from, charset)
    classification, reason = classify(msg, address, envelope_from)
    message_id = _first_id(_header(msg, "Message-ID"))
    in_reply_to = _first_id(_header(msg, "In-Reply-To"))
    references = tuple(MSG_ID.findall(_header(msg, "References")))
    body = _Body.of(msg)
    text = body.text()
    new_text, quoted = split_quoted(text)
    robot = classification in ("bounce", "complaint")
    attachments = () if robot else _attachments(msg, body.part_ids)
    blobs = [Blob(meta["sha256"], content) for meta, content in attachments]
    data: dict[str, Any] = {
        "subject": _header(msg, "Subject", charset) or None,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": list(references),
        "from": address or None,
        "to": _addresses(msg, "To"),
        "cc": _addresses(msg, "Cc"),
    }
    if source != "from":
        data["from_source"] = source  # no From header: who we took the sender from
    if html := body.html():
        blob = _blob(html.encode())
        blobs.append(blob)
        # Raw HTML from the internet: kept for the record, never rendered as is.
        data["html"] = {"sha256": blob.sha256, "size": len(blob.data), "unsafe": True}
    if quoted:
        data["quoted_text"] = quoted[:MAX_QUOTED_CHARS]
    message = InboundMessage(
        channel="email",
        identity_kind="email",
        identity_value=address,
        body=new_text[:MAX_BODY_CHARS],
        provider_msg_id=provider_id(address, message_id, raw),
        sender_name=name or None,
        attachments=tuple(meta for meta, _ in attachments),
        data=data,
    )
    return ParsedEmail(
        classification,
        reason,
        message,
        message_id,
        in_reply_to,
        references,
        tuple(blobs),
        bounce=_bounce(msg, raw) if classification == "bounce" else None,
        complaint=_complaint(msg) if classification == "complaint" else None,
    )


def quote_boundaries(raw: bytes) -> bytes:
    """Quote unquoted `boundary=` values in Content-Type fields. Old Outlook writes
    `boundary=----=_NextPart_000_..`, where `=` is not allowed unquoted (RFC 2045) and
    Python's parser reads the boundary as `----`, losing the whole body."""

    def field(found: re.Match[bytes]) -> bytes:
        return _QUOTED_BOUNDARY.sub(rb'\1"\2"', found.group(0))

    return _CONTENT_TYPE_FIELD.sub(field, raw)


def classify(
    msg: Message, from_address: str, envelope_from: str | None = None
) -> tuple[Classification, str]:
    """Which kind of mail this is, and the rule that said so (see the module docstring)."""
    kinds = {part.get_content_type() for part in _walk(msg)}
    report = str(msg.get_param("report-type", "", header="content-type") or "").lower()
    if "message/feedback-report" in kinds or report == "feedback-report":
        return "complaint", "feedback report"
    if msg.get("Feedback-Type") is not None or msg.get("X-HmXmrOriginalRecipient") is not None:
        return "complaint", "feedback headers"
    if "message/delivery-status" in kinds or report == "delivery-status":
        return "bounce", "delivery-status report"
    if msg.get("X-Failed-Recipients") is not None:
        return "bounce", "x-failed-recipients"
    if _robot_sender(msg):
        return "bounce", "mailer-daemon sender"
    auto_submitted = re.split(r"[\s;(]", _header(msg, "Auto-Submitted").strip(), maxsplit=1)[0]
    auto_submitted = auto_submitted.lower()
    return_path = _header(msg, "Return-Path").strip()
    null_sender = envelope_from == "" or (
        msg.get("Return-Path") is not None and return_path in ("<>", "")
    )
    if _BOUNCE_SUBJECT.search(_header(msg, "Subject")) and (
        null_sender
        or auto_submitted not in ("", "no")
        or msg.get("From") is None
        or _BOUNCE_BODY.search(_Body.of(msg).text()[:20_000])
    ):
        return "bounce", "non-delivery subject"
    if auto_submitted and auto_submitted != "no":
        return "auto_reply", f"auto-submitted: {auto_submitted}"
    if any(msg.get(name) is not None for name in _AUTO_HEADERS):
        return "auto_reply", "x-autoreply header"
    precedence = _header(msg, "Precedence").strip().lower()
    if precedence == "auto_reply":
        return "auto_reply", "precedence: auto_reply"
    if msg.get_content_type() == "multipart/report" and report == "disposition-notification":
        return "auto_reply", "read receipt"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "list", "list headers"
    if precedence in _LIST_PRECEDENCE:
        return "list", f"precedence: {precedence}"
    if null_sender:
        return "auto_reply", "null return path"
    return "message", "person"


def _robot_sender(msg: Message) -> bool:
    """From a mail system: MAILER-DAEMON, postmaster, "Mail Delivery System <>"."""
    written = _raw_header(msg, "From")
    if _ROBOT_SENDER.search(written):
        return True
    return bool(written.strip()) and re.search(r"<\s*>\s*$", written) is not None


# --- headers -------------------------------------------------------------------------------


def _header(msg: Message, name: str, charset: str | None = None) -> str:
    """A header's decoded value, or "" (a malformed header must not lose the message)."""
    raw = _raw_header(msg, name, charset=None)
    if _SURROGATE.search(raw):  # raw 8-bit bytes, which the parser turns into U+FFFD
        return " ".join(_utf8(raw, charset).split())
    try:
        value = msg.get(name)
    except Exception:  # the stdlib header parser raises on some garbage
        return ""
    return " ".join(_utf8(str(value), charset).split()) if value is not None else ""


def _raw_header(msg: Message, name: str, *, charset: str | None = "utf-8") -> str:
    """A header as written (not parsed as addresses, nor decoded), or "". With charset None,
    8-bit bytes are left as surrogate escapes."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return _utf8(str(value), charset) if charset else str(value)
    return ""


def _utf8(text: str, charset: str | None = None) -> str:
    """Raw 8-bit header bytes come out of the parser as surrogate escapes, which no database
    stores: read them as UTF-8 (RFC 6532, SMTPUTF8), else in the charset the body declares
    (what a mail client that wrote raw 8-bit headers used for both), else cp1252/latin-1."""
    data = text.encode("utf-8", "surrogateescape")
    return data.decode("ascii") if data.isascii() else decode_text(data, charset)


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        header = msg.get(name)
        return [_addr(a) for a in getattr(header, "addresses", ()) if a.addr_spec]
    except Exception:  # as _header
        return []


def _addr(address: Address) -> str:
    return _utf8(address.addr_spec).lower()


def _declared_charset(msg: Message) -> str | None:
    """The first charset a text part declares: the likely one of unlabelled 8-bit headers."""
    for part in _walk(msg):
        if part.get_content_maintype() == "text" and (charset := part.get_content_charset()):
            return charset
    return None


def _sender(
    msg: Message, envelope_from: str | None, charset: str | None = None
) -> tuple[str, str, str]:
    """(address, display name, where it came from): From; a message without one (some
    scripts and old gateways send none) is attributed to its Sender, else to the envelope
    sender (SMTP MAIL FROM; IMAP keeps it as Return-Path)."""
    for header in ("From", "Sender"):
        address, name = _mailbox(msg, header, charset)
        if address:
            return address, name, header.lower()
    if envelope_from and "@" in envelope_from:
        return envelope_from.strip().lower(), "", "envelope"
    found = MSG_ID.search(_header(msg, "Return-Path"))
    if found and "@" in found.group(0):
        return found.group(0)[1:-1].lower(), "", "return-path"
    return "", "", "none"


def _mailbox(msg: Message, name: str, charset: str | None) -> tuple[str, str]:
    try:
        header = msg.get(name)
        for address in getattr(header, "addresses", ()):
            if "@" in (address.addr_spec or ""):
                return _addr(address), _utf8(address.display_name, charset)
    except Exception:  # as _header
        return "", ""
    return "", ""


def _first_id(value: str) -> str | None:
    found = MSG_ID.search(value)
    return found.group(0) if found else None


def provider_id(sender: str, message_id: str | None, raw: bytes) -> str:
    """What makes a redelivery of the same message store once. A Message-ID is unique only
    in its author's hands (RFC 5322 3.6.4: generated by the sender's host), and careless or
    hostile senders reuse them, so the key is the pair (sender, Message-ID): another sender's
    mail with an id we have seen is a different message. Without a Message-ID, a hash of
    the bytes (deduplicated only if byte-identical)."""
    if not message_id:
        return "sha256:" + hashlib.sha256(raw).hexdigest()
    scoped = f"{message_id} {sender}"
    if len(scoped) <= MAX_PROVIDER_ID:
        return scoped
    return "sha256:" + hashlib.sha256(scoped.encode("utf-8", "surrogateescape")).hexdigest()


# --- bodies and attachments ------------------------------------------------------------------


def _walk(msg: Message) -> list[Message]:
    """Every part, the message itself first, depth first, bounded (MAX_PARTS). A message
    attached to it (message/rfc822) is one part: what it holds is not this message's (a
    forwarded bounce is a person's message)."""
    found: list[Message] = []
    pending = [msg]
    while pending and len(found) < MAX_PARTS:
        part = pending.pop()
        found.append(part)
        if part.get_content_maintype() == "multipart":
            pending.extend(reversed(_submessages(part)))
    return found


@dataclass(frozen=True, slots=True)
class _Body:
    """The text a person wrote: every inline text part in order (a multipart/mixed message
    can hold several: text, an image, more text), and of alternatives the plain one for the
    text and the HTML one for the record."""

    plain: tuple[Message, ...]  # text parts, plain preferred among alternatives
    rich: tuple[Message, ...]  # the same, HTML preferred
    part_ids: frozenset[int]

    @classmethod
    def of(cls, msg: Message) -> _Body:
        plain = tuple(_inline_texts(msg, "plain", 0))
        rich = tuple(_inline_texts(msg, "html", 0))
        return cls(plain, rich, frozenset(id(p) for p in plain + rich))

    def text(self) -> str:
        texts = []
        for part in self.plain:
            content = _text(part)
            if part.get_content_subtype() == "html":
                content = html_to_text(content)
            if content:
                texts.append(content)
        return "\n\n".join(texts)

    def html(self) -> str:
        if not any(p.get_content_subtype() == "html" for p in self.rich):
            return ""
        return "\n".join(
            _text(p) if p.get_content_subtype() == "html" else f"<pre>{_escape(_text(p))}</pre>"
            for p in self.rich
        )


def _inline_texts(part: Message, prefer: str, depth: int) -> list[Message]:
    if depth > 20:
        return []
    if part.get_content_maintype() == "multipart":
        subs = _submessages(part)
        if part.get_content_subtype() == "alternative":
            choices = [_inline_texts(sub, prefer, depth + 1) for sub in subs]
            choices = [c for c in choices if c]
            preferred = [c for c in choices if any(p.get_content_subtype() == prefer for p in c)]
            return (preferred or choices or [[]])[0 if prefer == "plain" else -1]
        if part.get_content_subtype() in ("related", "signed", "encrypted") and subs:
            subs = subs[:1]  # the root; the rest are what it refers to (images, a signature)
        return [p for sub in subs for p in _inline_texts(sub, prefer, depth + 1)]
    is_text = part.get_content_type() in ("text/plain", "text/html")
    if is_text and not _is_attachment(part) and not _filename(part):
        return [part]
    return []


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(part: Message | None) -> str:
    """A text part's content: valid UTF-8 is read as UTF-8 whatever the label says (a UTF-8
    part without a charset is common, and so are wrong labels); else its declared charset
    (or the superset that label means in practice); else cp1252, then latin-1."""
    if part is None:
        return ""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: take what is there
        payload = str(part.get_payload()).encode("utf-8", "surrogateescape")
    if not isinstance(payload, bytes):
        return ""
    return decode_text(payload, part.get_content_charset()).replace("\r\n", "\n").strip()


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes of text in the most plausible charset (see _text)."""
    if not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    label = (charset or "").strip().lower()
    if label in ("utf-8", "utf8"):  # declared and broken: keep what is valid
        return data.decode("utf-8", "replace")
    for codec in (_CHARSET_SUPERSETS.get(label, label), label):
        if not codec:
            continue
        try:
            codecs.lookup(codec)
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    if data.isascii():
        return data.decode("ascii")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _submessages(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _leaves(part: Message) -> list[Message]:
    return [p for p in _walk(part) if p.get_content_maintype() != "multipart"]


def _attachments(msg: Message, body_ids: frozenset[int]) -> list[tuple[dict[str, Any], bytes]]:
    found: list[tuple[dict[str, Any], bytes]] = []
    for part in _leaves(msg):
        if id(part) in body_ids or part.get_content_maintype() == "multipart":
            continue
        filename = _filename(part)
        if part.get_content_maintype() == "text" and not filename and not _is_attachment(part):
            continue  # an alternative body or a footer, not a file
        data = _part_bytes(part)
        if filename is None and part.get_content_type() in ("message/rfc822", "message/global"):
            filename = "message.eml"  # an attached (forwarded) email
        meta = {
            "filename": filename or "attachment",
            "content_type": part.get_content_type(),
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if content_id := _first_id(_header(part, "Content-ID")):
            meta["content_id"] = content_id
        found.append((meta, data))
    return found


def _is_attachment(part: Message) -> bool:
    return (part.get_content_disposition() or "") == "attachment"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # as _header
        return None
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip(". ")
    return name[:255] or None


def _part_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message":
        if inner := _submessages(part):
            return inner[0].as_bytes()
        return str(part.get_payload()).encode()
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _blob(data: bytes) -> Blob:
    return Blob(hashlib.sha256(data).hexdigest(), data)


# --- bounces and complaints ------------------------------------------------------------------

_QUOTED_MESSAGE_ID = re.compile(rb"^[ \t>]*Message-ID:\s*(<[^<>\s]+>)", re.I | re.M)
_DELAY_SUBJECT = re.compile(
    r"\bdelay|still being|not yet (been )?delivered|delivery warning|could not send message for "
    r"past|verzögert|atrasad|задерж",
    re.I,
)


def _bounce(msg: Message, raw: bytes) -> Bounce:
    recipients: list[FailedRecipient] = []
    for part in _walk(msg):
        if part.get_content_type() == "message/delivery-status":
            recipients += _dsn_recipients(part)
    if not recipients and (failed := _header(msg, "X-Failed-Recipients")):
        recipients = [
            FailedRecipient(a.strip().lower(), "failed", "5.0.0", None)
            for a in failed.split(",")
            if a.strip()
        ]
    delayed = bool(_DELAY_SUBJECT.search(_header(msg, "Subject")))
    return Bounce(tuple(recipients), _original_id(msg, raw), delayed)


def _original_id(msg: Message, raw: bytes) -> str | None:
    """The Message-ID of the message a report is about: in the returned message or its
    headers (message/rfc822, text/rfc822-headers), else quoted in the report's text."""
    for part in _walk(msg)[1:]:
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global") and (inner := _submessages(part)):
            if found := _first_id(_header(inner[0], "Message-ID")):
                return found
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            headers = HeaderParser(policy=policy.default).parsestr(_text(part))
            if found := _first_id(_header(headers, "Message-ID")):
                return found
    own = _first_id(_header(msg, "Message-ID"))
    for quoted_id in _QUOTED_MESSAGE_ID.finditer(raw):
        quoted = quoted_id.group(1).decode("ascii", "replace")
        if quoted != own:
            return quoted
    return None


def _dsn_recipients(part: Message) -> list[FailedRecipient]:
    blocks = _submessages(part)
    found = []
    for block in blocks[1:]:  # the first block is per-message, the rest per-recipient
        recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
        if not recipient:
            continue
        found.append(
            FailedRecipient(
                address=recipient.split(";", 1)[-1].strip().strip("<>").lower(),
                action=_header(block, "Action").lower(),
                status=_header(block, "Status"),
                diagnostic=_header(block, "Diagnostic-Code").split(";", 1)[-1].strip() or None,
            )
        )
    return found


def _complaint(msg: Message) -> Complaint:
    fields: Message = msg
    original: Message | None = None
    for part in _walk(msg)[1:]:
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            fields = _report_fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            inner = _submessages(part)
            original = inner[0] if inner else _headers_of(part)
    feedback_type = (_header(fields, "Feedback-Type") or "abuse").lower()
    recipients = [
        value.split(";", 1)[-1].strip().strip("<>").lower()
        for value in _all(fields, "Original-Rcpt-To") + _all(msg, "X-HmXmrOriginalRecipient")
        if "@" in value
    ]
    if not recipients and original is not None:
        recipients = _addresses(original, "To")
    message_id = _first_id(_header(original, "Message-ID")) if original is not None else None
    reporter = _header(fields, "Reported-Domain") or _header(fields, "User-Agent") or None
    return Complaint(feedback_type, tuple(dict.fromkeys(recipients)), message_id, reporter)


def _report_fields(part: Message) -> Message:
    """The fields of a message/feedback-report part (the parser may give them as a
    sub-message or as text)."""
    if inner := _submessages(part):
        return inner[0]
    return _headers_of(part)


def _headers_of(part: Message) -> Message:
    text = part.get_payload(decode=True)
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(part.get_payload())
    return HeaderParser(policy=policy.default).parsestr(body.lstrip())


def _all(msg: Message, name: str) -> list[str]:
    try:
        return [" ".join(str(v).split()) for v in msg.get_all(name) or ()]
    except Exception:  # as _header
        return []


# --- quoted replies ------------------------------------------------------------------------

_QUOTE_HEADS = [
    # Gmail, Apple Mail, Thunderbird: "On <date>, <name> wrote:" (wrapped over two lines too)
    r"^[ \t]*(On|Em|Le|Am|El|Il)\s[^\n]{0,200}(\n[^\n]{0,200})?(wrote|escreveu|a écrit|"
    r"schrieb|escribió|ha scritto)\s*:[ \t]*$",
    r"^[^\n]{0,200}(\n[^\n]{0,200})?(написал|написала|написал\(а\))\s*:[ \t]*$",
    r"^[ \t]*Στις\s[^\n]{0,200}(\n[^\n]{0,200})?έγραψε\s*:[ \t]*$",
    # Outlook
    r"^[ \t]*-{2,}\s*(Original Message|Mensagem original|Исходное сообщение|Αρχικό μήνυμα)",
    r"^[ \t]*_{10,}[ \t]*\n",
    r"^[ \t]*\**(From|De|От|Από)\s*:\**\s[^\n]+\n[ \t]*\**(Sent|Enviado|Enviada|Date|Data|"
    r"Отправлено|Στάλθηκε)\s*:",
    # a trailing block of "> " lines
    r"^>[^\n]*(\n>[^\n]*|\n[ \t]*)*\Z",
]
_QUOTE_HEAD = re.compile("|".join(f"(?:{p})" for p in _QUOTE_HEADS), re.M | re.I)


def split_quoted(text: str) -> tuple[str, str]:
    """The new part of a reply and the quoted history below it. Conservative: when the cut
    would leave nothing (a top-quoted or interleaved reply), the whole text is kept."""
    found = _QUOTE_HEAD.search(text)
    if found is None or not text[: found.start()].strip():
        return text, ""
    return text[: found.start()].rstrip(), text[found.start() :].strip()


# --- HTML to text --------------------------------------------------------------------------

_BLOCK = frozenset(
    {"p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol"}
    | {"blockquote", "pre", "hr", "address", "center", "form", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0
        self._pre = 0
        self._links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n• ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK:
            self.out.append("\n\n" if tag in ("p", "blockquote", "table") else "\n")
            if tag == "pre":
                self._pre += 1
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.out)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.out[start:]).strip()
            if href and href.startswith(("http://", "https://")) and href != label:
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.out.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body: paragraphs, line breaks, list bullets and link
    targets kept; scripts, styles and markup dropped."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
