"""Customers: identity resolution (a known phone, email or visitor id finds the same
customer), profile, and merge of two records into one."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.customers.identities import normalise
from threadline.customers.models import Customer, Identity
from threadline.customers.schemas import CustomerCreate, CustomerUpdate
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.services import audit


async def find_by_identity(
    session: AsyncSession, org_id: str, kind: str, value: str, *, for_update: bool = False
) -> Customer | None:
    """The customer an identity belongs to, in one query; `for_update` row-locks the
    customer (PostgreSQL)."""
    query = (
        select(Customer)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(
            Identity.org_id == org_id,
            Identity.kind == kind,
            Identity.value == normalise(kind, value),
        )
    )
    return await session.scalar(query.with_for_update(of=Customer) if for_update else query)


async def resolve_identity(
    session: AsyncSession,
    org_id: str,
    kind: str,
    value: str,
    *,
    verified: bool = False,
    name: str | None = None,
    language: str | None = None,
) -> Customer:
    """The customer this identity belongs to, created on first sight. Call inside a write
    transaction."""
    value = normalise(kind, value)
    found = await find_by_identity(session, org_id, kind, value)
    if found is not None:
        return found
    customer = Customer(org_id=org_id, name=name, language=language)
    if kind in ("phone", "email"):
        setattr(customer, kind, value)
    session.add(customer)
    await session.flush()
    session.add(
        Identity(org_id=org_id, customer_id=customer.id, kind=kind, value=value, verified=verified)
    )
    await session.flush()
    return customer


async def add_identity(
    session: AsyncSession, customer: Customer, kind: str, value: str, *, verified: bool
) -> Customer:
    """Attach an identity to a customer. If a verified identity already belongs to another
    customer, that customer is the one the person really is: merge into it and return it."""
    value = normalise(kind, value)
    owner = await find_by_identity(session, customer.org_id, kind, value)
    if owner is None:
        session.add(
            Identity(
                org_id=customer.org_id,
                customer_id=customer.id,
                kind=kind,
                value=value,
                verified=verified,
            )
        )
        if kind in ("phone", "email") and getattr(customer, kind) is None:
            setattr(customer, kind, value)
        return customer
    if owner.id == customer.id or not verified:
        return customer  # unverified claims never take over somebody else's record
    await merge_customers(session, source=customer, target=owner, actor=None)
    return owner


async def merge_customers(
    session: AsyncSession, *, source: Customer, target: Customer, actor: str | None
) -> None:
    """Move source's identities, threads and contacts to target (audited)."""
    from threadline.routing.models import Contact
    from threadline.threads.models import Thread

    if source.org_id != target.org_id or source.id == target.id:
        raise Invalid("can only merge two different customers of one organisation")
    for model in (Identity, Thread, Contact):
        await session.execute(
            update(model).where(model.customer_id == source.id).values(customer_id=target.id)
        )
    for field in ("name", "email", "phone", "language", "timezone"):
        if getattr(target, field) is None:
            setattr(target, field, getattr(source, field))
    target.attributes = {**source.attributes, **target.attributes}
    source.merged_into_id = target.id
    audit(session, target.org_id, actor, "customer.merge", target.id, source=source.id)


async def get_customer(
    ctx: Context, org_id: str, customer_id: str
) -> tuple[Customer, list[Identity]]:
    async with ctx.db.sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.org_id != org_id:
            raise NotFound("no such customer")
        if customer.merged_into_id:
            return await get_customer(ctx, org_id, customer.merged_into_id)
        identities = list(
            await session.scalars(
                select(Identity)
                .where(Identity.customer_id == customer.id)
                .order_by(Identity.created_at)
            )
        )
    return customer, identities


async def search_customers(ctx: Context, org_id: str, q: str | None, limit: int) -> list[Customer]:
    async with ctx.db.sessions() as session:
        query = select(Customer).where(Customer.org_id == org_id, Customer.merged_into_id.is_(None))
        if q:
            like = f"%{q.strip().lower()}%"
            query = query.where(
                or_(
                    Customer.name.ilike(like),
                    Customer.email.ilike(like),
                    Customer.phone.ilike(like),
                )
            )
        return list(await session.scalars(query.order_by(Customer.created_at.desc()).limit(limit)))


async def do_create_customer(ctx: Context, org_id: str, data: CustomerCreate) -> Customer:
    async with ctx.uow() as uow:
        customer = None
        for kind in ("email", "phone"):
            value = getattr(data, kind)
            if value and await find_by_identity(uow.session, org_id, kind, value):
                raise Conflict(f"a customer with this {kind} already exists")
        customer = Customer(
            org_id=org_id,
            name=data.name,
            language=data.language,
            timezone=data.timezone,
            attributes=data.attributes,
        )
        uow.session.add(customer)
        await uow.session.flush()
        for kind in ("email", "phone"):
            if value := getattr(data, kind):
                await add_identity(uow.session, customer, kind, value, verified=False)
    return customer


async def do_update_customer(
    ctx: Context, org_id: str, customer_id: str, data: CustomerUpdate
) -> Customer:
    async with ctx.uow() as uow:
        customer = await uow.lock(Customer, customer_id)
        if customer is None or customer.org_id != org_id:
            raise NotFound("no such customer")
        for name, value in data.model_dump(exclude_unset=True).items():
            setattr(customer, name, value)
    return customer


async def do_merge(ctx: Context, principal: Principal, *, target_id: str, source_id: str) -> None:
    async with ctx.uow() as uow:
        target = await uow.lock(Customer, target_id)
        source = await uow.lock(Customer, source_id)
        for customer in (target, source):
            if customer is None or customer.org_id != principal.org_id or customer.merged_into_id:
                raise NotFound("no such customer (or already merged)")
        await merge_customers(uow.session, source=source, target=target, actor=principal.agent_id)
