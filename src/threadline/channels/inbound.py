"""Inbound messages from any channel land in the customer's one thread, stored once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from threadline.channels.contract import InboundMessage
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.customers.services import resolve_identity
from threadline.errors import Conflict
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, find_by_client_id, lock_thread, open_thread

OPEN_STATUSES = ("queued", "offered", "assigned")


@dataclass(frozen=True, slots=True)
class Ingested:
    event: ThreadEvent
    thread: Thread
    created: bool  # False when this was a retry of a message already stored


async def do_ingest(
    ctx: Context, endpoint: Endpoint, message: InboundMessage, customer_id: str | None = None
) -> Ingested:
    """Store one inbound message exactly once; open a contact in the endpoint's queue when the
    thread has none. A retry with the same client or provider id returns the stored event."""
    try:
        return await _ingest(ctx, endpoint, message, customer_id)
    except IntegrityError:
        # A concurrent retry won the race for the unique (thread, client id): read its result.
        return await _ingest(ctx, endpoint, message, customer_id)


async def _ingest(
    ctx: Context, endpoint: Endpoint, message: InboundMessage, customer_id: str | None
) -> Ingested:
    from sqlalchemy import select

    async with ctx.uow() as uow:
        session = uow.session
        if customer_id:
            customer = await session.get(Customer, customer_id)
            if customer is None or customer.org_id != endpoint.org_id:
                raise Conflict("unknown customer for this endpoint")
        else:
            customer = await resolve_identity(
                session,
                endpoint.org_id,
                message.identity_kind,
                message.identity_value,
                name=message.sender_name,
                language=message.language,
            )
        if message.provider_msg_id:
            stored = await session.scalar(
                select(ThreadEvent).where(
                    ThreadEvent.org_id == endpoint.org_id,
                    ThreadEvent.channel == message.channel,
                    ThreadEvent.provider_msg_id == message.provider_msg_id,
                )
            )
            if stored is not None:
                return Ingested(stored, await session.get(Thread, stored.thread_id), False)
        thread_row = await open_thread(
            session, endpoint.org_id, customer.id, customer.language or message.language
        )
        thread = await lock_thread(uow, endpoint.org_id, thread_row.id)
        if stored := await find_by_client_id(session, thread.id, message.client_msg_id):
            return Ingested(stored, thread, False)
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
            contact = await ctx.routing.enqueue(uow, thread, queue, message.channel)
            event.contact_id = contact.id
        return Ingested(event, thread, True)
