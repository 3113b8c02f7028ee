"""The email channel adapter: agent replies leave by SMTP through the mailbox's relay, as
MIME messages threaded under the customer's last email (channels/email/threading.py).

A mailbox endpoint: `key` is its address (the From of our replies); `settings.smtp` names
its relay: {host, port, username, starttls, ssl}; the endpoint's `secret` is the password
(one account, shared with the `imap` block that polls the same mailbox).

SMTP answers are translated here into the outbox's terms: a refusal before the message was
handed over (4xx, connection refused, a timeout before DATA) is retried, a 5xx never is,
and a connection lost or timed out during DATA is an unknown outcome: the relay may have
queued the message, and SMTP has no way to ask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any, ClassVar

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from threadline.channels.contract import (
    Capabilities,
    EndpointConfig,
    MediaLimits,
    OutboundMessage,
    SendFailed,
    SendOutcomeUnknown,
    SendResult,
)
from threadline.channels.email.authentication import SenderAuth
from threadline.channels.email.threading import (
    MessageIds,
    OutgoingAttachment,
    build_message,
    email_message_id_key,
)

# Our Message-IDs are stored as provider ids (String(128)): 76 characters plus the domain,
# which only has to be unique-ish, so a very long mailbox domain gives way to a short one.
MAX_ID_DOMAIN = 48
FALLBACK_ID_DOMAIN = "threadline.invalid"


@dataclass(frozen=True, slots=True)
class Relay:
    """Where a mailbox's mail leaves: its provider's submission server."""

    host: str
    port: int
    username: str | None = None
    starttls: bool = True
    ssl: bool = False  # implicit TLS (port 465) instead of STARTTLS

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> Relay:
        """The relay in an endpoint's settings; ValueError when there is none or it is wrong."""
        smtp = settings.get("smtp")
        if not isinstance(smtp, Mapping) or not isinstance(smtp.get("host"), str):
            raise ValueError("settings.smtp: {host, port, username, starttls, ssl} of the relay")
        use_ssl = bool(smtp.get("ssl", False))
        port = smtp.get("port") or (465 if use_ssl else 587)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("settings.smtp.port: a TCP port")
        username = smtp.get("username")
        if username is not None and not isinstance(username, str):
            raise ValueError("settings.smtp.username: a string")
        starttls = bool(smtp.get("starttls", not use_ssl)) and not use_ssl
        return cls(smtp["host"], port, username or None, starttls, use_ssl)

    def as_settings(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "starttls": self.starttls,
            "ssl": self.ssl,
        }


class EmailAdapter:
    name: ClassVar[str] = "email"
    capabilities: ClassVar[Capabilities] = Capabilities(text=True, media=True)
    # Inbound mail carries no signature we check (DKIM is not verified); what makes a reply
    # land in a thread is our own signed Message-ID (channels/email/threading.py).
    verifies_signatures: ClassVar[bool] = False
    address_kind: ClassVar[str] = "email"
    # SMTP has no idempotency key: a relay that took the message before we lost its answer
    # delivers it, and a repeat is a second email (our Message-ID is stable across retries,
    # but not every mail client folds duplicates). So an interrupted send is never repeated.
    idempotent_sends: ClassVar[bool] = False
    # files travel inside the message (MIME parts): mail servers commonly take 25 MB, of
    # which base64 eats a third
    media_limits: ClassVar[MediaLimits] = MediaLimits(
        max_count=10,
        max_bytes=10 * 1024 * 1024,
        content_types=frozenset(
            {
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "text/csv",
                "application/zip",
            }
        ),
    )

    def __init__(self, secret_key: str, timeout_s: float = 10.0) -> None:
        self.message_ids = MessageIds(email_message_id_key(secret_key))
        self._timeout_s = timeout_s

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The key is the mailbox's address, lower case; `settings.smtp` its relay, if it
        sends (a mailbox without one only receives: replies through it fail, visibly);
        `settings.sender_auth` how the From of received mail is checked (authentication.py).
        Other settings, e.g. the `imap` block, are kept as they are."""
        try:
            address = validate_email(key, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise ValueError("key: the mailbox's email address (support@example.com)") from exc
        if address != key:
            raise ValueError(f"key: the mailbox's address, normalised: {address!r}")
        configured = {**settings, "sender_auth": SenderAuth.of(settings).as_settings()}
        if settings.get("smtp") is None:
            return configured
        return {**configured, "smtp": Relay.of(settings).as_settings()}

    def compose(
        self, endpoint: EndpointConfig, message: OutboundMessage, now: datetime
    ) -> EmailMessage:
        """The MIME message: a reply to the customer's last email (`message.data`, the data
        of its timeline entry), with a Message-ID that is the same on every retry."""
        replied = message.data
        in_reply_to = replied.get("message_id")
        references = replied.get("references") or []
        domain = endpoint.key.rpartition("@")[2]
        if len(domain) > MAX_ID_DOMAIN:
            domain = FALLBACK_ID_DOMAIN
        return build_message(
            from_address=endpoint.key,
            from_name=str(endpoint.settings.get("from_name") or "") or None,
            to_address=message.to,
            text=message.body,
            subject=replied.get("subject"),
            message_id=self.message_ids.new(
                message.thread_id, domain, send_key=message.idempotency_key
            ),
            date=now,
            in_reply_to=in_reply_to if isinstance(in_reply_to, str) else None,
            references=[r for r in references if isinstance(r, str)],
            attachments=[
                OutgoingAttachment(
                    str(a.get("filename") or "attachment"), str(a["content_type"]), a["data"]
                )
                for a in message.attachments
            ],
        )

    async def send(self, endpoint: EndpointConfig, message: OutboundMessage) -> SendResult:
        """Hand the reply to the mailbox's relay; the Message-ID is the provider id (bounces
        and replies name it)."""
        try:
            relay = Relay.of(endpoint.settings)
        except ValueError as exc:
            raise SendFailed(f"the mailbox has no SMTP relay: {exc}", retryable=False) from exc
        mail = self.compose(endpoint, message, datetime.now(UTC))
        raw = mail.as_bytes(policy=policy.SMTP)
        await self._submit(relay, endpoint.secret, endpoint.key, message.to, raw)
        return SendResult(provider_msg_id=str(mail["Message-ID"]), status="sent")

    async def _submit(
        self, relay: Relay, password: str | None, sender: str, recipient: str, raw: bytes
    ) -> None:
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.ssl,
            start_tls=relay.starttls,
            timeout=self._timeout_s,
        )
        try:
            try:
                await client.connect()
                if relay.username:
                    await client.login(relay.username, password or "")
                await client.mail(sender)
                await client.rcpt(recipient)
            except aiosmtplib.SMTPException as exc:
                raise _refused_before_data(exc) from exc
            except OSError as exc:  # refused, unreachable, TLS handshake: nothing was sent
                raise SendFailed(f"SMTP relay unreachable: {exc}", retryable=True) from exc
            try:
                await client.data(raw)
            except aiosmtplib.SMTPResponseException as exc:
                raise _refused(exc) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise SendOutcomeUnknown(f"SMTP relay gone during DATA: {exc}") from exc
            # the message was accepted: a lost goodbye changes nothing
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        finally:
            client.close()


def _refused(exc: aiosmtplib.SMTPResponseException) -> SendFailed:
    """A reply code: 4xx a later attempt may pass, 5xx never will."""
    text = f"SMTP {exc.code} {exc.message}".strip()
    return SendFailed(text, retryable=400 <= exc.code < 500)


def _refused_before_data(exc: aiosmtplib.SMTPException) -> SendFailed:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _refused(exc)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"SMTP {r.code} {r.message}" for r in exc.recipients)
        return SendFailed(text, retryable=bool(codes) and all(400 <= c < 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. no STARTTLS, no AUTH offered
        return SendFailed(f"SMTP relay: {exc}", retryable=False)
    # refused, disconnected or timed out before the message was handed over
    return SendFailed(f"SMTP relay unreachable: {exc}", retryable=True)
