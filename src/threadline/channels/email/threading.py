"""Email threading: our Message-IDs, and outbound MIME messages that mail clients thread.

Our Message-IDs carry the thread they belong to, signed, so that a customer's reply finds
its thread from In-Reply-To/References alone, without a lookup and even when it comes from
another address (a forward, a colleague, the customer's other mailbox):

    <tl.{thread uuid as 32 hex}.{nonce}.{mac}@{mailbox domain}>

- `nonce`: 10 base32 characters (50 random bits), so every message has its own id;
- `mac`: the first 128 bits of HMAC-SHA256(key, "tl.{hex}.{nonce}"), base32 (26 chars);
  `key` is derived from the installation's secret key (`email_message_id_key`), so an
  outsider who knows a thread id cannot forge an id that lands mail in that thread;
- the domain is not signed: a reply through an alias or a renamed mailbox still threads.
Rotating the secret key makes older ids unverifiable; replies to them then thread only by
the database lookup of our stored outbound ids (channels/email/service.py) or by sender.

Pure: no I/O, no clock (the Date is passed in).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from threadline.channels.email.parsing import MSG_ID

MAX_REFERENCES = 20  # RFC 5322 lets References grow forever; clients cope with ~20
_OURS = re.compile(r"^<tl\.([0-9a-f]{32})\.([a-z2-7]{10})\.([a-z2-7]{26})@[^<>\s]+>$")
# Reply/forward prefixes mail clients add, in the languages we serve (Re, AW, SV, Antw, RES,
# ΑΠ/Απάντηση, Ответ/Отв, ...), each optionally numbered ("Re[2]:").
_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|res|ref|rif|odp|ynt|απ|απάντηση|σχετ|ответ|отв)(\s*\[\d+\])?\s*:\s*)+",
    re.I,
)


def email_message_id_key(secret_key: str) -> bytes:
    """The key that signs Message-IDs, derived so it is used for nothing else."""
    return hmac.new(secret_key.encode(), b"threadline.email.message-id", hashlib.sha256).digest()


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


@dataclass(frozen=True, slots=True)
class MessageIds:
    """Makes and recognises our Message-IDs (see the module docstring)."""

    key: bytes

    def new(self, thread_id: str, domain: str, *, send_key: str | None = None) -> str:
        """A fresh id for a message in this thread. With `send_key` (the outbox row's
        idempotency key) the id is the same on every retry of that send, so a message sent
        twice after a crash is one message to the recipient's mail client."""
        hex_id = uuid.UUID(thread_id).hex
        if send_key:
            seed = hmac.new(self.key, f"send.{send_key}".encode(), hashlib.sha256).digest()
        else:
            seed = secrets.token_bytes(7)
        nonce = _b32(seed)[:10]
        return f"<tl.{hex_id}.{nonce}.{self._mac(hex_id, nonce)}@{domain}>"

    def thread_of(self, message_id: str | None) -> str | None:
        """The thread one of our Message-IDs belongs to; None for anybody else's (or a forgery)."""
        found = _OURS.match((message_id or "").strip().lower())
        if found is None:
            return None
        hex_id, nonce, mac = found.groups()
        if not hmac.compare_digest(mac.encode(), self._mac(hex_id, nonce).encode()):
            return None
        return str(uuid.UUID(hex_id))

    def answered_thread(self, message_ids: Iterable[str]) -> str | None:
        """The thread of the first of our ids among these (pass them nearest first)."""
        for message_id in message_ids:
            if thread_id := self.thread_of(message_id):
                return thread_id
        return None

    def _mac(self, hex_id: str, nonce: str) -> str:
        digest = hmac.new(self.key, f"tl.{hex_id}.{nonce}".encode(), hashlib.sha256).digest()
        return _b32(digest[:16])


def reply_subject(subject: str | None, fallback: str = "Your message") -> str:
    """Exactly one "Re: " in front, whatever prefixes the customer's client piled up."""
    rest = _REPLY_PREFIX.sub("", (subject or "").strip()).strip()
    return f"Re: {rest or fallback}"


def reply_references(references: Sequence[str], in_reply_to: str | None) -> list[str]:
    """References for a reply: the parent's references plus the parent's id, trimmed to the
    thread's root and the most recent ids (what RFC 5322 and jwz's threading rely on)."""
    ids = [i for i in dict.fromkeys([*references, *([in_reply_to] if in_reply_to else [])])]
    ids = [i for i in ids if MSG_ID.fullmatch(i)]
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    data: bytes


def text_to_html(text: str) -> str:
    """The agent's plain text as safe HTML: escaped, paragraphs and line breaks kept."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    body = "\n".join(
        "<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>" for p in paragraphs if p
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body style="font-family: sans-serif; line-height: 1.4">\n{body}\n</body></html>\n'
    )


def build_message(
    *,
    from_address: str,
    to_address: str,
    text: str,
    message_id: str,
    date: datetime,
    subject: str | None = None,
    from_name: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    attachments: Sequence[OutgoingAttachment] = (),
    automatic: bool = False,
) -> EmailMessage:
    """An outbound email: plain text plus an HTML alternative, attachments, and the headers
    that thread it under the customer's message. With `in_reply_to`, the subject becomes
    "Re: <subject>". `automatic` marks a machine-sent message (an acknowledgement) per
    RFC 3834, so other robots do not answer it."""
    msg = EmailMessage()
    msg["From"] = Address(display_name=from_name or "", addr_spec=from_address)
    msg["To"] = to_address
    msg["Subject"] = reply_subject(subject) if in_reply_to else (subject or "Your message")
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if refs := reply_references(references, in_reply_to):
        msg["References"] = " ".join(refs)
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    msg.add_alternative(text_to_html(text), subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return msg
