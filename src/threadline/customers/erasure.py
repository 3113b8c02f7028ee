"""Erasing a customer's personal data (the right to erasure), audited.

The customer row keeps its id (threads, contacts and the aggregates point at it) and loses
its name, email, phone, time zone and attributes; its identities are deleted, so no channel
address finds it again (a new message from that number starts a new customer). The
`CustomerErased` event, in the same transaction, has every domain remove or anonymise what it
keeps: message bodies and files, callback numbers, bot transcripts, outbox addresses,
continuation codes, outage notices (their in-transaction handlers, registered in
app.build_context). Counts and times stay: reports do not change.

A merged customer (an alias of another) is erased through the one it was merged into.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select

from threadline.context import Context
from threadline.customers.models import Customer, Identity
from threadline.db import utcnow
from threadline.errors import Invalid, NotFound
from threadline.events.domain import CustomerErased
from threadline.orgs.services import audit

ERASED_NAME = None


@dataclass(frozen=True, slots=True)
class Erased:
    customer_id: str
    identities: int
    erased_at: str


async def do_erase_customer(
    ctx: Context, org_id: str, customer_id: str, actor_id: str | None
) -> Erased:
    async with ctx.uow() as uow:
        customer = await uow.lock(Customer, customer_id)
        if customer is None or customer.org_id != org_id:
            raise NotFound("no such customer")
        if customer.merged_into_id is not None:
            raise Invalid(
                f"this customer was merged into {customer.merged_into_id}: erase that one"
            )
        aliases = (
            await uow.session.scalars(
                select(Customer.id).where(
                    Customer.org_id == org_id, Customer.merged_into_id == customer_id
                )
            )
        ).all()
        ids = [customer_id, *aliases]
        identities = await uow.session.scalar(
            select(func.count()).select_from(Identity).where(Identity.customer_id.in_(ids))
        )
        await uow.session.execute(delete(Identity).where(Identity.customer_id.in_(ids)))
        now = utcnow()
        for one in [customer, *[await uow.lock_existing(Customer, a) for a in aliases]]:
            one.name = ERASED_NAME
            one.email = None
            one.phone = None
            one.timezone = None
            one.attributes = {}
            one.erased_at = now
            uow.emit(CustomerErased(org_id=org_id, customer_id=one.id, erased_by=actor_id))
        audit(
            uow.session,
            org_id,
            actor_id,
            "customer.erase",
            customer_id,
            aliases=list(aliases),
            identities=int(identities or 0),
        )
    return Erased(customer_id, int(identities or 0), now.isoformat())
