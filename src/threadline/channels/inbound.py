"""Inbound messages from any channel land in the customer's one thread, stored once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.channels.contract import InboundMessage
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.customers.services import find_by_identity, resolve_identity
from threadline.db import UnitOfWork
from threadline.errors import Conflict
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import (
    append_event,
    current_thread,
    find_by_client_id,
    open_thread,
)

OPEN_STATUSES = ("queued", "offered", "assigned")


@dataclass(frozen=True, slots=True)
class Ingested:
    event: ThreadEvent
    thread: Thread
    created: bool  # False when this was a retry of a message already stored
    opened: str | None = None  # the contact this message opened, if it opened one


async def do_ingest(
    ctx: Context, endpoint: Endpoint, message: InboundMessage, customer_id: str | None = None
) -> Ingested:
    """Store one inbound message exactly once; open a contact in the endpoint's queue when the
    thread has none. A retry with the same client or provider id returns the stored event.

    The first attempt is optimistic: the unique indexes on (thread, client id) and (org,
    channel, provider id) refuse a duplicate, and only then is the stored one looked up."""
    try:
        return await _ingest(ctx, endpoint, message, customer_id, look_for_duplicate=False)
    except IntegrityError:
        return await _ingest(ctx, endpoint, message, customer_id, look_for_duplicate=True)


async def _ingest(
    ctx: Context,
    endpoint: Endpoint,
    message: InboundMessage,
    customer_id: str | None,
    *,
    look_for_duplicate: bool,
) -> Ingested:
    async with ctx.uow() as uow:
        session = uow.session
        customer = await _customer(uow, endpoint, message, customer_id)
        if look_for_duplicate and (stored := await _stored(uow, endpoint, message, customer.id)):
            return stored
        thread = await open_thread(
            session,
            endpoint.org_id,
            customer.id,
            customer.language or message.language,
            for_update=ctx.db.dialect != "sqlite",
        )
        contact_id = await session.scalar(
            select(Contact.id).where(
                Contact.thread_id == thread.id, Contact.status.in_(OPEN_STATUSES)
            )
        )
        event = append_event(
            uow,
            thread,
            kind="message",
            channel=message.channel,
            author_type="customer",
            author_id=customer.id,
            author_name=customer.name or message.sender_name,
            body=message.body,
            client_msg_id=message.client_msg_id,
            provider_msg_id=message.provider_msg_id,
            contact_id=contact_id,
            data={"attachments": list(message.attachments), **message.data}
            if message.attachments or message.data
            else None,
        )
        if thread.status == "waiting_customer":
            thread.status = "assigned"
        if contact_id is None and endpoint.queue_id:
            queue = await session.get(Queue, endpoint.queue_id)
            if queue is not None:
                contact = await ctx.routing.enqueue(uow, thread, queue, message.channel)
                event.contact_id = contact.id
                return Ingested(event, thread, True, opened=contact.id)
        return Ingested(event, thread, True)


async def _customer(
    uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer_id: str | None
) -> Customer:
    """The sender, row-locked: one customer's messages are stored one at a time, so a new
    customer never gets two threads."""
    if not customer_id:
        known = await find_by_identity(
            uow.session,
            endpoint.org_id,
            message.identity_kind,
            message.identity_value,
            for_update=uow.row_locks,
        )
        if known is not None:
            return known
        # First sight: a new row nobody else can hold (a concurrent twin of this message
        # loses on the identity's unique index and is retried by do_ingest).
        return await resolve_identity(
            uow.session,
            endpoint.org_id,
            message.identity_kind,
            message.identity_value,
            name=message.sender_name,
            language=message.language,
        )
    customer: Customer | None = await uow.lock(Customer, customer_id)
    if customer is None or customer.org_id != endpoint.org_id:
        raise Conflict("unknown customer for this endpoint")
    return customer


async def _stored(
    uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer_id: str
) -> Ingested | None:
    """The message as already stored by an earlier delivery of the same message, if any."""
    stored: ThreadEvent | None = None
    if message.provider_msg_id:
        stored = await uow.session.scalar(
            select(ThreadEvent).where(
                ThreadEvent.org_id == endpoint.org_id,
                ThreadEvent.channel == message.channel,
                ThreadEvent.provider_msg_id == message.provider_msg_id,
            )
        )
    if stored is None and message.client_msg_id:
        thread = await current_thread(uow.session, endpoint.org_id, customer_id)
        stored = (
            await find_by_client_id(uow.session, thread.id, message.client_msg_id)
            if (thread)
            else None
        )
    if stored is None:
        return None
    return Ingested(stored, await uow.session.get_one(Thread, stored.thread_id), False)
