"""The built-in SMTP server (aiosmtpd on the application's own event loop): receives mail
for the configured mailboxes and nothing else.

- RCPT TO an address that is no active email endpoint: 550 (we are not an open relay);
- a message over the size limit: 552 (aiosmtpd, from `data_size_limit`);
- lines longer than RFC 5321's 998 characters are taken (Outlook and many web mailers send
  HTML on one long line); only the message's total size is limited;
- the message is committed before 250 is answered (storage is the truth); a database or
  disk failure answers 451 so the sending server retries, and the retry is stored once;
- a message that can never be stored (no sender at all: no From, Sender nor MAIL FROM): 550.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from threadline.errors import ThreadlineError

if TYPE_CHECKING:
    from threadline.channels.email.service import EmailOptions, EmailReceiver

log = structlog.get_logger(__name__)
MAX_RECIPIENTS = 50


class MailboxSMTP(SMTP):
    """aiosmtpd's SMTP with the line limit raised from 1001 bytes to the message size limit:
    refusing real mail over a line length helps nobody. Commands stay bounded by aiosmtpd's
    `command_size_limit`."""

    def __init__(self, handler: MailboxHandler, *, line_length_limit: int, **kwargs: Any) -> None:
        self.line_length_limit = line_length_limit  # read by SMTP.__init__ for its reader
        super().__init__(handler, **kwargs)


class MailboxHandler:
    """aiosmtpd handler: hooks named by aiosmtpd's protocol (handle_RCPT, handle_DATA)."""

    def __init__(self, receiver: EmailReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if await self.receiver.find_mailbox(address) is None:
            self.receiver.stats["rejected_recipient"] += 1
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        # aiosmtpd keeps the null sender of MAIL FROM:<> as "<>"; the parser expects ""
        sender = (envelope.mail_from or "").strip().removeprefix("<").removesuffix(">")
        endpoints = {}
        for address in envelope.rcpt_tos:
            if (endpoint := await self.receiver.find_mailbox(address)) is not None:
                endpoints[endpoint.id] = endpoint
        try:
            for endpoint in endpoints.values():
                await self.receiver.receive(endpoint, raw, envelope_from=sender)
        except ThreadlineError as exc:
            self.receiver.stats["refused"] += 1
            log.info("email.refused", reason=exc.message, peer=str(session.peer))
            return f"550 5.6.0 Message refused: {exc.message}"
        except Exception:
            self.receiver.stats["failed"] += 1
            log.exception("email.receive_failed", peer=str(session.peer))
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message accepted"


async def start_smtp_server(receiver: EmailReceiver, options: EmailOptions) -> asyncio.Server:
    """Listen on (smtp_host, smtp_port) on the running loop; close() the server to stop."""
    loop = asyncio.get_running_loop()
    handler = MailboxHandler(receiver)
    return await loop.create_server(
        lambda: MailboxSMTP(
            handler,
            line_length_limit=max(options.max_message_bytes, SMTP.line_length_limit),
            data_size_limit=options.max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=options.smtp_hostname,
            ident="Threadline ESMTP",
            loop=loop,
        ),
        options.smtp_host,
        options.smtp_port,
    )
