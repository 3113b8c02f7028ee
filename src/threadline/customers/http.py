"""Customers: search, profile, identities, links (merges) and undoing them."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.channels.outbox import agent_view
from threadline.customers.schemas import (
    AgentRef,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    IdentityChange,
    IdentityIn,
    IdentityOut,
    LinkedCustomerOut,
    LinkMoved,
    LinkOut,
    UnlinkOut,
)
from threadline.customers.services import (
    Link,
    do_add_identity,
    do_change_identity,
    do_create_customer,
    do_merge,
    do_remove_identity,
    do_undo_link,
    do_update_customer,
    get_customer,
    list_links,
    parse_link_id,
    search_customers,
)
from threadline.errors import PROBLEM_RESPONSES
from threadline.threads.schemas import EventOut
from threadline.threads.services import hidden_from, timeline

router = APIRouter(prefix="/api/v1/customers", tags=["customers"], responses=PROBLEM_RESPONSES)


class MergeIn(BaseModel):
    source_id: str


async def _out(ctx: Ctx, org_id: str, customer_id: str) -> CustomerOut:
    customer, identities = await get_customer(ctx, org_id, customer_id)
    out = CustomerOut.model_validate(customer)
    out.identities = [IdentityOut.model_validate(i) for i in identities]
    return out


@router.get("", response_model=list[CustomerOut])
async def search(
    principal: AgentUser,
    ctx: Ctx,
    q: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=50, ge=1, le=500),
) -> list[CustomerOut]:
    return [
        CustomerOut.model_validate(c)
        for c in await search_customers(ctx, principal.org_id, q, limit)
    ]


@router.post("", response_model=CustomerOut, status_code=201)
async def create(body: CustomerCreate, principal: AgentUser, ctx: Ctx) -> CustomerOut:
    customer = await do_create_customer(ctx, principal.org_id, body)
    return await _out(ctx, principal.org_id, customer.id)


@router.get("/{customer_id}", response_model=CustomerOut)
async def one(customer_id: str, principal: AgentUser, ctx: Ctx) -> CustomerOut:
    return await _out(ctx, principal.org_id, customer_id)


@router.patch("/{customer_id}", response_model=CustomerOut)
async def update(
    customer_id: str, body: CustomerUpdate, principal: AgentUser, ctx: Ctx
) -> CustomerOut:
    await do_update_customer(ctx, principal.org_id, customer_id, body)
    return await _out(ctx, principal.org_id, customer_id)


@router.post("/{customer_id}/identities", response_model=CustomerOut, status_code=201)
async def add_identity(
    customer_id: str, body: IdentityIn, principal: AgentUser, ctx: Ctx
) -> CustomerOut:
    """Add an email or phone (audited; unverified). 409 when another customer holds it: the
    problem's details name them (`customer_id`, `customer_name`), to merge instead."""
    await do_add_identity(ctx, principal, customer_id, body.kind, body.value)
    return await _out(ctx, principal.org_id, customer_id)


@router.patch("/{customer_id}/identities/{identity_id}", response_model=CustomerOut)
async def change_identity(
    customer_id: str, identity_id: str, body: IdentityChange, principal: AgentUser, ctx: Ctx
) -> CustomerOut:
    """Change an email or phone (audited). A changed value loses the old one's verification.
    409 as when adding."""
    await do_change_identity(ctx, principal, customer_id, identity_id, body.value)
    return await _out(ctx, principal.org_id, customer_id)


@router.delete("/{customer_id}/identities/{identity_id}", status_code=204)
async def remove_identity(
    customer_id: str, identity_id: str, principal: AgentUser, ctx: Ctx
) -> Response:
    """Remove an email or phone (audited)."""
    await do_remove_identity(ctx, principal, customer_id, identity_id)
    return Response(status_code=204)


@router.get("/{customer_id}/timeline", response_model=list[EventOut])
async def customer_timeline(
    customer_id: str, principal: AgentUser, ctx: Ctx, limit: int = Query(default=500, ge=1, le=5000)
) -> list[EventOut]:
    """The customer's whole history across threads and channels, oldest first."""
    customer, _ = await get_customer(ctx, principal.org_id, customer_id)
    events = await timeline(ctx, principal.org_id, customer_id=customer.id, limit=limit)
    return await agent_view(ctx, [e for e in events if not hidden_from(principal, e.kind, e.data)])


@router.post("/{customer_id}/merge", response_model=LinkedCustomerOut)
async def merge(
    customer_id: str, body: MergeIn, principal: AgentUser, ctx: Ctx
) -> LinkedCustomerOut:
    """Link another customer record into this one (audited): identities and timelines merge.
    The answer carries the link id, which undoes the link."""
    link_id = await do_merge(ctx, principal, target_id=customer_id, source_id=body.source_id)
    out = await _out(ctx, principal.org_id, customer_id)
    return LinkedCustomerOut(**out.model_dump(), link_id=link_id)


def _link_out(link: Link) -> LinkOut:
    entry, record = link.entry, link.entry.data
    moved = record.get("moved")
    return LinkOut(
        id=entry.id,
        target_id=entry.target,
        source_id=record["source"],
        source_name=link.source_name,
        linked_at=entry.created_at,
        linked_by=(
            AgentRef(id=entry.actor_agent_id, name=link.actor_name)
            if entry.actor_agent_id
            else None
        ),
        automatic=entry.actor_agent_id is None,
        moved=LinkMoved(**{k: len(v) for k, v in moved.items()})
        if moved
        else LinkMoved(identities=0, threads=0, contacts=0),
        fields=sorted(record.get("fields", {})),
        undoable=moved is not None and link.unlink is None,
        undone_at=link.unlink.created_at if link.unlink else None,
        undone_by=(
            AgentRef(id=link.unlink.actor_agent_id, name=link.unlink_actor_name)
            if link.unlink and link.unlink.actor_agent_id
            else None
        ),
        unlink_id=link.unlink.id if link.unlink else None,
    )


@router.get("/{customer_id}/links", response_model=list[LinkOut])
async def links(customer_id: str, principal: AgentUser, ctx: Ctx) -> list[LinkOut]:
    """The links (merges) into this customer, newest first: who linked which record when,
    and whether the link was undone."""
    return [_link_out(link) for link in await list_links(ctx, principal.org_id, customer_id)]


@router.post("/links/{link_id}/undo", response_model=UnlinkOut)
async def undo_link(link_id: str, principal: AgentUser, ctx: Ctx) -> UnlinkOut:
    """Undo a link (audited): exactly what moved goes back to the linked record, and the
    target's copied profile fields are restored unless changed since. 409 when already
    undone or when part of it has since been linked elsewhere."""
    done = await do_undo_link(ctx, principal, parse_link_id(link_id))
    return UnlinkOut(
        link_id=done.link_id,
        unlink_id=done.unlink_id,
        source_id=done.source_id,
        target_id=done.target_id,
        moved=LinkMoved(**done.moved),
        restored_fields=done.restored_fields,
        kept_fields=done.kept_fields,
    )
