"""Customers: identity resolution (a known phone, email or visitor id finds the same
customer), profile, and linking (merging) two records into one, which can be undone: the
link's audit entry records exactly what moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from threadline.agents.models import Agent
from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.customers.identities import normalise, normalise_phone
from threadline.customers.models import Customer, Identity
from threadline.customers.schemas import CustomerCreate, CustomerUpdate
from threadline.db import unit_of
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import CustomersMerged
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import phone_region


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


# A customer who holds a self-service credential (a chat visitor token, an app session)
# can be read by whoever holds that credential: an unverified identity on such a customer
# was typed by that person, so it is a claim that decides nothing for anybody else.
SELF_SERVICE_KINDS = ("visitor", "app")


async def add_identity(
    session: AsyncSession, customer: Customer, kind: str, value: str, *, verified: bool
) -> Customer:
    """Attach an identity to a customer; returns the customer the person turns out to be.

    * Unverified (a claim: typed by the visitor, sent unsigned): recorded on this customer
      only when nobody holds it; it never links to or merges into another customer.
    * Verified (vouched for: signed by the company's site or backend): held by nobody, it
      is added; held verified by another customer, or by one who got it from a channel
      (an email, an SMS, an agent), that customer is the person: merge into it. Held as a
      mere claim by a self-service customer (`SELF_SERVICE_KINDS`), the claim is taken
      from them: never merge into what somebody else can read."""
    value = normalise(kind, value)
    identity = await _identity(session, customer.org_id, kind, value)
    if identity is None:
        session.add(
            Identity(
                org_id=customer.org_id,
                customer_id=customer.id,
                kind=kind,
                value=value,
                verified=verified,
            )
        )
        _fill_profile(customer, kind, value)
        return customer
    owner = await _current(session, identity.customer_id)
    if owner is None or owner.id == customer.id:
        identity.verified = identity.verified or verified
        return customer
    if not verified:
        return customer  # unverified claims never take over somebody else's record
    # a visitor or app identity is the self-service credential itself, never a claim
    claimable = kind not in SELF_SERVICE_KINDS and not identity.verified
    if claimable and await _self_service(session, identity.customer_id):
        await _take_claim(session, identity, customer)
        return customer
    identity.verified = True
    await merge_customers(session, source=customer, target=owner, actor=None)
    return owner


async def resolve_vouched(
    session: AsyncSession,
    org_id: str,
    kind: str,
    value: str,
    *,
    name: str | None = None,
    language: str | None = None,
) -> Customer:
    """The customer an identity vouched for by the company (its backend's signature)
    belongs to, created on first sight (holding it verified). A self-service customer's
    mere claim on it is taken from them: the owner is then a new customer."""
    value = normalise(kind, value)
    identity = await _identity(session, org_id, kind, value)
    if identity is None:
        return await resolve_identity(
            session, org_id, kind, value, verified=True, name=name, language=language
        )
    if identity.verified or not await _self_service(session, identity.customer_id):
        identity.verified = True
        owner = await _current(session, identity.customer_id)
        assert owner is not None  # identities reference customers (foreign key)
        return owner
    owner = Customer(org_id=org_id, name=name, language=language)
    session.add(owner)
    await session.flush()
    await _take_claim(session, identity, owner)
    return owner


async def owner_of_address(
    session: AsyncSession, org_id: str, kind: str, value: str, *, for_update: bool = False
) -> Customer | None:
    """The customer a message delivered from this address (an SMS's number, a mail's
    sender) belongs to; None on first sight. An address a self-service customer merely
    claimed is not theirs: the claim is dropped (None), so the sender's messages never
    land where the claimer reads them. One query (row-locking the customer with
    `for_update`), as on every inbound message."""
    held = aliased(Identity)
    self_service = (
        select(Identity.id)
        .where(Identity.customer_id == Customer.id, Identity.kind.in_(SELF_SERVICE_KINDS))
        .exists()
    )
    query = (
        select(Customer, held, self_service)
        .join(held, held.customer_id == Customer.id)
        .where(held.org_id == org_id, held.kind == kind, held.value == normalise(kind, value))
    )
    found = (
        await session.execute(query.with_for_update(of=Customer) if for_update else query)
    ).first()
    if found is None:
        return None
    customer, identity, read_by_self_service = found
    # a visitor or app identity is the self-service credential itself, never a claim
    if kind in SELF_SERVICE_KINDS or identity.verified or not read_by_self_service:
        return customer
    if getattr(customer, kind, None) == identity.value:
        setattr(customer, kind, None)
    await session.delete(identity)
    await session.flush()
    return None


async def _identity(session: AsyncSession, org_id: str, kind: str, value: str) -> Identity | None:
    return await session.scalar(
        select(Identity).where(
            Identity.org_id == org_id, Identity.kind == kind, Identity.value == value
        )
    )


async def _current(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer, or the one they were merged into."""
    customer = await session.get(Customer, customer_id)
    while customer is not None and customer.merged_into_id:
        customer = await session.get(Customer, customer.merged_into_id)
    return customer


async def _self_service(session: AsyncSession, customer_id: str) -> bool:
    """Whether a self-service credential reads this customer (a visitor or app identity)."""
    found = await session.scalar(
        select(Identity.id)
        .where(Identity.customer_id == customer_id, Identity.kind.in_(SELF_SERVICE_KINDS))
        .limit(1)
    )
    return found is not None


async def _take_claim(session: AsyncSession, identity: Identity, customer: Customer) -> None:
    """Move a claimed identity to the customer it is vouched for, verified."""
    claimer = await session.get(Customer, identity.customer_id)
    if claimer is not None and getattr(claimer, identity.kind, None) == identity.value:
        setattr(claimer, identity.kind, None)
    identity.customer_id, identity.verified = customer.id, True
    _fill_profile(customer, identity.kind, identity.value)
    await session.flush()


def _fill_profile(customer: Customer, kind: str, value: str) -> None:
    if kind in ("phone", "email") and getattr(customer, kind) is None:
        setattr(customer, kind, value)


MERGE = "customer.merge"
UNLINK = "customer.unlink"
PROFILE_FIELDS = ("name", "email", "phone", "language", "timezone")
_SINGULAR = {"identities": "identity", "threads": "thread", "contacts": "contact"}
_MAX_LINK_ID = 2**31 - 1  # audit_log.id is a 32-bit integer on PostgreSQL


# Rows of other domains that belong to a customer (a `customer_id` column) and move with a
# link, by their key in the link's record: named by the composition root (app.py), so that
# customers, below threads and routing, imports neither.
_LINKED_ROWS: dict[str, Any] = {}


def link_rows_with_customers(key: str, model: Any) -> None:
    _LINKED_ROWS[key] = model


def _linked_models() -> dict[str, Any]:
    """The rows that belong to a customer and move with a link, by their key in the record."""
    return {"identities": Identity, **_LINKED_ROWS}


def _audit_entry(
    session: AsyncSession, org_id: str, actor: str | None, action: str, target: str, **data: Any
) -> AuditEntry:
    """Like `orgs.services.audit`, but hands back the entry (its id names the link)."""
    entry = AuditEntry(org_id=org_id, actor_agent_id=actor, action=action, target=target, data=data)
    session.add(entry)
    return entry


async def merge_customers(
    session: AsyncSession, *, source: Customer, target: Customer, actor: str | None
) -> int:
    """Move source's identities, threads and contacts to target (audited); returns the link
    id. The `customer.merge` audit entry records exactly which rows moved, which profile
    fields and attributes were copied onto the target (and what they were before), so that
    `do_undo_link` can put everything back. `actor` None is an automatic merge (a verified
    widget identify)."""
    if source.org_id != target.org_id or source.id == target.id:
        raise Invalid("can only merge two different customers of one organisation")
    moved: dict[str, list[str]] = {}
    for key, model in _linked_models().items():
        result = await session.execute(
            update(model)
            .where(model.customer_id == source.id)
            .values(customer_id=target.id)
            .returning(model.id)
        )
        moved[key] = sorted(result.scalars().all())
    fields: dict[str, dict[str, Any]] = {}
    for field in PROFILE_FIELDS:
        previous, value = getattr(target, field), getattr(source, field)
        if previous is None and value is not None:
            fields[field] = {"previous": previous, "value": value}
            setattr(target, field, value)
    attributes = {k: v for k, v in source.attributes.items() if k not in target.attributes}
    target.attributes = {**source.attributes, **target.attributes}
    source.merged_into_id = target.id
    entry = _audit_entry(
        session,
        target.org_id,
        actor,
        MERGE,
        target.id,
        source=source.id,
        moved=moved,
        fields=fields,
        attributes=attributes,
    )
    await session.flush()
    unit_of(session).emit(
        CustomersMerged(
            org_id=target.org_id,
            survivor_id=target.id,
            merged_id=source.id,
            reason="by an agent" if actor else "verified identity",
        )
    )
    return entry.id


@dataclass(frozen=True, slots=True)
class Unlinked:
    """What undoing a link did."""

    link_id: int
    unlink_id: int
    source_id: str
    target_id: str
    moved: dict[str, int]
    restored_fields: list[str]
    kept_fields: list[str]


@dataclass(frozen=True, slots=True)
class Link:
    """One link (merge) into a customer, and whether it was undone."""

    entry: AuditEntry
    source_name: str | None
    actor_name: str | None
    unlink: AuditEntry | None
    unlink_actor_name: str | None


def parse_link_id(link_id: str) -> int:
    """A link id from a URL: anything that cannot be one is simply not found."""
    if not (link_id.isascii() and link_id.isdigit() and len(link_id) <= 10):
        raise NotFound("no such link")
    if not 0 < int(link_id) <= _MAX_LINK_ID:
        raise NotFound("no such link")
    return int(link_id)


async def _unlink_of(session: AsyncSession, link: AuditEntry) -> AuditEntry | None:
    entries = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.org_id == link.org_id,
            AuditEntry.action == UNLINK,
            AuditEntry.target == link.target,
        )
    )
    return next((e for e in entries if e.data.get("link") == link.id), None)


async def do_undo_link(ctx: Context, principal: Principal, link_id: int) -> Unlinked:
    """Undo a link: move exactly the recorded rows back to the source, restore the target's
    copied profile fields and attributes where nobody changed them since, and make the
    source a customer of its own again (audited as `customer.unlink`)."""
    async with ctx.uow() as uow:
        session = uow.session
        link = await session.get(AuditEntry, link_id)
        if link is None or link.org_id != principal.org_id or link.action != MERGE:
            raise NotFound("no such link")
        record = link.data
        if "moved" not in record:
            raise Conflict("this link predates links recording what moved: it cannot be undone")
        # the same lock order as do_merge: target, then source
        target = await uow.lock(Customer, link.target)
        source = await uow.lock(Customer, record["source"])
        if await _unlink_of(session, link) is not None:
            raise Conflict("this link has already been undone")
        if target is None or source is None:
            raise Conflict("a customer of this link no longer exists")
        if target.merged_into_id:
            raise Conflict(
                "the customer this link went into has since been linked into another "
                f"customer ({target.merged_into_id}): undo that link first"
            )
        if source.merged_into_id != target.id:
            raise Conflict("the linked customer is no longer linked into this customer")
        models = _linked_models()
        for key, model in models.items():
            for chunk in _chunks(record["moved"].get(key, [])):
                strayed = await session.scalar(
                    select(model.id)
                    .where(model.id.in_(chunk), model.customer_id != target.id)
                    .limit(1)
                )
                if strayed is not None:
                    raise Conflict(
                        f"part of this link ({_SINGULAR[key]} {strayed}) has since moved to "
                        "another customer (merged elsewhere): undo that link first"
                    )
        moved: dict[str, int] = {}
        for key, model in models.items():
            moved[key] = 0
            for chunk in _chunks(record["moved"].get(key, [])):
                result = await session.execute(
                    update(model)
                    .where(model.id.in_(chunk), model.customer_id == target.id)
                    .values(customer_id=source.id)
                    .returning(model.id)
                )
                moved[key] += len(result.scalars().all())
        restored: list[str] = []
        kept: list[str] = []
        for field, change in record.get("fields", {}).items():
            if getattr(target, field) == change["value"]:
                setattr(target, field, change["previous"])
                restored.append(field)
            else:
                kept.append(field)  # changed since the link: the newer value stays
        attributes = dict(target.attributes)
        for name, value in record.get("attributes", {}).items():
            if name in attributes and attributes[name] == value:
                del attributes[name]
                restored.append(f"attributes.{name}")
            else:
                kept.append(f"attributes.{name}")
        target.attributes = attributes
        source.merged_into_id = None
        entry = _audit_entry(
            session,
            principal.org_id,
            principal.agent_id,
            UNLINK,
            target.id,
            link=link.id,
            source=source.id,
            moved=moved,
            restored=restored,
            kept=kept,
        )
        await session.flush()
        return Unlinked(link.id, entry.id, source.id, target.id, moved, restored, kept)


def _chunks(ids: list[str], size: int = 500) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


async def list_links(ctx: Context, org_id: str, customer_id: str) -> list[Link]:
    """The links into a customer (this record itself, not the one it may be linked into),
    newest first, each with who made it and whether (and by whom) it was undone."""
    async with ctx.db.sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.org_id != org_id:
            raise NotFound("no such customer")
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.org_id == org_id,
                    AuditEntry.action.in_((MERGE, UNLINK)),
                    AuditEntry.target == customer_id,
                )
                .order_by(AuditEntry.id.desc())
            )
        )
        unlinks = {e.data.get("link"): e for e in entries if e.action == UNLINK}
        merges = [e for e in entries if e.action == MERGE]
        agent_ids = {e.actor_agent_id for e in entries if e.actor_agent_id}
        rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids)))
        agents: dict[str, str | None] = {agent_id: name for agent_id, name in rows}
        source_ids = {e.data["source"] for e in merges}
        rows = await session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(source_ids))
        )
        sources: dict[str, str | None] = {cid: name for cid, name in rows}
    links = []
    for entry in merges:
        unlink = unlinks.get(entry.id)
        links.append(
            Link(
                entry=entry,
                source_name=sources.get(entry.data["source"]),
                actor_name=agents.get(entry.actor_agent_id or ""),
                unlink=unlink,
                unlink_actor_name=agents.get(unlink.actor_agent_id or "") if unlink else None,
            )
        )
    return links


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


async def do_merge(ctx: Context, principal: Principal, *, target_id: str, source_id: str) -> int:
    """Link source into target; returns the link id (undo with `do_undo_link`)."""
    async with ctx.uow() as uow:
        target = await uow.lock(Customer, target_id)
        source = await uow.lock(Customer, source_id)
        for customer in (target, source):
            if customer is None or customer.org_id != principal.org_id or customer.merged_into_id:
                raise NotFound("no such customer (or already merged)")
        assert target is not None and source is not None  # checked just above
        return await merge_customers(
            uow.session, source=source, target=target, actor=principal.agent_id
        )


# ---------------------------------------------------------------- editing identities
EDITABLE_KINDS = ("email", "phone")  # what a person types on the customer page


class IdentityTaken(Conflict):
    """The email or phone is another customer's: named, so that the page can offer a merge."""

    def __init__(self, kind: str, other: Customer) -> None:
        super().__init__(
            f"this {kind} is another customer's",
            field="value",
            customer_id=other.id,
            customer_name=other.name,
        )


async def _editable(session: AsyncSession, org_id: str, customer_id: str) -> Customer:
    customer = await session.get(Customer, customer_id, with_for_update=True)
    if customer is None or customer.org_id != org_id or customer.merged_into_id:
        raise NotFound("no such customer")
    return customer


async def _typed(session: AsyncSession, org_id: str, kind: str, raw: str) -> str:
    """The value as stored: an email normalised, a phone in E.164 read in the organisation's
    region (a national number typed as the customer says it)."""
    if kind not in EDITABLE_KINDS:
        raise Invalid(f"only {' and '.join(EDITABLE_KINDS)} are edited here", field="kind")
    try:
        if kind == "phone":
            return normalise_phone(raw, await phone_region(session, org_id))
        return normalise(kind, raw)
    except Invalid as exc:
        raise Invalid(exc.message, field="value") from exc


async def _free(session: AsyncSession, customer: Customer, kind: str, value: str) -> None:
    """Refuse a value another customer of the organisation holds (409 naming them)."""
    held = await _identity(session, customer.org_id, kind, value)
    if held is not None and held.customer_id != customer.id:
        other = await _current(session, held.customer_id)
        assert other is not None  # identities reference customers (foreign key)
        raise IdentityTaken(kind, other)


def _profile_after(customer: Customer, kind: str, was: str | None, now: str | None) -> None:
    """Keep the profile's email/phone in step with the identity that was edited."""
    if getattr(customer, kind) in (None, was):
        setattr(customer, kind, now)


def _audit_identity(
    session: AsyncSession, principal: Principal, customer: Customer, action: str, **data: Any
) -> None:
    session.add(
        AuditEntry(
            org_id=customer.org_id,
            actor_agent_id=principal.agent_id,
            action=f"customer.identity.{action}",
            target=customer.id,
            data=data,
        )
    )


async def do_add_identity(
    ctx: Context, principal: Principal, customer_id: str, kind: str, raw: str
) -> Identity:
    """Add an email or phone to a customer (unverified: typed by an agent, not proven)."""
    async with ctx.uow() as uow:
        session = uow.session
        customer = await _editable(session, principal.org_id, customer_id)
        value = await _typed(session, principal.org_id, kind, raw)
        await _free(session, customer, kind, value)
        identity = await _identity(session, customer.org_id, kind, value)
        if identity is None:
            identity = Identity(
                org_id=customer.org_id, customer_id=customer.id, kind=kind, value=value
            )
            session.add(identity)
            _profile_after(customer, kind, None, value)
            _audit_identity(session, principal, customer, "add", kind=kind, value=value)
        await session.flush()
    return identity


async def _own_identity(session: AsyncSession, customer: Customer, identity_id: str) -> Identity:
    identity = await session.get(Identity, identity_id)
    if identity is None or identity.customer_id != customer.id:
        raise NotFound("no such identity")
    if identity.kind not in EDITABLE_KINDS:
        raise Invalid(f"only {' and '.join(EDITABLE_KINDS)} are edited here", field="kind")
    return identity


async def do_change_identity(
    ctx: Context, principal: Principal, customer_id: str, identity_id: str, raw: str
) -> Identity:
    """Change an email or phone. A new value is not the one that was proven: its
    verification is reset (the assurance it gave belonged to the old value)."""
    async with ctx.uow() as uow:
        session = uow.session
        customer = await _editable(session, principal.org_id, customer_id)
        identity = await _own_identity(session, customer, identity_id)
        value = await _typed(session, principal.org_id, identity.kind, raw)
        if value != identity.value:
            await _free(session, customer, identity.kind, value)
            if await _identity(session, customer.org_id, identity.kind, value):
                raise Conflict(f"the customer already has this {identity.kind}", field="value")
            was, was_verified = identity.value, identity.verified
            identity.value, identity.verified = value, False
            _profile_after(customer, identity.kind, was, value)
            _audit_identity(
                session,
                principal,
                customer,
                "change",
                kind=identity.kind,
                was=was,
                value=value,
                was_verified=was_verified,
            )
        await session.flush()
    return identity


async def do_remove_identity(
    ctx: Context, principal: Principal, customer_id: str, identity_id: str
) -> None:
    """Remove an email or phone from a customer (the profile's copy goes with it)."""
    async with ctx.uow() as uow:
        session = uow.session
        customer = await _editable(session, principal.org_id, customer_id)
        identity = await _own_identity(session, customer, identity_id)
        kind, value = identity.kind, identity.value
        await session.delete(identity)
        await session.flush()
        if getattr(customer, kind) == value:
            others = await session.scalars(
                select(Identity.value)
                .where(Identity.customer_id == customer.id, Identity.kind == kind)
                .order_by(Identity.verified.desc(), Identity.created_at)
            )
            setattr(customer, kind, others.first())
        _audit_identity(
            session,
            principal,
            customer,
            "remove",
            kind=kind,
            value=value,
            was_verified=identity.verified,
        )
