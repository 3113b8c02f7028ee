"""The customer's view of their wait: place in line, the wait as a range, the callback they
may take or have taken. Shared by the app channel and the chat widget; callers check first
that the contact or customer is the caller's own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from threadline.callbacks.models import OPEN, Callback
from threadline.callbacks.services import contact_wait, public_view
from threadline.channels.app.schemas import CallbackBrief, CallbackOffer, CustomerWaitOut
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.routing.models import Contact
from threadline.threads.services import current_thread, lock_thread

WAITING = ("queued", "offered")


@dataclass(frozen=True, slots=True)
class WaitState:
    """A view and the queues whose changes may move it (what live updates listen to)."""

    view: CustomerWaitOut | None
    queue_ids: frozenset[str]


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
