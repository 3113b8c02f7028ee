"""Customers: search, profile, identities, merge."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.customers.schemas import CustomerCreate, CustomerOut, CustomerUpdate, IdentityOut
from threadline.customers.services import (
    do_create_customer,
    do_merge,
    do_update_customer,
    get_customer,
    search_customers,
)
from threadline.errors import PROBLEM_RESPONSES
from threadline.threads.schemas import EventOut
from threadline.threads.services import agent_view, timeline

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


@router.get("/{customer_id}/timeline", response_model=list[EventOut])
async def customer_timeline(
    customer_id: str, principal: AgentUser, ctx: Ctx, limit: int = Query(default=500, ge=1, le=5000)
) -> list[EventOut]:
    """The customer's whole history across threads and channels, oldest first."""
    customer, _ = await get_customer(ctx, principal.org_id, customer_id)
    events = await timeline(ctx, principal.org_id, customer_id=customer.id, limit=limit)
    return await agent_view(ctx, events)


@router.post("/{customer_id}/merge", response_model=CustomerOut)
async def merge(customer_id: str, body: MergeIn, principal: AgentUser, ctx: Ctx) -> CustomerOut:
    """Link another customer record into this one (audited): identities and timelines merge."""
    await do_merge(ctx, principal, target_id=customer_id, source_id=body.source_id)
    return await _out(ctx, principal.org_id, customer_id)
