"""Callbacks, the stored side: keep my place, booked windows, the calls and their retries.

Keep my place: the customer's waiting contact stays in its queue with its original place
in line and becomes a voice contact (the callback is a phone call); a callback row holds
the promise.  When routing offers it and an agent accepts, the agent is reserved and sees
the thread first; the call goes out through the voice provider (channels/voice/outbound),
and its outcome comes back through the provider's status callback:

* answered: the customer is connected to the reserved agent;
* not answered: the contact ends, the agent is freed, and a durable timer brings the
  callback back to the head of the line after the policy's spacing; once the attempts
  are used up the customer is told (SMS) and may rebook by the link.

Booked: a window the staffing plan has room for (callbacks/policy.py); a durable timer
opens the contact when the window starts, ahead of ordinary contacts.  Every transition
is one transaction with its timeline entry; timers make each step fire exactly once,
across restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from threadline.callbacks.models import BOOKED, KEEP_PLACE, OPEN, Callback
from threadline.callbacks.policy import (
    BOOKED_PRIORITY,
    RETRY_PRIORITY,
    CallbackPolicy,
    Window,
    next_attempt_at,
    offerable,
    parse_policy,
    should_offer,
    windows,
)
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.identities import normalise_phone
from threadline.customers.models import Customer, Identity
from threadline.customers.services import add_identity
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotFound, ThreadlineError
from threadline.i18n.waits import wait_phrase
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread
from threadline.threads.services import append_event, lock_thread, open_thread
from threadline.web.i18n import pick_language, translate
from threadline.workers import timers
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

CALLBACK_DUE = "callback_due"  # a booked window starts
CALLBACK_RETRY = "callback_retry"  # the next attempt of an unanswered callback
CALLBACK_WATCH = "callback_watch"  # a call placed whose outcome never came back
PURPOSE = "callback"  # the outbound-call purpose the voice channel reports back with
WATCH_MARGIN_S = 120.0
FORECAST_WEEKS = 4
MANAGE_SALT = "callback-manage"
ANSWERED = ("answered", "in-progress")
AGENT_MISSED = ("no-answer", "busy", "failed", "canceled")  # the agent's phone, not theirs
AGENT_MISSED_RETRY_S = 30.0
UNANSWERED = ("no-answer", "busy", "failed", "canceled", "no-outcome", "machine")


# ---------------------------------------------------------------- helpers
def manage_token(ctx: Context, callback_id: str) -> str:
    """The signed token in the customer's manage link (reschedule, cancel)."""
    serializer = URLSafeSerializer(ctx.settings.secret_key.get_secret_value(), salt=MANAGE_SALT)
    return serializer.dumps(callback_id)


def callback_id_from(ctx: Context, token: str) -> str:
    serializer = URLSafeSerializer(ctx.settings.secret_key.get_secret_value(), salt=MANAGE_SALT)
    try:
        value = serializer.loads(token)
    except BadSignature:
        raise NotFound("no such callback") from None
    if not isinstance(value, str):
        raise NotFound("no such callback")
    return value


def manage_url(ctx: Context, callback_id: str) -> str:
    return f"{ctx.settings.base_url.rstrip('/')}/callback/{manage_token(ctx, callback_id)}"


def _policy(queue: Queue) -> CallbackPolicy:
    return parse_policy(queue.callback_policy or {})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def _mask(phone: str) -> str:
    return phone[:-4].rstrip() + "\u2022\u2022" + phone[-2:] if len(phone) > 6 else phone


def _when(callback: Callback, zone: str) -> str:
    if callback.window_start is None or callback.window_end is None:
        return ""
    tz = ZoneInfo(zone)
    start = _aware(callback.window_start).astimezone(tz)
    end = _aware(callback.window_end).astimezone(tz)
    return f"{start:%a %d %b %H:%M}\u2013{end:%H:%M}"


async def _customer_zone(session: Any, customer_id: str, policy: CallbackPolicy) -> str:
    customer = await session.get(Customer, customer_id)
    zone = getattr(customer, "timezone", None)
    return zone or policy.timezone


def _event(uow: UnitOfWork, thread: Thread, callback: Callback, action: str, **data: Any) -> None:
    append_event(
        uow,
        thread,
        kind="callback",
        channel="voice",
        author_type="system",
        contact_id=callback.contact_id,
        body=None,
        data={
            "callback_id": callback.id,
            "action": action,
            "kind": callback.kind,
            "status": callback.status,
            "phone": _mask(callback.phone),
            "attempts": callback.attempts,
            **data,
        },
    )
    uow.publish(
        {
            "type": "callback.changed",
            "org_id": callback.org_id,
            "callback_id": callback.id,
            "thread_id": callback.thread_id,
            "customer_id": callback.customer_id,
            "status": callback.status,
            "action": action,
        }
    )


async def _text_customer(
    ctx: Context, uow: UnitOfWork, thread: Thread, callback: Callback, key: str, **values: str
) -> bool:
    """Text the customer (SMS through the outbox) in their language, if an SMS endpoint is
    configured; returns whether a message was queued."""
    endpoint = await uow.session.scalar(
        select(Endpoint.id).where(
            Endpoint.org_id == callback.org_id, Endpoint.channel == "sms", Endpoint.active.is_(True)
        )
    )
    if endpoint is None:
        return False
    reachable = await uow.session.scalar(
        select(Identity.id)
        .where(Identity.customer_id == callback.customer_id, Identity.kind == "phone")
        .limit(1)
    )
    if reachable is None:
        return False  # the number given is another customer's: we call it, but text nobody
    language = pick_language(callback.language)
    await _send_text(ctx, uow, thread, key, language, data={"callback_id": callback.id}, **values)
    return True


async def _lock_callback(uow: UnitOfWork, org_id: str | None, callback_id: str) -> Callback:
    callback: Callback | None = await uow.lock(Callback, callback_id)
    if callback is None or (org_id is not None and callback.org_id != org_id):
        raise NotFound("no such callback")
    return callback


async def _phone_for(uow: UnitOfWork, customer: Customer, phone: str | None) -> str:
    """The number to call: the one given (kept on the customer as an unverified identity),
    else the customer's own."""
    if phone:
        number = normalise_phone(phone)
        await add_identity(uow.session, customer, "phone", number, verified=False)
        return number
    if customer.phone:
        return customer.phone
    raise Invalid("a phone number to call back is needed")


async def _new_callback(
    uow: UnitOfWork,
    thread: Thread,
    customer: Customer,
    queue: Queue,
    kind: str,
    status: str,
    phone: str,
    language: str | None,
    **fields: Any,
) -> Callback:
    callback = Callback(
        org_id=thread.org_id,
        thread_id=thread.id,
        customer_id=customer.id,
        queue_id=queue.id,
        kind=kind,
        status=status,
        phone=phone,
        language=language or thread.language or customer.language,
        max_attempts=_policy(queue).max_attempts,
        **fields,
    )
    uow.session.add(callback)
    await uow.session.flush()
    return callback


# ---------------------------------------------------------------- offer
@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """What a waiting customer may choose instead of waiting."""

    contact_id: str
    keep_place: bool
    booking: bool
    position: int | None
    ewt_s: float | None
    low_s: float | None
    high_s: float | None


async def callback_offer(ctx: Context, org_id: str, contact_id: str) -> CallbackOffer | None:
    """The callback offer for a waiting contact, when its wait passes its queue's
    threshold (None otherwise)."""
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.org_id != org_id or contact.status != "queued":
            return None
        if contact.context.get("callback_id"):
            return None
        queue = await session.get(Queue, contact.queue_id)
    policy = _policy(queue)
    estimate = await ctx.routing.estimate(org_id, contact_id)
    ewt_s = None if estimate is None else estimate.ewt_s
    if not should_offer(policy, ewt_s):
        return None
    return CallbackOffer(
        contact_id=contact_id,
        keep_place=policy.keep_place,
        booking=policy.booking,
        position=estimate.position if estimate else None,
        ewt_s=ewt_s,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
    )


# ---------------------------------------------------------------- keep my place
async def do_keep_my_place(
    ctx: Context, org_id: str, contact_id: str, *, phone: str | None, language: str | None = None
) -> Callback:
    """The waiting customer chose to be called back without losing their place."""
    async with ctx.uow() as uow:
        contact: Contact | None = await uow.lock(Contact, contact_id)
        if contact is None or contact.org_id != org_id:
            raise NotFound("no such contact")
        if contact.status == "offered":
            raise Conflict("an agent is taking this contact right now")
        if contact.status != "queued":
            raise Conflict("this contact is no longer waiting")
        if existing := contact.context.get("callback_id"):
            return await _lock_callback(uow, org_id, existing)
        queue: Queue = await uow.session.get(Queue, contact.queue_id)
        policy = _policy(queue)
        if not policy.enabled or not policy.keep_place:
            raise Conflict("this queue does not offer callbacks")
        thread = await lock_thread(uow, org_id, contact.thread_id)
        customer: Customer = await uow.lock(Customer, contact.customer_id)
        number = await _phone_for(uow, customer, phone)
        callback = await _new_callback(
            uow,
            thread,
            customer,
            queue,
            KEEP_PLACE,
            "waiting",
            number,
            language,
            contact_id=contact.id,
            place_at=contact.enqueued_at,
        )
        context = dict(contact.context)
        if call_sid := context.pop("call_sid", None):
            context["from_call_sid"] = call_sid  # hanging up now no longer abandons it
        context["callback_id"] = callback.id
        contact.context = context
        contact.channel = "voice"
        thread.status = "callback_scheduled"
        estimate = await ctx.routing.estimate(org_id, contact.id)
        _event(
            uow,
            thread,
            callback,
            "requested",
            position=estimate.position if estimate else None,
        )
        await _text_customer(
            ctx,
            uow,
            thread,
            callback,
            "callback_confirm_keep",
            phone=number,
            position=str(estimate.position if estimate else ""),
            link=manage_url(ctx, callback.id),
        )
        uow.after_commit(lambda: ctx.routing.place(org_id, contact_id))
    return callback


# ---------------------------------------------------------------- booked windows
async def _forecast(
    session: Any, queue_id: str, window: Window, now: datetime, weeks: int = FORECAST_WEEKS
) -> float:
    """Contacts expected in the window: the mean over the same window of past weeks."""
    total = 0
    for back in range(1, weeks + 1):
        shift = timedelta(weeks=back)
        total += int(
            await session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(
                    Contact.queue_id == queue_id,
                    Contact.enqueued_at >= window.start - shift,
                    Contact.enqueued_at < window.end - shift,
                )
            )
            or 0
        )
    return total / weeks


async def _booked_counts(session: Any, queue_id: str, start: datetime) -> dict[datetime, int]:
    rows = await session.execute(
        select(Callback.window_start, func.count())
        .where(
            Callback.queue_id == queue_id,
            Callback.kind == BOOKED,
            Callback.status.in_(OPEN),
            Callback.window_start >= start,
        )
        .group_by(Callback.window_start)
    )
    return {_aware(moment): count for moment, count in rows}


async def _offerable(
    ctx: Context, session: Any, queue: Queue, now: datetime
) -> list[tuple[Window, int]]:
    policy = _policy(queue)
    if not policy.enabled or not policy.booking:
        return []
    candidates = windows(policy, now, queue.business_hours or None)
    if not candidates:
        return []
    forecasts = {w.start: await _forecast(session, queue.id, w, now) for w in candidates}
    booked = await _booked_counts(session, queue.id, candidates[0].start)
    return offerable(
        candidates,
        forecast=lambda w: forecasts[w.start],
        booked=lambda w: booked.get(w.start, 0),
        aht_s=ctx.routing.waits.figures(queue.id).handle.mean_s,
        answer_within_s=float(queue.sl_threshold_s),
        target=min(queue.sl_target_pct / 100.0, 0.999),
    )


async def available_windows(
    ctx: Context, org_id: str, queue_id: str, *, limit: int = 48
) -> list[tuple[Window, int]]:
    """Windows a customer may book now in this queue, with the room left in each."""
    async with ctx.db.sessions() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            raise NotFound("no such queue")
        return (await _offerable(ctx, session, queue, utcnow()))[:limit]


async def _check_window(ctx: Context, uow: UnitOfWork, queue: Queue, start: datetime) -> Window:
    start = _aware(start)
    for window, _room in await _offerable(ctx, uow.session, queue, utcnow()):
        if window.start == start:
            return window
    raise Conflict("that window is not available; choose another")


async def do_book(
    ctx: Context,
    org_id: str,
    *,
    customer_id: str,
    queue_id: str,
    window_start: datetime,
    phone: str | None,
    reason: str | None = None,
    context: Mapping[str, Any] | None = None,
    language: str | None = None,
    min_tier: int = 0,
) -> Callback:
    """Book a callback in a window with forecast room (Conflict when there is none); the
    reason, what the customer entered and the tier travel to the contact it opens."""
    async with ctx.uow() as uow:
        # the queue row serialises bookings, so two customers never take the last place
        queue: Queue | None = await uow.lock(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            raise NotFound("no such queue")
        customer: Customer | None = await uow.lock(Customer, customer_id)
        if customer is None or customer.org_id != org_id:
            raise NotFound("no such customer")
        window = await _check_window(ctx, uow, queue, window_start)
        number = await _phone_for(uow, customer, phone)
        thread = await open_thread(
            uow.session, org_id, customer.id, language or customer.language, for_update=True
        )
        thread = await lock_thread(uow, org_id, thread.id)
        callback = await _new_callback(
            uow,
            thread,
            customer,
            queue,
            BOOKED,
            "scheduled",
            number,
            language,
            window_start=window.start,
            window_end=window.end,
        )
        # what the customer already told us travels to the agent with the contact
        thread_context = {"reason": reason, "context": dict(context or {}), "min_tier": min_tier}
        timers.schedule(
            uow.session, org_id, CALLBACK_DUE, callback.id, window.start, thread_context
        )
        if thread.status in ("resolved", "bot"):
            thread.status = "callback_scheduled"
        zone = await _customer_zone(uow.session, customer.id, _policy(queue))
        _event(uow, thread, callback, "booked", window=_when(callback, zone))
        await _text_customer(
            ctx,
            uow,
            thread,
            callback,
            "callback_confirm_booked",
            phone=number,
            when=_when(callback, zone),
            link=manage_url(ctx, callback.id),
        )
        uow.after_commit(_wake(ctx))
    return callback


async def do_reschedule(
    ctx: Context, org_id: str | None, callback_id: str, window_start: datetime
) -> Callback:
    """Move a booked callback whose window has not started to another window."""
    async with ctx.uow() as uow:
        callback = await _lock_callback(uow, org_id, callback_id)
        if callback.kind != BOOKED or callback.status != "scheduled":
            raise Conflict("only a booked callback that has not started can be rescheduled")
        queue: Queue = await uow.lock(Queue, callback.queue_id)
        window = await _check_window(ctx, uow, queue, window_start)
        payload = await uow.session.scalar(
            select(Timer.payload).where(
                Timer.kind == CALLBACK_DUE, Timer.ref_id == callback.id, Timer.fired_at.is_(None)
            )
        )
        await timers.cancel(uow.session, CALLBACK_DUE, callback.id)
        callback.window_start, callback.window_end = window.start, window.end
        timers.schedule(
            uow.session, callback.org_id, CALLBACK_DUE, callback.id, window.start, payload or {}
        )
        thread = await lock_thread(uow, callback.org_id, callback.thread_id)
        zone = await _customer_zone(uow.session, callback.customer_id, _policy(queue))
        _event(uow, thread, callback, "rescheduled", window=_when(callback, zone))
        uow.after_commit(_wake(ctx))
    return callback


async def do_cancel(ctx: Context, org_id: str | None, callback_id: str, *, by: str) -> Callback:
    """Cancel a callback that has not connected; a held place in line is given up."""
    async with ctx.uow() as uow:
        callback = await _lock_callback(uow, org_id, callback_id)
        if callback.status in ("completed", "failed", "cancelled"):
            return callback
        if callback.status in ("dialing", "connected"):
            raise Conflict("the call is already under way")
        await timers.cancel(uow.session, CALLBACK_DUE, callback.id)
        await timers.cancel(uow.session, CALLBACK_RETRY, callback.id)
        callback.status, callback.outcome, callback.ended_at = (
            "cancelled",
            f"cancelled by {by}",
            utcnow(),
        )
        thread = await lock_thread(uow, callback.org_id, callback.thread_id)
        if callback.contact_id:
            contact: Contact | None = await uow.lock(Contact, callback.contact_id)
            if contact is not None and contact.status in ("queued", "offered"):
                await ctx.routing.abandon(uow, contact, "callback cancelled")
        if thread.status == "callback_scheduled":
            thread.status = "resolved" if thread.assigned_agent_id is None else "assigned"
        _event(uow, thread, callback, "cancelled", by=by)
    return callback


# ---------------------------------------------------------------- the calls
async def on_due(ctx: Context, uow: UnitOfWork, timer: Timer) -> None:
    """Timer: a booked window starts (or a retry is due): open the contact that will be
    offered to an agent, ahead of ordinary contacts."""
    callback = await _lock_callback(uow, None, timer.ref_id)
    expected = "scheduled" if timer.kind == CALLBACK_DUE else "retry_wait"
    if callback.status != expected:
        return
    queue: Queue = await uow.session.get(Queue, callback.queue_id)
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
    _event(uow, thread, callback, "due" if timer.kind == CALLBACK_DUE else "retry")


async def on_accepted(ctx: Context, uow: UnitOfWork, contact: Contact, thread: Thread) -> None:
    """Routing hook: an agent accepted a callback contact. The agent is reserved; the call
    goes out once this commits, and a watchdog timer covers a crash before it does."""
    callback_id = contact.context.get("callback_id")
    if not callback_id:
        return
    callback = await _lock_callback(uow, contact.org_id, callback_id)
    if callback.status != "waiting":
        return
    queue: Queue = await uow.session.get(Queue, callback.queue_id)
    policy = _policy(queue)
    callback.status, callback.agent_id = "dialing", contact.agent_id
    callback.contact_id, callback.call_sid = contact.id, None
    callback.attempts += 1
    _event(uow, thread, callback, "dialing", agent_id=contact.agent_id)
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


async def _dial(ctx: Context, org_id: str, callback_id: str, attempt: int) -> None:
    """Place the call (outside any transaction) and record its id."""
    from threadline.channels.voice.exceptions import CallFailed, CallOutcomeUnknown
    from threadline.channels.voice.outbound import place_call

    async with ctx.db.sessions() as session:
        callback = await session.get(Callback, callback_id)
        if callback is None or callback.status != "dialing" or callback.attempts != attempt:
            return
        queue = await session.get(Queue, callback.queue_id)
        to, thread_id, agent_id = callback.phone, callback.thread_id, callback.agent_id
        language = pick_language(callback.language)
    company = await _company_name(ctx, org_id)
    try:
        call = await place_call(
            ctx,
            org_id,
            to=to,
            thread_id=thread_id,
            agent_id=agent_id,
            purpose=PURPOSE,
            ref_id=callback_id,
            language=language,
            announce=translate(language, "callback_announce", company=company),
            timeout_s=_policy(queue).ring_timeout_s if queue else None,
        )
    except CallOutcomeUnknown:
        # it may ring: its status callback will tell; if none comes, the watchdog retries
        log.warning("callbacks.dial_unknown", callback_id=callback_id)
        return
    except (CallFailed, ThreadlineError) as exc:  # refused, no voice number, bad number
        log.warning("callbacks.dial_failed", callback_id=callback_id, error=str(exc))
        async with ctx.uow() as uow:
            callback = await _lock_callback(uow, org_id, callback_id)
            if callback.status == "dialing" and callback.attempts == attempt:
                await _unanswered(ctx, uow, callback, "failed")
        return
    async with ctx.uow() as uow:
        callback = await _lock_callback(uow, org_id, callback_id)
        if callback.attempts == attempt and callback.call_sid is None:
            callback.call_sid = call.call_sid


async def _company_name(ctx: Context, org_id: str) -> str:
    from threadline.orgs.models import Organization

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
        _event(uow, thread, callback, "answered")
    elif status == "completed" and callback.status in ("dialing", "connected"):
        await timers.cancel(uow.session, CALLBACK_WATCH, callback.id)
        if getattr(outcome, "agent_status", None) in AGENT_MISSED:
            await _agent_missed(ctx, uow, thread, callback)
            return
        callback.status, callback.outcome, callback.ended_at = "completed", "answered", utcnow()
        _event(uow, thread, callback, "completed", duration_s=outcome.duration_s)
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
    _event(uow, thread, callback, "agent_missed", retry_at=retry_at.isoformat())
    uow.after_commit(_wake(ctx))


async def on_watch(ctx: Context, uow: UnitOfWork, timer: Timer) -> None:
    """Timer: a call was placed (or should have been) and no outcome came back in time."""
    callback = await _lock_callback(uow, None, timer.ref_id)
    if callback.status == "dialing" and callback.attempts == (timer.payload or {}).get("attempt"):
        await _unanswered(ctx, uow, callback, "no-outcome")


async def _unanswered(ctx: Context, uow: UnitOfWork, callback: Callback, why: str) -> None:
    """Not answered: free the agent; retry per the policy, or tell the customer."""
    queue: Queue = await uow.session.get(Queue, callback.queue_id)
    policy = _policy(queue)
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
        _event(uow, thread, callback, "not_answered", why=why, retry_at=retry_at.isoformat())
        uow.after_commit(_wake(ctx))
        return
    callback.status, callback.ended_at = "failed", utcnow()
    thread.status = "waiting_customer" if thread.assigned_agent_id else "resolved"
    _event(uow, thread, callback, "failed", why=why)
    await _text_customer(
        ctx,
        uow,
        thread,
        callback,
        "callback_failed",
        attempts=str(callback.attempts),
        link=manage_url(ctx, callback.id),
    )


def _wake(ctx: Context) -> Any:
    async def wake() -> None:
        if worker := ctx.extras.get("timers"):
            worker.wake()

    return wake


# ---------------------------------------------------------------- reads
async def get_callback(ctx: Context, org_id: str | None, callback_id: str) -> Callback:
    async with ctx.db.sessions() as session:
        callback = await session.get(Callback, callback_id)
    if callback is None or (org_id is not None and callback.org_id != org_id):
        raise NotFound("no such callback")
    return callback


async def list_callbacks(
    ctx: Context, org_id: str, *, status: str | None, customer_id: str | None, limit: int
) -> list[Callback]:
    query = select(Callback).where(Callback.org_id == org_id)
    if status:
        query = query.where(Callback.status == status)
    if customer_id:
        query = query.where(Callback.customer_id == customer_id)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Callback.created_at.desc()).limit(limit)))


async def _prepare_due(uow: UnitOfWork, due: list[Timer]) -> None:
    """Lock a batch's callbacks, then their threads, in two queries."""
    await uow.lock_many(Callback, [t.ref_id for t in due])
    thread_ids = [
        c.thread_id for t in due if (c := await uow.session.get(Callback, t.ref_id)) is not None
    ]
    await uow.lock_many(Thread, thread_ids)


def register(ctx: Context) -> None:
    """Wire the callbacks into the routing service, the timer worker and the voice channel."""
    ctx.routing.accept_hooks.append(
        lambda uow, contact, thread: on_accepted(ctx, uow, contact, thread)
    )
    worker = ctx.extras["timers"]
    worker.register(CALLBACK_DUE, lambda uow, timer: on_due(ctx, uow, timer), _prepare_due)
    worker.register(CALLBACK_RETRY, lambda uow, timer: on_due(ctx, uow, timer), _prepare_due)
    worker.register(CALLBACK_WATCH, lambda uow, timer: on_watch(ctx, uow, timer))
    from threadline.channels.voice.outbound import register_outcome_handler

    register_outcome_handler(ctx, PURPOSE, lambda uow, outcome: on_call_outcome(ctx, uow, outcome))


async def contact_wait(ctx: Context, org_id: str, contact_id: str) -> Any:
    """A contact's live place, its wait as a range, and the callback it may take."""
    from threadline.callbacks.schemas import WaitOut

    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
    if contact is None or contact.org_id != org_id:
        raise NotFound("no such contact")
    estimate = await ctx.routing.estimate(org_id, contact_id)
    offer = await callback_offer(ctx, org_id, contact_id)
    return WaitOut(
        contact_id=contact.id,
        status=contact.status,
        position=estimate.position if estimate else None,
        agents=estimate.agents if estimate else None,
        ewt_s=estimate.as_data()["ewt_s"] if estimate else None,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
        callback_offer=(
            {"keep_place": offer.keep_place, "booking": offer.booking, "queue_id": contact.queue_id}
            if offer
            else None
        ),
    )


async def public_view(ctx: Context, callback_id: str) -> Any:
    """The customer's view of their callback (manage link, app)."""
    from threadline.callbacks.schemas import PublicCallbackOut

    callback = await get_callback(ctx, None, callback_id)
    estimate = None
    if callback.status == "waiting" and callback.contact_id:
        estimate = await ctx.routing.estimate(callback.org_id, callback.contact_id)
    return PublicCallbackOut(
        kind=callback.kind,
        status=callback.status,
        phone=_mask(callback.phone),
        window_start=callback.window_start,
        window_end=callback.window_end,
        attempts=callback.attempts,
        max_attempts=callback.max_attempts,
        position=estimate.position if estimate else None,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
    )


# ---------------------------------------------------------------- by text message
CANCEL_WORDS = frozenset(
    {"cancel", "cancelar", "cancela", "отмена", "отменить", "ακύρωση", "ακυρωση"}
)
KEEP_WORDS = frozenset({"1", "callback", "call me", "ligar", "llamar", "позвонить", "κλήση"})


def callback_word(body: str) -> str | None:
    """The callback keyword a text message is (CANCEL, 1, ...), or None."""
    word = " ".join(body.strip().casefold().rstrip(".!").split())
    return word if word in CANCEL_WORDS or word in KEEP_WORDS else None


async def on_text(ctx: Context, org_id: str, thread_id: str, sender: str, body: str) -> None:
    """A customer's text message, stored: CANCEL cancels their open callback; 1 accepts the
    callback offered to their waiting SMS contact; a new SMS contact whose wait is long
    is offered a callback, once."""
    word = callback_word(body)
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.org_id != org_id:
            return
        callback_id = await session.scalar(
            select(Callback.id)
            .where(
                Callback.customer_id == thread.customer_id,
                Callback.status.in_(("scheduled", "waiting", "retry_wait")),
            )
            .order_by(Callback.created_at.desc())
            .limit(1)
        )
        contact = await session.scalar(
            select(Contact).where(
                Contact.thread_id == thread_id,
                Contact.channel == "sms",
                Contact.status == "queued",
            )
        )
    if word in CANCEL_WORDS and callback_id:
        cancelled = await do_cancel(ctx, org_id, callback_id, by="customer (SMS)")
        await _text_about(ctx, cancelled, "callback_cancelled")
        return
    if contact is None:
        return
    if word in KEEP_WORDS and contact.context.get("callback_offered"):
        try:
            await do_keep_my_place(ctx, org_id, contact.id, phone=sender, language=thread.language)
        except ThreadlineError as exc:
            log.info("callbacks.sms_keep_refused", contact_id=contact.id, reason=str(exc))
        return
    if contact.context.get("callback_offered"):
        return
    offer = await callback_offer(ctx, org_id, contact.id)
    if offer is None or not offer.keep_place:
        return
    async with ctx.uow() as uow:
        locked: Contact | None = await uow.lock(Contact, contact.id)
        if locked is None or locked.status != "queued" or locked.context.get("callback_offered"):
            return
        locked.context = {**locked.context, "callback_offered": True}
        thread_row = await lock_thread(uow, org_id, thread_id)
        language = pick_language(thread_row.language)
        wait = _range_text(language, offer.low_s, offer.high_s)
        await _send_text(ctx, uow, thread_row, "callback_offer_sms", language, wait=wait)


def _range_text(language: str, low_s: float | None, high_s: float | None) -> str:
    return wait_phrase(language, low_s or 0.0, high_s)  # worded as the widget words it


async def _send_text(
    ctx: Context,
    uow: UnitOfWork,
    thread: Thread,
    key: str,
    language: str,
    *,
    data: dict[str, Any] | None = None,
    **values: str,
) -> None:
    """A system text (SMS, through the outbox) in the customer's language, on the timeline."""
    # imported here: the outbox appends timeline events through the threads module
    from threadline.channels.outbox import enqueue_outbound

    event = append_event(
        uow,
        thread,
        kind="message",
        channel="sms",
        author_type="system",
        body=translate(language, key, **values),
        data=data,
    )
    await enqueue_outbound(ctx, uow, thread, event)


async def _text_about(ctx: Context, callback: Callback, key: str) -> None:
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, callback.org_id, callback.thread_id)
        await _text_customer(ctx, uow, thread, callback, key)
