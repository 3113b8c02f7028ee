"""Inbound email (RFC 5322 bytes) -> a classified, normalised InboundMessage. Pure: stdlib
`email` with `policy.default`, no I/O; attachment and HTML bytes come back as blobs for the
caller to store (channels/email/attachments.py).

Classification, first rule that matches wins (never a contact unless `message`):
  bounce      multipart/report; report-type=delivery-status (a DSN), or a MAILER-DAEMON /
              postmaster sender
  auto_reply  Auto-Submitted other than "no" (RFC 3834), X-Autoreply / X-Autorespond,
              Precedence: auto_reply, a read receipt (report-type=disposition-notification),
              or a null return path (`Return-Path: <>` / `MAIL FROM:<>`)
  list        List-Id / List-Unsubscribe, or Precedence: bulk | junk | list
  message     anything else: a person writing to us
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from html.parser import HTMLParser
from typing import Any, Literal

from threadline.channels.contract import InboundMessage

Classification = Literal["message", "auto_reply", "bounce", "list"]

MAX_BODY_CHARS = 100_000  # a timeline entry, not an archive: the full HTML is kept as a blob
MAX_QUOTED_CHARS = 20_000
MAX_PROVIDER_ID = 128  # thread_events.provider_msg_id is String(128)
MSG_ID = re.compile(r"<[^<>\s]+>")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_LIST_PRECEDENCE = frozenset({"bulk", "junk", "list"})


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

    @property
    def failed(self) -> bool:
        """Permanent failure (not merely a delay warning)."""
        return any(r.action == "failed" or r.status.startswith("5") for r in self.recipients)


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

    @property
    def answers(self) -> tuple[str, ...]:
        """Message-IDs this one replies to, nearest first (In-Reply-To, then References
        newest first): where to look for the thread it belongs to."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        if self.bounce and self.bounce.original_message_id:
            ids.insert(0, self.bounce.original_message_id)
        return tuple(dict.fromkeys(ids))


def parse_email(raw: bytes, *, envelope_from: str | None = None) -> ParsedEmail:
    """Parse one message as received. `envelope_from` is the SMTP `MAIL FROM` ("" for the
    null sender) when known; IMAP gives only the headers (Return-Path)."""
    msg = BytesParser(EmailMessage, policy=policy.default).parsebytes(raw)
    address, name = _from(msg)
    classification, reason = classify(msg, address, envelope_from)
    message_id = _first_id(_header(msg, "Message-ID"))
    in_reply_to = _first_id(_header(msg, "In-Reply-To"))
    references = tuple(MSG_ID.findall(_header(msg, "References")))
    body_part, html_part = _body_parts(msg)
    text, html = _text(body_part), _text(html_part)
    if not text and html:
        text = html_to_text(html)
    new_text, quoted = split_quoted(text)
    blobs: list[Blob] = []
    attachments = (
        () if classification == "bounce" else _attachments(msg, {id(body_part), id(html_part)})
    )
    for meta, content in attachments:
        blobs.append(Blob(meta["sha256"], content))
    data: dict[str, Any] = {
        "subject": _header(msg, "Subject") or None,
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": list(references),
        "from": address or None,
        "to": _addresses(msg, "To"),
        "cc": _addresses(msg, "Cc"),
    }
    if html:
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
        provider_msg_id=_provider_id(message_id, raw),
        sender_name=name or None,
        attachments=tuple(meta for meta, _ in attachments),
        data=data,
    )
    bounce = _bounce(msg) if classification == "bounce" else None
    return ParsedEmail(
        classification, reason, message, message_id, in_reply_to, references, tuple(blobs), bounce
    )


def classify(
    msg: Message, from_address: str, envelope_from: str | None = None
) -> tuple[Classification, str]:
    """Which kind of mail this is, and the rule that said so (see the module docstring)."""
    report = str(msg.get_param("report-type", "", header="content-type") or "").lower()
    if msg.get_content_type() == "multipart/report" and report == "delivery-status":
        return "bounce", "delivery-status report"
    if from_address.split("@", 1)[0].lower() in _BOUNCE_SENDERS:
        return "bounce", "mailer-daemon sender"
    auto_submitted = re.split(r"[\s;(]", _header(msg, "Auto-Submitted").strip(), maxsplit=1)[0]
    auto_submitted = auto_submitted.lower()
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
    return_path = _header(msg, "Return-Path").strip()
    if envelope_from == "" or (msg.get("Return-Path") is not None and return_path in ("<>", "")):
        return "auto_reply", "null return path"
    return "message", "person"


# --- headers -------------------------------------------------------------------------------


def _header(msg: Message, name: str) -> str:
    """A header's decoded value, or "" (a malformed header must not lose the message)."""
    try:
        value = msg.get(name)
    except Exception:  # the stdlib header parser raises on some garbage
        return ""
    return " ".join(_utf8(str(value)).split()) if value is not None else ""


def _utf8(text: str) -> str:
    """Raw 8-bit header bytes (UTF-8 headers, RFC 6532, sent with SMTPUTF8) come out of the
    parser as surrogate escapes, which no database stores: read them as UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        header = msg.get(name)
        return [a.addr_spec.lower() for a in getattr(header, "addresses", ()) if a.addr_spec]
    except Exception:  # as _header
        return []


def _from(msg: Message) -> tuple[str, str]:
    try:
        header = msg.get("From")
        for address in getattr(header, "addresses", ()):
            if "@" in (address.addr_spec or ""):
                return _utf8(address.addr_spec.lower()), _utf8(address.display_name)
    except Exception:  # as _header
        return "", ""
    return "", ""


def _first_id(value: str) -> str | None:
    found = MSG_ID.search(value)
    return found.group(0) if found else None


def _provider_id(message_id: str | None, raw: bytes) -> str:
    """What makes a redelivery of the same message store once: its Message-ID, else a hash
    of the bytes (a message without one is deduplicated only if byte-identical)."""
    if message_id and len(message_id) <= MAX_PROVIDER_ID:
        return message_id
    return "sha256:" + hashlib.sha256((message_id or "").encode() or raw).hexdigest()


# --- bodies and attachments ------------------------------------------------------------------


def _body_parts(msg: EmailMessage) -> tuple[EmailMessage | None, EmailMessage | None]:
    try:
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
    except Exception:  # a broken MIME tree: treat as having no body
        return None, None
    return plain, html  # type: ignore[return-value]


def _text(part: Message | None) -> str:
    if part is None:
        return ""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content.replace("\r\n", "\n").strip()
    except (LookupError, UnicodeError, ValueError):  # unknown or lying charset
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace").strip() if isinstance(payload, bytes) else ""


def _leaves(part: Message) -> list[Message]:
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        return [leaf for sub in _submessages(part) for leaf in _leaves(sub)]
    return [part]


def _submessages(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _attachments(msg: Message, body_ids: set[int]) -> list[tuple[dict[str, Any], bytes]]:
    found: list[tuple[dict[str, Any], bytes]] = []
    for part in _leaves(msg):
        if id(part) in body_ids:
            continue
        filename = _filename(part)
        if part.get_content_maintype() == "text" and not filename and not _is_attachment(part):
            continue  # an alternative body or footer, not a file
        data = _part_bytes(part)
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


# --- bounces ---------------------------------------------------------------------------------


def _bounce(msg: Message) -> Bounce:
    recipients: list[FailedRecipient] = []
    original: str | None = None
    for part in _leaves(msg):
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            recipients += _dsn_recipients(part)
        elif kind == "message/rfc822" and original is None:
            if inner := _submessages(part):
                original = _first_id(_header(inner[0], "Message-ID"))
        elif kind == "text/rfc822-headers" and original is None:
            headers = HeaderParser(policy=policy.default).parsestr(_text(part))
            original = _first_id(_header(headers, "Message-ID"))
    if original is None:  # a plain-text bounce quoting the original's headers
        for part in _leaves(msg):
            if found := re.search(r"^Message-ID:\s*(<[^<>\s]+>)", _text(part), re.I | re.M):
                original = found.group(1)
                break
    if not recipients and (failed := _header(msg, "X-Failed-Recipients")):
        recipients = [
            FailedRecipient(a.strip().lower(), "failed", "5.0.0", None)
            for a in failed.split(",")
            if a.strip()
        ]
    return Bounce(tuple(recipients), original)


def _dsn_recipients(part: Message) -> list[FailedRecipient]:
    blocks = _submessages(part)
    found = []
    for block in blocks[1:]:  # the first block is per-message, the rest per-recipient
        recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
        if not recipient:
            continue
        found.append(
            FailedRecipient(
                address=recipient.split(";", 1)[-1].strip().lower(),
                action=_header(block, "Action").lower(),
                status=_header(block, "Status"),
                diagnostic=_header(block, "Diagnostic-Code").split(";", 1)[-1].strip() or None,
            )
        )
    return found


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
