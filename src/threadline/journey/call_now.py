"""Call now: a number to call and a one-time code that continues the customer's session
on the call (the same customer and thread, their assurance, what they entered), instead of
waiting where they are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, NotFound
from threadline.journey.services import Request, customer_thread, replaceable, request_of, summary
from threadline.routing.models import Contact
from threadline.threads.services import append_event, lock_thread
from threadline.verification import assurance as assurances
from threadline.verification.assurance import Assurance
from threadline.verification.continuation import IssuedCode, issue

CARRIED = ("reason", "answers", "account", "via")  # what a call continuing a contact keeps


async def voice_number(ctx: Context, endpoint: Endpoint) -> str:
    """The number "call now" hands out: the endpoint's own setting, else the organisation's
    first voice line."""
    if number := (endpoint.settings or {}).get("voice_number"):
        return str(number)
    async with ctx.db.sessions() as db:
        key = await db.scalar(
            select(Endpoint.key)
            .where(
                Endpoint.org_id == endpoint.org_id,
                Endpoint.channel == "voice",
                Endpoint.active.is_(True),
            )
            .order_by(Endpoint.created_at)
            .limit(1)
        )
    if key is None:
        raise Conflict("no phone line is configured for calls")
    return key


async def do_call_now(
    ctx: Context,
    org_id: str,
    customer_id: str,
    assurance: Assurance | None,
    *,
    contact_id: str | None,
    route: Callable[[AsyncSession], Awaitable[Request]],
) -> IssuedCode:
    """A one-time code that continues the customer's session on a call: the same customer
    and thread, this assurance, what they entered, routed alike (their waiting contact's
    queue, else `route`'s)."""
    async with ctx.uow() as uow:
        customer = await uow.lock_existing(Customer, customer_id)
        contact = await _waiting_own(uow, org_id, customer_id, contact_id) if contact_id else None
        if contact is not None:
            thread = await lock_thread(uow, org_id, contact.thread_id)
            carried = request_of(contact)
            request = Request(
                carried.queue_id,
                carried.min_tier,
                carried.reason,
                {k: v for k, v in carried.entered.items() if k in CARRIED},
            )
        else:
            request = await route(uow.session)
            thread = await customer_thread(uow, org_id, customer)
        issued = await issue(
            uow,
            ctx.settings.secret_key.get_secret_value(),
            org_id=org_id,
            customer_id=customer.id,
            thread_id=thread.id,
            assurance=assurance,
            context=request.entered,
            reason=request.reason,
            queue_id=request.queue_id,
            min_tier=request.min_tier,
            language=thread.language or customer.language,
            contact_id=contact.id if contact else None,
            now=utcnow(),
        )
        append_event(
            uow,
            thread,
            kind="continuation",
            channel="app",
            author_type="customer",
            author_id=customer.id,
            author_name=customer.name,
            contact_id=contact.id if contact else None,
            body=summary(request.entered) or None,
            data={
                "action": "issued",
                **request.entered,
                "assurance": (assurance or assurances.NONE).as_data(),
                "expires_at": issued.expires_at.isoformat(),
            },
        )
    return issued


async def _waiting_own(uow: UnitOfWork, org_id: str, customer_id: str, contact_id: str) -> Contact:
    contact: Contact | None = await uow.lock(Contact, contact_id)
    if contact is None or contact.org_id != org_id or contact.customer_id != customer_id:
        raise NotFound("no such contact")
    return replaceable(contact)
