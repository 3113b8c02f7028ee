"""Callbacks, the customer's promise: keep my place, book a window, reschedule, cancel,
and the reads of them.

Keep my place: the customer's waiting contact stays in its queue with its original place
in line and becomes a voice contact (the callback is a phone call); a callback row holds
the promise, and callbacks/dialing.py calls the customer when an agent takes it.

Booked: a window the staffing plan has room for (callbacks/availability.py); a durable
timer opens the contact when the window starts, ahead of ordinary contacts.  Every
transition is one transaction with its timeline entry (callbacks/transitions.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from threadline.callbacks.availability import check_window
from threadline.callbacks.models import BOOKED, KEEP_PLACE, Callback
from threadline.callbacks.schemas import PublicCallbackOut
from threadline.callbacks.texts import customer_zone, text_customer, when
from threadline.callbacks.tokens import manage_url
from threadline.callbacks.transitions import lock_callback, mask, policy_of, record, wake
from threadline.context import Context
from threadline.customers.identities import normalise_phone
from threadline.customers.models import Customer
from threadline.customers.services import add_identity
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import ContactRefiled
from threadline.orgs.services import phone_region
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread
from threadline.threads.services import lock_thread, open_thread
from threadline.workers import timers
from threadline.workers.models import Timer

CALLBACK_DUE = "callback_due"  # a booked window starts
CALLBACK_RETRY = "callback_retry"  # the next attempt of an unanswered callback


async def _phone_for(uow: UnitOfWork, customer: Customer, phone: str | None) -> str:
    """The number to call: the one given (kept on the customer as an unverified identity),
    else the customer's own."""
    if phone:  # in national format too, read in the organisation's phone region
        number = normalise_phone(phone, await phone_region(uow.session, customer.org_id))
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
        max_attempts=policy_of(queue).max_attempts,
        **fields,
    )
    uow.session.add(callback)
    await uow.session.flush()
    return callback


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
            return await lock_callback(uow, org_id, existing)
        queue = await uow.session.get_one(Queue, contact.queue_id)
        policy = policy_of(queue)
        if not policy.enabled or not policy.keep_place:
            raise Conflict("this queue does not offer callbacks")
        thread = await lock_thread(uow, org_id, contact.thread_id)
        customer = await uow.lock_existing(Customer, contact.customer_id)
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
        position = estimate.position if estimate else None
        record(uow, thread, callback, "requested", position=position)
        await text_customer(
            ctx,
            uow,
            thread,
            callback,
            "callback_confirm_keep",
            phone=number,
            position=str(position if position is not None else ""),
            link=manage_url(ctx, callback.id),
        )
        # now a voice contact at its kept place: routing files it again after commit
        uow.emit(
            ContactRefiled(
                org_id=contact.org_id,
                contact_id=contact.id,
                thread_id=contact.thread_id,
                customer_id=contact.customer_id,
                queue_id=contact.queue_id,
                channel=contact.channel,
            )
        )
    return callback


# ---------------------------------------------------------------- booked windows
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
        window = await check_window(ctx, uow, queue, window_start)
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
        zone = await customer_zone(uow.session, customer.id, policy_of(queue))
        record(uow, thread, callback, "booked", window=when(callback, zone))
        await text_customer(
            ctx,
            uow,
            thread,
            callback,
            "callback_confirm_booked",
            phone=number,
            when=when(callback, zone),
            link=manage_url(ctx, callback.id),
        )
        uow.after_commit(wake(ctx))
    return callback


async def do_reschedule(
    ctx: Context, org_id: str | None, callback_id: str, window_start: datetime
) -> Callback:
    """Move a booked callback whose window has not started to another window."""
    async with ctx.uow() as uow:
        callback = await lock_callback(uow, org_id, callback_id)
        if callback.kind != BOOKED or callback.status != "scheduled":
            raise Conflict("only a booked callback that has not started can be rescheduled")
        queue = await uow.lock_existing(Queue, callback.queue_id)
        window = await check_window(ctx, uow, queue, window_start)
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
        zone = await customer_zone(uow.session, callback.customer_id, policy_of(queue))
        record(uow, thread, callback, "rescheduled", window=when(callback, zone))
        uow.after_commit(wake(ctx))
    return callback


async def do_cancel(ctx: Context, org_id: str | None, callback_id: str, *, by: str) -> Callback:
    """Cancel a callback that has not connected; a held place in line is given up."""
    async with ctx.uow() as uow:
        callback = await lock_callback(uow, org_id, callback_id)
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
        record(uow, thread, callback, "cancelled", by=by)
    return callback


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


async def public_view(ctx: Context, callback_id: str) -> PublicCallbackOut:
    """The customer's view of their callback (manage link, app)."""
    callback = await get_callback(ctx, None, callback_id)
    estimate = None
    if callback.status == "waiting" and callback.contact_id:
        estimate = await ctx.routing.estimate(callback.org_id, callback.contact_id)
    return PublicCallbackOut(
        kind=callback.kind,
        status=callback.status,
        phone=mask(callback.phone),
        window_start=callback.window_start,
        window_end=callback.window_end,
        attempts=callback.attempts,
        max_attempts=callback.max_attempts,
        position=estimate.position if estimate else None,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
    )
