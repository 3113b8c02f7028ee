"""The customer's journey while they wait, as they see it: their wait, keep my place, book
a window instead, their callbacks, call now. Shared by the app channel, the chat widget and
the phone's hold; callers pass the customer they authenticated, and every read and write
here checks that the contact or callback is that customer's own: anything else is simply
not found."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from threadline.callbacks.availability import available_windows
from threadline.callbacks.models import OPEN, Callback
from threadline.callbacks.offers import callback_offer, contact_wait
from threadline.callbacks.services import (
    do_book,
    do_cancel,
    do_keep_my_place,
    do_reschedule,
    get_callback,
    list_callbacks,
    public_view,
)
from threadline.callbacks.transitions import policy_of
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork
from threadline.errors import Conflict, NotFound
from threadline.journey.schemas import CallbackBrief, CallbackOffer, CustomerWaitOut
from threadline.routing.callback_policy import Window, should_offer
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread
from threadline.threads.services import current_thread, lock_thread, open_thread

WAITING = ("queued", "offered")
OPEN_CALLBACKS = OPEN  # a callback the customer still waits for
CARRIED = ("reason", "answers", "account", "via")  # what a call continuing a contact keeps


@dataclass(frozen=True, slots=True)
class WaitState:
    """A view and the queues whose changes may move it (what live updates listen to)."""

    view: CustomerWaitOut | None
    queue_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class Request:
    """What the customer asked for, routed: the queue, the agents' tier, the reason, and
    what they entered (it travels with them to the agent)."""

    queue_id: str
    min_tier: int = 0
    reason: str | None = None
    entered: dict[str, Any] = field(default_factory=dict)


def request_of(contact: Contact) -> Request:
    """What a waiting contact carries, for the booking or call that replaces it."""
    return Request(contact.queue_id, contact.min_tier, contact.reason, dict(contact.context))


def summary(entered: dict[str, Any]) -> str:
    """What the customer entered, in one line for the timeline."""
    answers = "; ".join(f"{k}: {v}" for k, v in entered.get("answers", {}).items())
    return " · ".join(p for p in (entered.get("reason"), answers) if p)


def remember_zone(customer: Customer, zone: str | None) -> None:
    """The customer's time zone (from their device), for the times we text them."""
    if not zone or customer.timezone:
        return
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return
    customer.timezone = zone


async def customer_thread(uow: UnitOfWork, org_id: str, customer: Customer) -> Thread:
    """The customer's one open thread (opened if none), row-locked."""
    thread = await open_thread(
        uow.session, org_id, customer.id, customer.language, for_update=uow.row_locks
    )
    thread = await lock_thread(uow, org_id, thread.id)
    if thread.language is None:
        thread.language = customer.language
    return thread


# ---------------------------------------------------------------- the wait
async def callback_brief(ctx: Context, callback_id: str) -> CallbackBrief:
    view = await public_view(ctx, callback_id)
    return CallbackBrief(id=callback_id, **view.model_dump())


async def contact_view(ctx: Context, org_id: str, contact_id: str) -> CustomerWaitOut:
    """One contact's wait, its callback offer and its callback (if it kept its place)."""
    wait = await contact_wait(ctx, org_id, contact_id)
    async with ctx.db.sessions() as session:
        contact = await session.get_one(Contact, contact_id)
        callback_id = contact.context.get("callback_id") or await session.scalar(
            select(Callback.id)
            .where(Callback.contact_id == contact_id)
            .order_by(Callback.created_at.desc())
            .limit(1)
        )
        customer = await session.get(Customer, contact.customer_id)
    offer = wait.callback_offer
    return CustomerWaitOut(
        contact_id=contact_id,
        status=wait.status,
        position=wait.position,
        low_s=wait.low_s,
        high_s=wait.high_s,
        callback_offer=CallbackOffer(keep_place=offer["keep_place"], booking=offer["booking"])
        if offer
        else None,
        callback=await callback_brief(ctx, callback_id) if callback_id else None,
        phone=customer.phone if customer else None,
    )


async def customer_wait(ctx: Context, org_id: str, customer_id: str) -> WaitState:
    """What a customer is waiting for now: their thread's waiting contact and their open
    callback (kept place or booked window); an empty view when neither."""
    async with ctx.db.sessions() as session:
        thread = await current_thread(session, org_id, customer_id)
        contact = (
            await session.scalar(
                select(Contact)
                .where(Contact.thread_id == thread.id)
                .order_by(Contact.enqueued_at.desc())
                .limit(1)
            )
            if thread
            else None
        )
        callback = await session.scalar(
            select(Callback)
            .where(
                Callback.org_id == org_id,
                Callback.customer_id == customer_id,
                Callback.status.in_(OPEN),
            )
            .order_by(Callback.created_at.desc())
            .limit(1)
        )
        customer = await session.get(Customer, customer_id)
    if contact is not None and contact.status in WAITING:
        view = await contact_view(ctx, org_id, contact.id)
        if view.callback is None and callback is not None:
            view.callback = await callback_brief(ctx, callback.id)
        return WaitState(view, frozenset({contact.queue_id}))
    if callback is not None:
        view = CustomerWaitOut(
            contact_id=contact.id if contact else None,
            status=contact.status if contact else None,
            callback=await callback_brief(ctx, callback.id),
            phone=customer.phone if customer else None,
        )
        return WaitState(view, frozenset({callback.queue_id}))
    return WaitState(None, frozenset())


async def waiting_now(
    ctx: Context,
) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]:
    """Who waits, in every organisation: (org, customer, contact, queue) of each queued or
    offered contact, oldest first, and (org, customer, callback) of each open callback. Two
    statements, read once per process by the live waits (journey/live.py); call across
    organisations."""
    async with ctx.db.sessions() as session:
        contacts = await session.execute(
            select(Contact.org_id, Contact.customer_id, Contact.id, Contact.queue_id)
            .where(Contact.status.in_(WAITING))
            .order_by(Contact.enqueued_at)
        )
        callbacks = await session.execute(
            select(Callback.org_id, Callback.customer_id, Callback.id).where(
                Callback.status.in_(OPEN)
            )
        )
        return (
            [(o, cu, c, q) for o, cu, c, q in contacts],
            [(o, cu, cb) for o, cu, cb in callbacks],
        )


async def refresh_views(
    ctx: Context, org_id: str, views: dict[Any, CustomerWaitOut]
) -> dict[Any, CustomerWaitOut | None]:
    """The live parts of waiting customers' views after their queue moved: place, range,
    status and callback offer, from the routing engine's memory and ONE read of all their
    contacts and queues (what `contact_view` reads per customer, ten statements each). A
    view with no status yet (a contact that just started waiting, its customer with no
    open callback) is filled as `contact_view` would, its customer's number included. None
    for a view whose contact stopped waiting or keeps its place (or is a callback's
    retry): the caller computes that one in full."""
    ids = {view.contact_id for view in views.values() if view.contact_id}
    new = {view.contact_id for view in views.values() if view.contact_id and view.status is None}
    async with ctx.db.sessions() as session:
        contacts = {
            c.id: c
            for c in await session.scalars(
                select(Contact).where(Contact.org_id == org_id, Contact.id.in_(ids))
            )
        }
        queue_ids = {c.queue_id for c in contacts.values()}
        queues = {
            q.id: q for q in await session.scalars(select(Queue).where(Queue.id.in_(queue_ids)))
        }
        customer_ids = {c.customer_id for c in contacts.values() if c.id in new}
        phones: dict[str, str | None] = {}
        if customer_ids:
            rows = await session.execute(
                select(Customer.id, Customer.phone).where(Customer.id.in_(customer_ids))
            )
            phones = {customer_id: phone for customer_id, phone in rows}
        # a new view's contact a callback already names (kept, then given up): in full
        named = (
            set(
                await session.scalars(
                    select(Callback.contact_id).where(
                        Callback.org_id == org_id, Callback.contact_id.in_(new)
                    )
                )
            )
            if new
            else set()
        )
    refreshed: dict[Any, CustomerWaitOut | None] = {}
    for key, view in views.items():
        contact = contacts.get(view.contact_id or "")
        fresh = view.status is None
        if (
            contact is None
            or contact.status not in WAITING
            or contact.queue_id not in queues
            # it started keeping its place since: its callback is read in full
            or (contact.context.get("callback_id") and view.callback is None)
            or (fresh and (contact.id in named or contact.context.get("callback_retry")))
        ):
            refreshed[key] = None
            continue
        if fresh:
            view = view.model_copy(update={"phone": phones.get(contact.customer_id)})
        estimate = await ctx.routing.estimate(org_id, contact.id)
        offer = None
        if contact.status == "queued" and not contact.context.get("callback_id"):
            policy = policy_of(queues[contact.queue_id])
            if should_offer(policy, None if estimate is None else estimate.ewt_s):
                offer = CallbackOffer(keep_place=policy.keep_place, booking=policy.booking)
        refreshed[key] = view.model_copy(
            update={
                "status": contact.status,
                "position": estimate.position if estimate else None,
                "low_s": estimate.low_s if estimate else None,
                "high_s": estimate.high_s if estimate else None,
                "callback_offer": offer,
            }
        )
    return refreshed


async def waiting_contact(ctx: Context, org_id: str, customer_id: str) -> Contact | None:
    """The customer's contact that waits for an agent in their current thread, if any."""
    async with ctx.db.sessions() as db:
        thread = await current_thread(db, org_id, customer_id)
        if thread is None:
            return None
        return await db.scalar(
            select(Contact)
            .where(Contact.thread_id == thread.id, Contact.status.in_(WAITING))
            .order_by(Contact.enqueued_at.desc())
            .limit(1)
        )


async def own_contact(ctx: Context, org_id: str, customer_id: str, contact_id: str) -> Contact:
    async with ctx.db.sessions() as db:
        contact = await db.get(Contact, contact_id)
    if contact is None or contact.org_id != org_id or contact.customer_id != customer_id:
        raise NotFound("no such contact")
    return contact


async def own_callback(ctx: Context, org_id: str, customer_id: str, callback_id: str) -> Callback:
    callback = await get_callback(ctx, org_id, callback_id)
    if callback.customer_id != customer_id:
        raise NotFound("no such callback")
    return callback


# ---------------------------------------------------------------- keep my place, book
async def may_keep_place(ctx: Context, org_id: str, contact_id: str) -> bool:
    """Whether the waiting contact is offered to keep its place (its wait is long enough)."""
    offer = await callback_offer(ctx, org_id, contact_id)
    return offer is not None and offer.keep_place


async def do_keep_place(
    ctx: Context, org_id: str, contact_id: str, *, phone: str | None, language: str | None = None
) -> Callback:
    """Call me back, keep my place: the waiting contact becomes a callback at its place."""
    return await do_keep_my_place(ctx, org_id, contact_id, phone=phone, language=language)


async def windows(ctx: Context, org_id: str, queue_id: str) -> list[tuple[Window, int]]:
    """The windows the customer may book in a queue, with the room left in each."""
    return await available_windows(ctx, org_id, queue_id)


async def withdraw(ctx: Context, org_id: str, contact_id: str, why: str) -> None:
    """The customer booked a time instead of waiting: the contact leaves its queue and the
    thread awaits the callback."""
    async with ctx.uow() as uow:
        contact: Contact | None = await uow.lock(Contact, contact_id)
        if contact is None or contact.status not in WAITING:
            return
        await ctx.routing.abandon(uow, contact, why)
        thread = await lock_thread(uow, org_id, contact.thread_id)
        if thread.status == "resolved":
            thread.status = "callback_scheduled"


def replaceable(contact: Contact) -> Contact:
    """A waiting contact a booking or a call may replace (Conflict otherwise)."""
    if contact.status not in WAITING:
        raise Conflict("this contact is no longer waiting")
    if contact.context.get("callback_id"):
        raise Conflict("this contact already keeps its place for a callback")
    return contact


async def do_book_instead(
    ctx: Context,
    org_id: str,
    customer_id: str,
    request: Request,
    *,
    window_start: datetime,
    phone: str | None,
    replaces: str | None = None,
) -> Callback:
    """Book a window; the waiting contact it replaces (if any) leaves the queue, what the
    customer entered travels with the callback."""
    callback = await do_book(
        ctx,
        org_id,
        customer_id=customer_id,
        queue_id=request.queue_id,
        window_start=window_start,
        phone=phone,
        reason=request.reason,
        context=request.entered or None,
        min_tier=request.min_tier,
    )
    if replaces:
        await withdraw(ctx, org_id, replaces, "booked a callback")
    return callback


async def customer_callbacks(ctx: Context, org_id: str, customer_id: str) -> list[CallbackBrief]:
    """The customer's callbacks, newest first."""
    rows = await list_callbacks(ctx, org_id, status=None, customer_id=customer_id, limit=20)
    return [await callback_brief(ctx, c.id) for c in rows]


async def do_reschedule_own(
    ctx: Context, org_id: str, customer_id: str, callback_id: str, window_start: datetime
) -> CallbackBrief:
    callback = await own_callback(ctx, org_id, customer_id, callback_id)
    await do_reschedule(ctx, org_id, callback.id, window_start)
    return await callback_brief(ctx, callback.id)


async def do_cancel_own(
    ctx: Context, org_id: str, customer_id: str, callback_id: str
) -> CallbackBrief:
    callback = await own_callback(ctx, org_id, customer_id, callback_id)
    await do_cancel(ctx, org_id, callback.id, by="customer")
    return await callback_brief(ctx, callback.id)
