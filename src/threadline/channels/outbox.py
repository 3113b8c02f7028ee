"""The outbox: every outbound message on a provider channel is a row written in the same
transaction as its timeline event, then sent by a worker, in three phases so that no
provider call ever runs inside a database transaction:

1. claim (a durable `outbox_send` timer fires): the row goes `queued -> sending` with a
   lease, and a recovery timer is set for when the lease ends;
2. send (after that commit): the adapter calls the provider;
3. record (a new transaction): `sent` with the provider's message id, or back to `queued`
   with an exponential backoff and jitter (never sooner than a provider's retry-after), or
   `failed` after the last attempt (a `delivery_failed` timeline entry and a
   `delivery.failed` event for supervisors).

Timers are never cancelled here: a timer that fires for a row which has moved on does
nothing (the row's status and `next_attempt_at` say whether it is due). Cancelling would
lock timer rows after the outbox row, the reverse of the worker's order (timer, then row),
and deadlock against it on PostgreSQL.

A row still `sending` when its lease ends belongs to a process that crashed mid-send: the
provider may or may not have the message. Where the provider deduplicates on our
idempotency key (`idempotent_sends`) the send is simply repeated; otherwise (Twilio's
Messages API has no such key) the row becomes `unknown` and is shown for review, never
sent again: we prefer a message a supervisor re-sends by hand to one the customer gets
twice. A provider's status callback for that message (its callback URL names the outbox
row) still settles it. A provider call whose answer was lost (read timeout) is `unknown`
for the same reason.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.aio import finish
from threadline.channels.contract import (
    EndpointConfig,
    MediaLimits,
    OutboundMessage,
    SendFailed,
    SendOutcomeUnknown,
    SendResult,
    StatusUpdate,
)
from threadline.channels.models import Endpoint, OutboxMessage
from threadline.channels.registry import UnknownChannel, channels_of
from threadline.context import Context
from threadline.customers.models import Customer, Identity
from threadline.db import UnitOfWork, org_scope, utcnow
from threadline.errors import Conflict, Invalid
from threadline.events.domain import DeliveryFailed, DeliveryUpdated, MessageSent
from threadline.events.handlers import Handlers
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.schemas import EventOut
from threadline.threads.services import append_event, entry_at, lock_thread
from threadline.web.media import MediaRef, media_links, media_store
from threadline.workers.models import Timer
from threadline.workers.timers import schedule

log = structlog.get_logger(__name__)

OUTBOX_SEND = "outbox_send"
MAX_CONCURRENT_SENDS = 32
# How far each status has got; a provider's callbacks may arrive out of order and only
# move a row forward (a `delivered` is stronger evidence than an earlier `failed`).
PROGRESS = {
    "queued": 0,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "failed": 3,
    "delivered": 4,
    "read": 5,
}


def backoff_delay(attempt: int, base_s: float, cap_s: float, jitter: float) -> float:
    """The wait after failed attempt `attempt` (1-based): base * 2^(attempt-1), capped, then
    scaled into [50%, 100%) by `jitter` in [0, 1) so that retries after an outage spread."""
    return float(min(cap_s, base_s * 2 ** (attempt - 1)) * (0.5 + jitter / 2))


def retry_delay(
    attempt: int, base_s: float, cap_s: float, jitter: float, retry_after_s: float | None
) -> float:
    """The wait before the next attempt: our backoff, but never sooner than the provider
    asked (a rate limit's retry-after may exceed our cap: the provider's word wins)."""
    delay = backoff_delay(attempt, base_s, cap_s, jitter)
    return max(delay, retry_after_s) if retry_after_s is not None else delay


def endpoint_config(endpoint: Endpoint) -> EndpointConfig:
    return EndpointConfig(
        id=endpoint.id,
        channel=endpoint.channel,
        key=endpoint.key,
        settings=dict(endpoint.settings or {}),
        secret=endpoint.secret,
    )


# ---- enqueue: inside the agent's reply transaction -------------------------------------------


async def agent_view(ctx: Context, events: list[ThreadEvent]) -> list[EventOut]:
    """Timeline entries as agents see them: provider messages carry their delivery state."""
    ids = [e.id for e in events if e.kind == "message" and e.author_type == "agent"]
    states: dict[int, str] = {}
    if ids:
        async with ctx.db.sessions() as session:
            rows = await session.execute(
                select(OutboxMessage.event_id, OutboxMessage.status).where(
                    OutboxMessage.event_id.in_(ids)
                )
            )
            states = {event_id: status for event_id, status in rows}
    return [
        EventOut.model_validate(e).model_copy(update={"delivery": states.get(e.id)}) for e in events
    ]


async def on_message_sent(ctx: Context, uow: UnitOfWork, sent: MessageSent) -> None:
    """In the transaction that writes an agent's reply: queue it on its provider channel
    (chat is pushed over the widget's socket, not sent by the outbox)."""
    if sent.channel == "chat":
        return
    thread = await lock_thread(uow, sent.org_id, sent.thread_id)
    event = await entry_at(uow.session, sent.thread_id, sent.seq)
    if event is None:
        raise RuntimeError(f"entry {sent.seq} of thread {sent.thread_id} is not stored")
    await enqueue_outbound(ctx, uow, thread, event)


async def enqueue_outbound(
    ctx: Context, uow: UnitOfWork, thread: Thread, event: ThreadEvent
) -> OutboxMessage:
    """Queue `event` (an outbound message on a provider channel) for sending. Call inside the
    transaction that appends the event, in the thread's row lock; raises Invalid when nobody
    sends on that channel and Conflict when the customer has no address on it."""
    channel = event.channel or ""
    adapter, endpoint, address = await _route(ctx, uow.session, thread, event)
    _check_attachments(ctx, adapter, event)
    await uow.session.flush()  # the event's id
    row = OutboxMessage(
        org_id=thread.org_id,
        thread_id=thread.id,
        event_id=event.id,
        endpoint_id=endpoint.id,
        channel=channel,
        address=address,
        body=event.body or "",
    )
    uow.session.add(row)
    await uow.session.flush()
    schedule(uow.session, thread.org_id, OUTBOX_SEND, row.id, row.next_attempt_at)
    uow.after_commit(_wake_timers(ctx))
    return row


async def refusal(ctx: Context, session: AsyncSession, thread: Thread, channel: str) -> str | None:
    """Why a free-text message on `channel` to this thread's customer could not be queued
    now (nobody sends on it, no endpoint, no address, their spam report, the channel's
    service window), or None when it could: ask before appending the message."""
    probe = ThreadEvent(org_id=thread.org_id, thread_id=thread.id, channel=channel, data={})
    try:
        await _route(ctx, session, thread, probe)
    except (Invalid, Conflict) as exc:
        return str(exc)
    return None


async def _route(
    ctx: Context, session: AsyncSession, thread: Thread, event: ThreadEvent
) -> tuple[Any, Endpoint, str]:
    """The adapter, endpoint and address that would carry `event` (Invalid, Conflict: none)."""
    channel = event.channel or ""
    try:
        adapter = channels_of(ctx).sender(channel)
    except UnknownChannel:
        raise Invalid(f"cannot send messages on channel {channel!r}") from None
    await _check_service_window(session, thread, adapter, event)
    endpoint = await _reply_endpoint(session, thread, channel)
    address = await _address(session, thread.customer_id, adapter.address_kind)
    if address is None:
        raise Conflict(
            f"the customer has no {adapter.address_kind} to reach them on {channel}",
            channel=channel,
        )
    customer = await session.get(Customer, thread.customer_id)
    blocked = (customer.attributes or {}).get("do_not_email") or {} if customer else {}
    if adapter.address_kind == "email" and address in blocked:  # a spam complaint (email in)
        raise Conflict(f"{address} reported our email as spam: none is sent to it")
    return adapter, endpoint, address


def _wake_timers(ctx: Context) -> Any:
    async def wake() -> None:
        ctx.timers.wake()

    return wake


async def _reply_endpoint(session: AsyncSession, thread: Thread, channel: str) -> Endpoint:
    """The endpoint the customer last wrote to on this channel (inbound adapters record its
    id in the event's data), else the organisation's first active one."""
    endpoint_id = (await _last_inbound_data(session, thread.id, channel)).get("endpoint_id")
    endpoint = await session.get(Endpoint, endpoint_id) if isinstance(endpoint_id, str) else None
    if endpoint is None or not endpoint.active or endpoint.org_id != thread.org_id:
        endpoint = await session.scalar(
            select(Endpoint)
            .where(
                Endpoint.org_id == thread.org_id,
                Endpoint.channel == channel,
                Endpoint.active.is_(True),
            )
            .order_by(Endpoint.created_at)
            .limit(1)
        )
    if endpoint is None:
        raise Conflict(f"no active {channel} endpoint is configured", channel=channel)
    return endpoint


async def _last_inbound_data(session: AsyncSession, thread_id: str, channel: str) -> dict[str, Any]:
    """The data of the customer's last message on this channel in the thread ({} if none)."""
    data = await session.scalar(
        select(ThreadEvent.data)
        .where(
            ThreadEvent.thread_id == thread_id,
            ThreadEvent.channel == channel,
            ThreadEvent.author_type == "customer",
        )
        .order_by(ThreadEvent.seq.desc())
        .limit(1)
    )
    return dict(data or {})


async def _check_service_window(
    session: AsyncSession, thread: Thread, adapter: Any, event: ThreadEvent
) -> None:
    """On a channel with a customer-service window (the adapter's `service_window`), a
    free-form message goes only within it (Conflict); a template may go at any time, on
    channels that send templates (else Invalid)."""
    template = (event.data or {}).get("template")
    if template is not None and not getattr(adapter, "sends_templates", False):
        raise Invalid(f"templates cannot be sent on {event.channel}")
    window = getattr(adapter, "service_window", None)
    if window is None or template is not None:
        return
    last_inbound_at = await session.scalar(
        select(ThreadEvent.created_at)
        .join(Thread, Thread.id == ThreadEvent.thread_id)
        .where(
            Thread.customer_id == thread.customer_id,
            ThreadEvent.channel == event.channel,
            ThreadEvent.author_type == "customer",
            ThreadEvent.kind == "message",
        )
        .order_by(ThreadEvent.created_at.desc())
        .limit(1)
    )
    if not window.is_open(last_inbound_at, utcnow()):
        raise Conflict(window.refusal, channel=event.channel, reason="service_window")


def _check_attachments(ctx: Context, adapter: Any, event: ThreadEvent) -> None:
    """Files go only where the channel sends them, within its limits (MediaLimits), and only
    files we hold (Invalid otherwise: the reply is refused, nothing stored)."""
    files = list((event.data or {}).get("attachments") or ())
    if not files:
        return
    channel, body = event.channel, event.body or ""
    limits: MediaLimits | None = getattr(adapter, "media_limits", None)
    if not adapter.capabilities.media or limits is None:
        raise Invalid(f"{channel} cannot send attachments")
    if len(files) > limits.max_count:
        raise Invalid(f"{channel} sends at most {limits.max_count} attachment(s) per message")
    if body and not limits.captions:
        raise Invalid(f"{channel} sends a file without text: send the text as its own message")
    if limits.max_caption_chars is not None and len(body) > limits.max_caption_chars:
        raise Invalid(f"{channel} takes at most {limits.max_caption_chars} characters with a file")
    store = media_store(ctx.settings)
    for file in files:
        content_type, name = file.get("content_type"), file.get("filename") or "attachment"
        if content_type not in limits.content_types:
            raise Invalid(f"{channel} cannot send {content_type} files", attachment=name)
        sha256 = file.get("sha256")
        try:
            size = store.path(sha256).stat().st_size
        except (TypeError, ValueError, OSError):  # not a digest, or no such file
            raise Invalid(f"no such attachment: {name}", attachment=name) from None
        if size > limits.max_bytes:
            limit_mb = limits.max_bytes / 1024 / 1024
            raise Invalid(f"{name} is larger than {channel}'s {limit_mb:g} MB", attachment=name)


async def _outbound_files(ctx: Context, event: ThreadEvent | None) -> tuple[dict[str, Any], ...]:
    """The event's files as adapters take them: with a signed, expiring public link and the
    bytes. Raises OSError when a file is no longer stored."""
    files = (event.data or {}).get("attachments") if event is not None else None
    if not files:
        return ()
    links, store = media_links(ctx.settings), media_store(ctx.settings)
    out = []
    for file in files:
        ref = MediaRef(file["sha256"], file["content_type"], file.get("filename") or "attachment")
        out.append({**file, "url": links.url(ref), "data": await store.get(ref.sha256)})
    return tuple(out)


def _quick_replies(event: ThreadEvent | None) -> tuple[dict[str, Any], ...] | None:
    found = (event.data or {}).get("quick_replies") if event is not None else None
    return tuple(found) if isinstance(found, list) and found else None


async def _address(session: AsyncSession, customer_id: str, kind: str) -> str | None:
    """The customer's identity of this kind: their main one (customer.phone/email), else a
    verified one, else the newest."""
    customer = await session.get(Customer, customer_id)
    main = getattr(customer, kind, None) if customer is not None else None
    values = list(
        await session.execute(
            select(Identity.value)
            .where(Identity.customer_id == customer_id, Identity.kind == kind)
            .order_by(Identity.verified.desc(), Identity.created_at.desc())
        )
    )
    found = [value for (value,) in values]
    if main in found:
        return str(main)
    return found[0] if found else None


# ---- the worker: claim, send, record ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Claim:
    outbox_id: str
    attempt: int


class OutboxSender:
    """Sends claimed outbox rows; its `on_timer` is the `outbox_send` timer handler."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_SENDS)

    def register(self, handlers: Handlers) -> None:
        """An agent's reply is queued in the transaction that writes it."""
        handlers.in_transaction(
            MessageSent, lambda uow, sent: on_message_sent(self._ctx, uow, sent)
        )

    async def on_timer(self, uow: UnitOfWork, timer: Timer) -> None:
        """Phase 1, in the timer's transaction: claim the row if it is due."""
        row: OutboxMessage | None = await uow.lock(OutboxMessage, timer.ref_id)
        if row is None:
            return
        now = utcnow()
        if row.status == "sending" and row.leased_until is not None and row.leased_until <= now:
            if not self._idempotent(row.channel):
                await _settle_unknown(uow, row, "the sending process stopped mid-send")
                return
        elif row.status != "queued" or row.next_attempt_at > now:
            return  # a stale timer: the row was sent, rescheduled or settled meanwhile
        lease_s = self._ctx.settings.outbox_lease_s
        row.status, row.attempts, row.updated_at = "sending", row.attempts + 1, now
        row.leased_until = now + timedelta(seconds=lease_s)
        schedule(uow.session, row.org_id, OUTBOX_SEND, row.id, row.leased_until)  # recovery
        claim = _Claim(row.id, row.attempts)

        org_id = row.org_id

        async def start() -> None:
            with org_scope(org_id):
                task = asyncio.create_task(self._deliver(claim), name=f"outbox-{claim.outbox_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        uow.after_commit(start)

    def _idempotent(self, channel: str) -> bool:
        try:
            return bool(channels_of(self._ctx).sender(channel).idempotent_sends)
        except UnknownChannel:
            return False

    async def _deliver(self, claim: _Claim) -> None:
        """Phase 2 (no transaction open) then phase 3."""
        async with self._limit:
            try:
                outcome = await self._send(claim)
            except Exception:  # a bug, not a provider answer: the message may have gone out
                log.exception("outbox.send_crashed", outbox_id=claim.outbox_id)
                outcome = SendOutcomeUnknown("the send failed unexpectedly")
            try:
                await self._record(claim, outcome)
            except Exception:  # the lease runs out and the recovery timer settles it
                log.exception("outbox.record_failed", outbox_id=claim.outbox_id)

    async def _send(self, claim: _Claim) -> SendResult | SendFailed:
        async with self._ctx.db.sessions() as session:
            row = await session.get(OutboxMessage, claim.outbox_id)
            endpoint = await session.get(Endpoint, row.endpoint_id) if row else None
            replied = await _last_inbound_data(session, row.thread_id, row.channel) if row else {}
            event = await session.get(ThreadEvent, row.event_id) if row else None
        if row is None or endpoint is None:
            return SendFailed("the message or its endpoint is gone", retryable=False)
        try:
            adapter = channels_of(self._ctx).sender(row.channel)
        except UnknownChannel:
            return SendFailed(f"no adapter sends on {row.channel}", retryable=False)
        try:
            files = await _outbound_files(self._ctx, event)
        except OSError:
            return SendFailed("an attachment is no longer stored", retryable=False)
        message = OutboundMessage(
            channel=row.channel,
            to=row.address,
            body=row.body,
            thread_id=row.thread_id,
            event_id=row.event_id,
            idempotency_key=row.id,
            attachments=files,
            data=replied,
            template=(event.data or {}).get("template") if event else None,
            interactive=(event.data or {}).get("interactive") if event else None,
            reply_markup=(event.data or {}).get("reply_markup") if event else None,
            quick_replies=_quick_replies(event),
        )
        try:
            return await asyncio.wait_for(
                adapter.send(endpoint_config(endpoint), message),
                self._ctx.settings.outbox_send_timeout_s,
            )
        except TimeoutError:
            return SendOutcomeUnknown("the provider did not answer in time")
        except SendFailed as exc:
            return exc

    async def _record(self, claim: _Claim, outcome: SendResult | SendFailed) -> None:
        """Phase 3: store what the provider said, unless the row moved on meanwhile."""
        settings = self._ctx.settings
        async with self._ctx.uow() as uow:
            row: OutboxMessage | None = await uow.lock(OutboxMessage, claim.outbox_id)
            if row is None or row.attempts != claim.attempt:
                return
            if row.status not in ("sending", "unknown"):
                return
            row.leased_until, row.updated_at = None, utcnow()
            if isinstance(outcome, SendResult):
                row.status, row.provider_msg_id, row.last_error = (
                    "sent",
                    outcome.provider_msg_id,
                    None,
                )
                await _announce(uow, row)
            elif isinstance(outcome, SendOutcomeUnknown):
                await _settle_unknown(uow, row, outcome.message)
            elif outcome.retryable and row.attempts < settings.outbox_max_attempts:
                delay = retry_delay(
                    row.attempts,
                    settings.outbox_backoff_s,
                    settings.outbox_backoff_max_s,
                    random.random(),  # noqa: S311 - jitter, not a secret
                    outcome.retry_after_s,
                )
                row.status, row.last_error = "queued", outcome.message[:500]
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                schedule(uow.session, row.org_id, OUTBOX_SEND, row.id, row.next_attempt_at)
                await _announce(uow, row, retry_in_s=round(delay, 3))
            else:
                await _settle_failed(uow, row, outcome.message)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let the sends in flight finish (briefly); any cut short is settled by its lease."""
        await finish(self._tasks, grace_s)


# ---- settling a row: timeline and bus ---------------------------------------------------------


async def _announce(
    uow: UnitOfWork, row: OutboxMessage, *, retry_in_s: float | None = None
) -> None:
    """Tell the desktop how the message is doing (`delivery` on the bus, after commit)."""
    thread = await uow.session.get(Thread, row.thread_id)
    uow.emit(
        DeliveryUpdated(
            org_id=row.org_id,
            thread_id=row.thread_id,
            customer_id=thread.customer_id if thread else None,
            agent_id=thread.assigned_agent_id if thread else None,
            event_id=row.event_id,
            outbox_id=row.id,
            channel=row.channel,
            status=row.status,
            attempts=row.attempts,
            error=row.last_error,
            retry_in_s=retry_in_s,
        )
    )


async def _settle_failed(uow: UnitOfWork, row: OutboxMessage, error: str) -> None:
    row.status, row.last_error, row.leased_until = "failed", error[:500], None
    await _problem(uow, row, "delivery_failed", f"Not delivered on {row.channel}: {error}")


async def _settle_unknown(uow: UnitOfWork, row: OutboxMessage, reason: str) -> None:
    """The provider may have the message: never resend it blindly; show it for review."""
    row.status, row.last_error, row.leased_until = "unknown", reason[:500], None
    row.updated_at = utcnow()
    await _problem(
        uow, row, "delivery_unknown", f"Delivery on {row.channel} unknown ({reason}); check it"
    )


async def _problem(uow: UnitOfWork, row: OutboxMessage, kind: str, text: str) -> None:
    """An internal timeline entry and a supervisor-wide bus event for a failed delivery."""
    thread = await lock_thread(uow, row.org_id, row.thread_id)
    append_event(
        uow,
        thread,
        kind=kind,
        channel=row.channel,
        author_type="system",
        body=text,
        data={"outbox_id": row.id, "event_id": row.event_id, "error": row.last_error},
    )
    await _announce(uow, row)
    uow.emit(
        DeliveryFailed(
            org_id=row.org_id,
            thread_id=row.thread_id,
            event_id=row.event_id,
            outbox_id=row.id,
            channel=row.channel,
            status=row.status,
            error=row.last_error,
        )
    )


# ---- provider status callbacks ---------------------------------------------------------------


async def do_delivery_status(
    ctx: Context, endpoint: Endpoint, update: StatusUpdate, outbox_id: str | None = None
) -> OutboxMessage | None:
    """Apply a provider's delivery report to its outbox row (found by our id when the
    callback URL carried it, else by the provider's message id); only moves a row forward.
    Returns None for a message this endpoint never sent through us."""
    async with ctx.uow() as uow:
        row = await _row_for(uow, endpoint, update, outbox_id)
        if row is None:
            return None
        if row.provider_msg_id is None:
            row.provider_msg_id = update.provider_msg_id  # settles an `unknown` send
        if PROGRESS.get(update.status, -1) <= PROGRESS[row.status]:
            return row
        was_unknown = row.status == "unknown"
        row.updated_at, row.leased_until = utcnow(), None
        if update.status == "failed":
            await _settle_failed(uow, row, update.error or "the provider reported a failure")
        else:
            row.status = update.status
            if was_unknown:
                row.last_error = None
            await _announce(uow, row)
        return row


async def _row_for(
    uow: UnitOfWork, endpoint: Endpoint, update: StatusUpdate, outbox_id: str | None
) -> OutboxMessage | None:
    row: OutboxMessage | None = None
    if outbox_id:
        row = await uow.lock(OutboxMessage, outbox_id)
    if row is None:
        row_id = await uow.session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.endpoint_id == endpoint.id,
                OutboxMessage.provider_msg_id == update.provider_msg_id,
            )
        )
        row = await uow.lock(OutboxMessage, row_id) if row_id else None
    if row is None or row.endpoint_id != endpoint.id:
        return None
    if row.provider_msg_id not in (None, update.provider_msg_id):
        return None
    return row
