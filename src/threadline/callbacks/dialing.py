"""Calling the customer back: the timers that open a callback's contact (a booked window
starts, a retry is due), the call placed when an agent accepts it, and its outcome.

When routing offers a callback contact and an agent accepts, the agent is reserved and sees
the thread first; the call goes out through the voice provider (channels/voice/outbound),
and its outcome comes back through the provider's status callback:

* answered: the customer is connected to the reserved agent;
* not answered: the contact ends, the agent is freed, and a durable timer brings the
  callback back to the head of the line after the policy's spacing; once the attempts
  are used up the customer is told (SMS) and may rebook by the link.

Timers make each step fire exactly once, across restarts; a watchdog timer covers a call
whose outcome never comes back. This is the one callbacks module that speaks to the voice
channel.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select

from threadline.callbacks.models import BOOKED, KEEP_PLACE, Callback
from threadline.callbacks.services import CALLBACK_DUE, CALLBACK_RETRY
from threadline.callbacks.texts import text_customer
from threadline.callbacks.tokens import manage_url
from threadline.callbacks.transitions import lock_callback, policy_of, record, wake
from threadline.channels.contract import CallFailed, CallOutcomeUnknown
from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.errors import ThreadlineError
from threadline.events.domain import CallbackFailed, CallOutcome, ContactAccepted
from threadline.orgs.models import Organization
from threadline.routing.callback_policy import BOOKED_PRIORITY, RETRY_PRIORITY, next_attempt_at
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread
from threadline.threads.services import lock_thread, reserve_entry_ids
from threadline.web.i18n import pick_language, translate
from threadline.workers import timers
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

CALLBACK_WATCH = "callback_watch"  # a call placed whose outcome never came back
PURPOSE = "callback"  # the outbound-call purpose the voice channel reports back with
WATCH_MARGIN_S = 120.0
ANSWERED = ("answered", "in-progress")
AGENT_MISSED = ("no-answer", "busy", "failed", "canceled")  # the agent's phone, not theirs
AGENT_MISSED_RETRY_S = 30.0
UNANSWERED = ("no-answer", "busy", "failed", "canceled", "no-outcome", "machine")


async def on_due(ctx: Context, uow: UnitOfWork, timer: Timer) -> None:
    """Timer: a booked window starts (or a retry is due): open the contact that will be
    offered to an agent, ahead of ordinary contacts."""
    callback = await lock_callback(uow, None, timer.ref_id)
    if callback.status != _expected(timer):
        return
    queue = await uow.session.get_one(Queue, callback.queue_id)
    thread = await lock_thread(uow, callback.org_id, callback.thread_id)
    payload = timer.payload or {}
    context: dict[str, Any] = {"callback_id": callback.id, **(payload.get("context") or {})}
    previous = await uow.session.get(Contact, callback.contact_id) if callback.contact_id else None
    reason = payload.get("reason") or (previous.reason if previous else None)
    if previous is not None:
        context = {**previous.context, **context}
        context.pop("call_sid", None)
    if timer.kind == CALLBACK_RETRY:
        context["callback_retry"] = True  # routing learns no wait from it
    contact = await ctx.routing.enqueue(
        uow,
        thread,
        queue,
        "voice",
        reason=reason,
        context=context,
        priority=BOOKED_PRIORITY if callback.kind == BOOKED else RETRY_PRIORITY,
        min_tier=previous.min_tier if previous else int(payload.get("min_tier") or 0),
    )
    if callback.kind == KEEP_PLACE and callback.place_at is not None:
        contact.enqueued_at = callback.place_at  # the place in line it kept
    # through the relationship, the unit of work inserts the contact first in the flush
    callback.contact, callback.contact_id, callback.status = contact, contact.id, "waiting"
    thread.status = "callback_scheduled"
    record(uow, thread, callback, "due" if timer.kind == CALLBACK_DUE else "retry")


def _expected(timer: Timer) -> str:
    """The status a callback is in when its timer opens its contact."""
    return "scheduled" if timer.kind == CALLBACK_DUE else "retry_wait"


async def on_accepted(ctx: Context, uow: UnitOfWork, contact: Contact, thread: Thread) -> None:
    """Routing hook: an agent accepted a callback contact. The agent is reserved; the call
    goes out once this commits, and a watchdog timer covers a crash before it does."""
    callback_id = contact.context.get("callback_id")
    if not callback_id:
        return
    callback = await lock_callback(uow, contact.org_id, callback_id)
    if callback.status != "waiting":
        return
    queue = await uow.session.get_one(Queue, callback.queue_id)
    policy = policy_of(queue)
    callback.status, callback.agent_id = "dialing", contact.agent_id
    callback.contact_id, callback.call_sid = contact.id, None
    callback.attempts += 1
    record(uow, thread, callback, "dialing", agent_id=contact.agent_id)
    due = utcnow() + timedelta(seconds=policy.ring_timeout_s + WATCH_MARGIN_S)
    timers.schedule(
        uow.session,
        callback.org_id,
        CALLBACK_WATCH,
        callback.id,
        due,
        {"attempt": callback.attempts},
    )
    attempt, org_id, cb_id = callback.attempts, callback.org_id, callback.id
    uow.after_commit(lambda: _dial(ctx, org_id, cb_id, attempt))


async def _on_contact_accepted(ctx: Context, uow: UnitOfWork, event: ContactAccepted) -> None:
    """In the accepting transaction: a callback contact's call is prepared (on_accepted)."""
    contact: Contact | None = await uow.lock(Contact, event.contact_id)
    if contact is None or not contact.context.get("callback_id"):
        return
    thread = await lock_thread(uow, event.org_id, event.thread_id)
    await on_accepted(ctx, uow, contact, thread)


async def _dial(ctx: Context, org_id: str, callback_id: str, attempt: int) -> None:
    """Place the call (outside any transaction) and record its id."""
    async with ctx.db.sessions() as session:
        callback = await session.get(Callback, callback_id)
        if callback is None or callback.status != "dialing" or callback.attempts != attempt:
            return
        queue = await session.get(Queue, callback.queue_id)
        to, thread_id, agent_id = callback.phone, callback.thread_id, callback.agent_id
        language = pick_language(callback.language)
    company = await _company_name(ctx, org_id)
    try:
        call = await ctx.channels.calls.place_call(
            org_id,
            to=to,
            thread_id=thread_id,
            agent_id=agent_id,
            purpose=PURPOSE,
            ref_id=callback_id,
            language=language,
            announce=translate(language, "callback_announce", company=company),
            timeout_s=policy_of(queue).ring_timeout_s if queue else None,
        )
    except CallOutcomeUnknown:
        # it may ring: its status callback will tell; if none comes, the watchdog retries
        log.warning("callbacks.dial_unknown", callback_id=callback_id)
        return
    except (CallFailed, ThreadlineError) as exc:  # refused, no voice number, bad number
        log.warning("callbacks.dial_failed", callback_id=callback_id, error=str(exc))
        async with ctx.uow() as uow:
            callback = await lock_callback(uow, org_id, callback_id)
            if callback.status == "dialing" and callback.attempts == attempt:
                await _unanswered(ctx, uow, callback, "failed")
        return
    async with ctx.uow() as uow:
        callback = await lock_callback(uow, org_id, callback_id)
        if callback.attempts == attempt and callback.call_sid is None:
            callback.call_sid = call.call_sid


async def _company_name(ctx: Context, org_id: str) -> str:
    async with ctx.db.sessions() as session:
        org = await session.get(Organization, org_id)
    return org.name if org is not None else ""


async def on_call_outcome(ctx: Context, uow: UnitOfWork, outcome: Any) -> None:
    """Voice outcome handler for callback calls: answered, completed or not answered."""
    callback: Callback | None = await uow.lock(Callback, outcome.ref_id)
    if callback is None or callback.org_id != outcome.org_id:
        log.warning("callbacks.outcome_unknown", ref_id=outcome.ref_id, call_sid=outcome.call_sid)
        return  # not ours (deleted, or a call placed for something else under this name)
    if callback.call_sid and outcome.call_sid != callback.call_sid:
        return  # the outcome of an earlier attempt
    status = outcome.status
    if getattr(outcome, "answered_by", None) in ("machine_start", "fax"):
        status = "machine"
    thread = await lock_thread(uow, callback.org_id, callback.thread_id)
    if status in ANSWERED and callback.status == "dialing":
        callback.status, callback.call_sid = "connected", outcome.call_sid
        await timers.cancel(uow.session, CALLBACK_WATCH, callback.id)
        record(uow, thread, callback, "answered")
    elif status == "completed" and callback.status in ("dialing", "connected"):
        await timers.cancel(uow.session, CALLBACK_WATCH, callback.id)
        if getattr(outcome, "agent_status", None) in AGENT_MISSED:
            await _agent_missed(ctx, uow, thread, callback)
            return
        callback.status, callback.outcome, callback.ended_at = "completed", "answered", utcnow()
        record(uow, thread, callback, "completed", duration_s=outcome.duration_s)
    elif status in UNANSWERED and callback.status == "dialing":
        await timers.cancel(uow.session, CALLBACK_WATCH, callback.id)
        await _unanswered(ctx, uow, callback, status)


async def _agent_missed(ctx: Context, uow: UnitOfWork, thread: Thread, callback: Callback) -> None:
    """The customer answered but the reserved agent's phone did not (they were told we will
    call again): not the customer's attempt; back to the head of the line shortly."""
    if callback.contact_id:
        contact: Contact | None = await uow.lock(Contact, callback.contact_id)
        if contact is not None:
            await ctx.routing.end_by_system(uow, contact, "callback agent missed")
    callback.attempts = max(callback.attempts - 1, 0)
    callback.status, callback.agent_id, callback.outcome = "retry_wait", None, "agent-missed"
    retry_at = utcnow() + timedelta(seconds=AGENT_MISSED_RETRY_S)
    timers.schedule(uow.session, callback.org_id, CALLBACK_RETRY, callback.id, retry_at)
    record(uow, thread, callback, "agent_missed", retry_at=retry_at.isoformat())
    uow.after_commit(wake(ctx))


async def on_watch(ctx: Context, uow: UnitOfWork, timer: Timer) -> None:
    """Timer: a call was placed (or should have been) and no outcome came back in time."""
    callback = await lock_callback(uow, None, timer.ref_id)
    if callback.status == "dialing" and callback.attempts == (timer.payload or {}).get("attempt"):
        await _unanswered(ctx, uow, callback, "no-outcome")


async def _unanswered(ctx: Context, uow: UnitOfWork, callback: Callback, why: str) -> None:
    """Not answered: free the agent; retry per the policy, or tell the customer."""
    queue = await uow.session.get_one(Queue, callback.queue_id)
    policy = policy_of(queue)
    thread = await lock_thread(uow, callback.org_id, callback.thread_id)
    if callback.contact_id:
        contact: Contact | None = await uow.lock(Contact, callback.contact_id)
        if contact is not None:
            await ctx.routing.end_by_system(uow, contact, f"callback {why}")
    callback.outcome = why
    retry_at = next_attempt_at(policy, callback.attempts, utcnow())
    if retry_at is not None and callback.attempts < callback.max_attempts:
        callback.status, callback.agent_id = "retry_wait", None
        timers.schedule(uow.session, callback.org_id, CALLBACK_RETRY, callback.id, retry_at)
        record(uow, thread, callback, "not_answered", why=why, retry_at=retry_at.isoformat())
        uow.after_commit(wake(ctx))
        return
    callback.status, callback.ended_at = "failed", utcnow()
    thread.status = "waiting_customer" if thread.assigned_agent_id else "resolved"
    record(uow, thread, callback, "failed", why=why)
    uow.emit(
        CallbackFailed(
            org_id=callback.org_id,
            callback_id=callback.id,
            thread_id=thread.id,
            customer_id=callback.customer_id,
            attempts=callback.attempts,
            why=why,
            queue_id=callback.queue_id,
        )
    )
    await text_customer(
        ctx,
        uow,
        thread,
        callback,
        "callback_failed",
        attempts=str(callback.attempts),
        link=manage_url(ctx, callback.id),
    )


async def _prepare_due(uow: UnitOfWork, due: list[Timer]) -> None:
    """A batch's rows in four queries instead of four per timer: its callbacks and their
    threads locked (in that order, as on_due takes them), their queues and earlier contacts
    loaded; the transaction holds them, so on_due finds each in the session."""
    await uow.lock_many(Callback, [t.ref_id for t in due])
    callbacks = [c for t in due if (c := await uow.session.get(Callback, t.ref_id)) is not None]
    await uow.lock_many(Thread, [c.thread_id for c in callbacks])
    held = uow.extras.setdefault("callbacks.loaded", [])
    queue_ids = sorted({c.queue_id for c in callbacks})
    held.extend(await uow.session.scalars(select(Queue).where(Queue.id.in_(queue_ids))))
    if contact_ids := sorted({c.contact_id for c in callbacks if c.contact_id}):
        held.extend(await uow.session.scalars(select(Contact).where(Contact.id.in_(contact_ids))))
    # each callback that opens its contact writes two timeline entries (queued, due)
    by_id = {c.id: c for c in callbacks}
    opening = sum(1 for t in due if (c := by_id.get(t.ref_id)) and c.status == _expected(t))
    await reserve_entry_ids(uow, 2 * opening)


def register(ctx: Context) -> None:
    """Wire the callbacks into the routing service, the timer worker and the voice channel."""
    ctx.handlers.in_transaction(
        ContactAccepted, lambda uow, event: _on_contact_accepted(ctx, uow, event)
    )
    worker = ctx.timers
    worker.register(CALLBACK_DUE, lambda uow, timer: on_due(ctx, uow, timer), _prepare_due)
    worker.register(CALLBACK_RETRY, lambda uow, timer: on_due(ctx, uow, timer), _prepare_due)
    worker.register(CALLBACK_WATCH, lambda uow, timer: on_watch(ctx, uow, timer))
    ctx.handlers.in_transaction(CallOutcome, lambda uow, event: _on_call_outcome(ctx, uow, event))


async def _on_call_outcome(ctx: Context, uow: UnitOfWork, event: CallOutcome) -> None:
    if event.purpose == PURPOSE:
        await on_call_outcome(ctx, uow, event)
