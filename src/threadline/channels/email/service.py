"""Email in: one receiving path for the built-in SMTP server and the IMAP poller.

A received email is parsed and classified (channels/email/parsing.py), then:
- our own message coming back (a loop, a Bcc to ourselves) is dropped;
- a bounce, a spam complaint or an automatic reply never opens a contact: it is counted,
  logged, and, when it refers to one of our messages, written as an internal `status` entry
  on that thread (a bounce also goes to the `bounce_handlers`: `outbox_bounce_handler` marks
  the send failed; a complaint marks the complaining address `do_not_email` on its customer,
  so that no further email is queued to it: channels/outbox.py);
- a mailing-list message is counted, logged and dropped;
- a person's message is stored once (its sender and Message-ID are the provider id) in the
  customer's
  thread and opens a contact (do_ingest). If it answers one of our Message-IDs, it goes to
  that thread's customer even from another address: the signed id proves the sender holds
  a message we sent to that thread. The other address is NOT added to the customer (a
  forward to a colleague must not make the colleague the customer); the entry is flagged
  `from_other_address` so the agent can see it and link the identity if it is really theirs.

A person's message whose From is not proven (DKIM or a trusted relay's results, as the
mailbox is configured: channels/email/authentication.py) is still stored, once, in the
thread its From names, but carries `sender_auth.verified = false` and an assurance of
"none": it inherits no trust from the customer it claims to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.attachments import AttachmentStore
from threadline.channels.contract import StatusUpdate
from threadline.channels.email.authentication import (
    DnsFunc,
    SenderAuth,
    SenderCheck,
    check_sender,
)
from threadline.channels.email.parsing import (
    MAX_PROVIDER_ID,
    Bounce,
    Complaint,
    ParsedEmail,
    parse_email,
)
from threadline.channels.email.threading import MessageIds, email_message_id_key
from threadline.channels.inbound import do_ingest
from threadline.channels.models import Endpoint, OutboxMessage
from threadline.channels.outbox import do_delivery_status
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.identities import normalise_email
from threadline.customers.models import Customer
from threadline.customers.services import find_by_identity
from threadline.db import across_orgs, org_scope, utcnow
from threadline.errors import Invalid
from threadline.threads.models import Thread
from threadline.threads.services import append_event, lock_thread

log = structlog.get_logger(__name__)
BounceHandler = Callable[[Endpoint, Bounce], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class EmailOptions:
    """Email-in settings. Read from `Settings.email_<name>` where config.py defines it."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int | None = None  # None: no built-in SMTP server; 0: any free port
    smtp_hostname: str | None = None  # the name in the SMTP greeting
    max_message_bytes: int = 25 * 1024 * 1024
    attachments_dir: Path = Path("data/email")
    imap_poll_s: float | None = None  # None: no IMAP polling
    imap_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailOptions:
        defaults = cls()
        return cls(
            **{
                f.name: getattr(settings, f"email_{f.name}", getattr(defaults, f.name))
                for f in fields(cls)
            }
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of one received email."""

    classification: str  # message|auto_reply|bounce|complaint|list|own
    reason: str
    thread_id: str | None = None
    event_id: int | None = None
    created: bool = False  # False: nothing new stored (a robot, or a redelivery)


class EmailReceiver:
    """Turns received email into timeline entries; shared by SMTP and IMAP."""

    def __init__(self, ctx: Context, store: AttachmentStore) -> None:
        self.ctx = ctx
        self.store = store
        self.stats: Counter[str] = Counter()
        self.bounce_handlers: list[BounceHandler] = []
        secret = ctx.settings.secret_key.get_secret_value()
        self.message_ids = MessageIds(email_message_id_key(secret))
        # DKIM key lookups: None is the DNS (dkimpy's resolver); `dnsfunc(name, timeout=)`
        # returning the TXT record otherwise (a resolver of one's own, tests)
        self.dkim_dns: DnsFunc | None = None
        self.sender_check_timeout_s = 10.0

    async def find_mailbox(self, address: str) -> Endpoint | None:
        """The active email endpoint for a recipient address ("support+tag@" finds
        "support@")."""
        try:
            address = normalise_email(address)
        except Invalid:
            return None
        local, _, domain = address.partition("@")
        candidates = list(dict.fromkeys([address, f"{local.split('+', 1)[0]}@{domain}"]))
        with across_orgs():  # the recipient address says whose mailbox it is
            async with self.ctx.db.sessions() as session:
                found = await session.scalars(
                    select(Endpoint).where(
                        Endpoint.channel == "email", Endpoint.key.in_(candidates), Endpoint.active
                    )
                )
                by_key = {e.key: e for e in found}
        return next((by_key[key] for key in candidates if key in by_key), None)

    async def receive(
        self, endpoint: Endpoint, raw: bytes, *, envelope_from: str | None = None
    ) -> Receipt:
        """Store one received email (see the module docstring). Raises Invalid for a message
        that can never be stored (no sender address): refuse it, do not retry."""
        with org_scope(endpoint.org_id):  # the mailbox's organisation
            return await self._receive(endpoint, raw, envelope_from)

    async def _receive(self, endpoint: Endpoint, raw: bytes, envelope_from: str | None) -> Receipt:
        parsed = parse_email(raw, envelope_from=envelope_from)
        if self.message_ids.thread_of(parsed.message_id):
            receipt = Receipt("own", "one of our own messages came back")
        else:
            thread = await self._answered_thread(endpoint, parsed)
            if parsed.classification == "message":
                check = await self._check_sender(endpoint, raw, parsed)
                receipt = await self._ingest(endpoint, parsed, thread, check)
            else:
                receipt = await self._record_robot(endpoint, parsed, thread)
        self.stats[receipt.classification] += 1
        if receipt.classification == "message" and not receipt.created:
            self.stats["duplicate"] += 1
        log.info(
            "email.received",
            endpoint=endpoint.id,
            classification=receipt.classification,
            reason=receipt.reason,
            thread_id=receipt.thread_id,
            created=receipt.created,
        )
        return receipt

    async def _answered_thread(self, endpoint: Endpoint, parsed: ParsedEmail) -> Thread | None:
        """The thread this email answers: by our signed Message-ID, else by an outbound
        message this mailbox sent with that id (ids signed under an older secret key)."""
        thread_id = self.message_ids.answered_thread(parsed.answers)
        ids = [i for i in parsed.answers if len(i) <= MAX_PROVIDER_ID][:50]
        async with self.ctx.db.sessions() as session:
            if thread_id is None and ids:
                thread_id = await session.scalar(
                    select(OutboxMessage.thread_id)
                    .where(
                        OutboxMessage.endpoint_id == endpoint.id,
                        OutboxMessage.provider_msg_id.in_(ids),
                    )
                    .limit(1)
                )
            thread = await session.get(Thread, thread_id) if thread_id else None
        return thread if thread is not None and thread.org_id == endpoint.org_id else None

    async def _check_sender(
        self, endpoint: Endpoint, raw: bytes, parsed: ParsedEmail
    ) -> SenderCheck:
        """Whether the From is the sender's (channels/email/authentication.py), as the
        mailbox says to check it; DNS lookups in a thread, bounded in time."""
        try:
            auth = SenderAuth.of(endpoint.settings or {})
        except ValueError:
            auth = SenderAuth()  # settings saved before the check existed: the safe default
        address = parsed.message.identity_value
        if auth.mode != "off" and (not address or parsed.message.data.get("from_source")):
            return SenderCheck(False, auth.mode, None, "no From address to check")
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(check_sender, raw, address, auth, self.dkim_dns),
                self.sender_check_timeout_s,
            )
        except TimeoutError:
            return SenderCheck(False, auth.mode, None, "the check timed out")

    async def _ingest(
        self, endpoint: Endpoint, parsed: ParsedEmail, thread: Thread | None, check: SenderCheck
    ) -> Receipt:
        message = parsed.message
        if thread is None and not message.identity_value:
            raise Invalid("the email has no sender address")
        # replies leave through the mailbox written to (channels/outbox.py)
        data: dict[str, Any] = {**message.data, "endpoint_id": endpoint.id}
        if check.method != "off":
            data["sender_auth"] = check.as_data()
        if not check.verified:
            # a From nobody proved: stored, but vouching for no one (not the customer whose
            # address it names, nor their verified identities); the agent sees the mark
            data["assurance"] = {"level": "none", "method": None, "at": None}
        message = dataclasses.replace(message, data=data)
        if thread is not None and not await self._is_customers(endpoint, thread, message):
            data = {**message.data, "from_other_address": True}
            message = dataclasses.replace(message, data=data)
        for blob in parsed.blobs:
            await self.store.put(blob.data)
        ingested = await do_ingest(
            self.ctx, endpoint, message, thread.customer_id if thread else None
        )
        return Receipt(
            "message",
            "answers our message" if thread else parsed.reason,
            ingested.thread.id,
            ingested.event.id,
            ingested.created,
        )

    async def _is_customers(self, endpoint: Endpoint, thread: Thread, message: Any) -> bool:
        if not message.identity_value:
            return False
        async with self.ctx.db.sessions() as session:
            try:
                owner = await find_by_identity(
                    session, endpoint.org_id, "email", message.identity_value
                )
            except Invalid:
                return False
        return owner is not None and owner.id == thread.customer_id

    async def _record_robot(
        self, endpoint: Endpoint, parsed: ParsedEmail, thread: Thread | None
    ) -> Receipt:
        kind = parsed.classification
        if parsed.bounce is not None:
            for handler in self.bounce_handlers:
                await handler(endpoint, parsed.bounce)
        if parsed.complaint is not None:
            await self._stop_emailing(endpoint, parsed.complaint)
        if thread is None or kind == "list":
            return Receipt(kind, parsed.reason)
        event_id = await self._status_entry(endpoint, parsed, thread.id)
        return Receipt(kind, parsed.reason, thread.id, event_id, event_id is not None)

    async def _status_entry(
        self, endpoint: Endpoint, parsed: ParsedEmail, thread_id: str
    ) -> int | None:
        """An internal timeline entry for a bounce or auto-reply; stored once per email."""
        message = parsed.message
        data: dict[str, Any] = {
            "email": parsed.classification,
            "reason": parsed.reason,
            "subject": message.data.get("subject"),
            "from": message.data.get("from"),
        }
        if parsed.complaint is not None:
            data["complaint"] = dataclasses.asdict(parsed.complaint)
        if parsed.bounce is not None:
            data["bounce"] = {
                "original_message_id": parsed.bounce.original_message_id,
                "failed": parsed.bounce.failed,
                "recipients": [dataclasses.asdict(r) for r in parsed.bounce.recipients],
            }
        try:
            async with self.ctx.uow() as uow:
                thread = await lock_thread(uow, endpoint.org_id, thread_id)
                event = append_event(
                    uow,
                    thread,
                    kind="status",
                    channel="email",
                    author_type="system",
                    body=_summary(parsed),
                    provider_msg_id=message.provider_msg_id,
                    data=data,
                )
            return event.id
        except IntegrityError:
            return None  # the same bounce or auto-reply delivered again

    async def _stop_emailing(self, endpoint: Endpoint, complaint: Complaint) -> None:
        """Mark the complaining addresses `do_not_email` on their customers: the address our
        reported message went to (its outbox row, found by the Message-ID the report quotes;
        providers often redact the recipient), and each address the report names that is a
        customer's. Whoever reported our mail as spam gets no more of it until the mark is
        cleared (channels/outbox.py refuses to queue email to a marked address)."""
        mark = {
            "reason": "complaint",
            "feedback_type": complaint.feedback_type,
            "reporter": complaint.reporter,
            "at": utcnow().isoformat(),
        }
        async with self.ctx.uow() as uow:
            targets: list[tuple[str, Customer | None]] = []
            if complaint.original_message_id:
                sent = await uow.session.execute(
                    select(OutboxMessage.address, Thread.customer_id)
                    .join(Thread, Thread.id == OutboxMessage.thread_id)
                    .where(
                        OutboxMessage.endpoint_id == endpoint.id,
                        OutboxMessage.provider_msg_id == complaint.original_message_id,
                    )
                    .limit(1)
                )
                for address, customer_id in sent:
                    targets.append((address, await uow.session.get(Customer, customer_id)))
            for address in complaint.recipients:
                try:
                    owner = await find_by_identity(uow.session, endpoint.org_id, "email", address)
                except Invalid:
                    continue
                targets.append((address, owner))
            for address, customer in targets:
                if customer is None or customer.org_id != endpoint.org_id:
                    continue
                attributes = dict(customer.attributes or {})
                attributes["do_not_email"] = {**attributes.get("do_not_email", {}), address: mark}
                customer.attributes = attributes
                log.info("email.complaint", customer=customer.id, address=address)


def _summary(parsed: ParsedEmail) -> str:
    subject = parsed.message.data.get("subject") or ""
    if parsed.complaint is not None:
        who = ", ".join(parsed.complaint.recipients) or "a recipient"
        return f"Reported as spam by {who} ({parsed.complaint.feedback_type})"
    if parsed.bounce is None:
        return f"Automatic reply from {parsed.message.identity_value}: {subject}".strip()
    verb = "could not be delivered" if parsed.bounce.failed else "is delayed"
    return f"Email {verb}: {_recipients(parsed.bounce)}"


def _recipients(bounce: Bounce) -> str:
    failed = ", ".join(
        f"{r.address} ({r.status}{': ' + r.diagnostic if r.diagnostic else ''})"
        for r in bounce.recipients
    )
    return failed or "unknown recipient"


def outbox_bounce_handler(ctx: Context) -> BounceHandler:
    """Marks the outbox row of a bounced message failed (found by its Message-ID among the
    sends of the mailbox the report came back to), with the outbox's timeline entry and
    supervisor alert. A delay warning changes nothing."""

    async def on_bounce(endpoint: Endpoint, bounce: Bounce) -> None:
        if not bounce.failed or not bounce.original_message_id:
            return
        update = StatusUpdate(
            bounce.original_message_id, "failed", f"bounced: {_recipients(bounce)}"
        )
        await do_delivery_status(ctx, endpoint, update)

    return on_bounce


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@dataclass
class EmailInbound:
    """The running email-in machinery: stop() it on shutdown."""

    receiver: EmailReceiver
    smtp: asyncio.Server | None = None
    poller_task: asyncio.Task[None] | None = None

    @property
    def smtp_port(self) -> int | None:
        return int(self.smtp.sockets[0].getsockname()[1]) if self.smtp else None

    async def stop(self) -> None:
        if self.poller_task is not None:
            self.poller_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.poller_task
        if self.smtp is not None:
            self.smtp.close()
            await self.smtp.wait_closed()


async def start_email_inbound(ctx: Context, options: EmailOptions | None = None) -> EmailInbound:
    """Start the built-in SMTP server and the IMAP poller, as configured (both off by
    default). Call inside the running context; `await inbound.stop()` on the way out."""
    from threadline.channels.email.imap_poller import ImapPoller
    from threadline.channels.email.smtp_server import start_smtp_server

    options = options or EmailOptions.from_settings(ctx.settings)
    receiver = EmailReceiver(ctx, AttachmentStore(options.attachments_dir))
    receiver.bounce_handlers.append(outbox_bounce_handler(ctx))
    inbound = EmailInbound(receiver)
    if options.smtp_port is not None:
        inbound.smtp = await start_smtp_server(receiver, options)
    if options.imap_poll_s is not None:
        poller = ImapPoller(receiver, options.imap_poll_s, options.imap_timeout_s)
        inbound.poller_task = asyncio.create_task(poller.run(), name="email-imap-poller")
    return inbound
