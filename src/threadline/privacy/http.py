"""Customer data duties over HTTP (admins only, audited):

- `GET /api/v1/customers/{id}/export`: a ZIP of `customer.json` (profile, identities, every
  thread's timeline, contacts, callbacks) and the customer's files.
- `POST /api/v1/customers/{id}/erase` with `{"confirm": "<the customer's id>"}`: personal data
  removed or anonymised across every thread and domain (customers/erasure.py); refused while a
  conversation is in progress; open callbacks are cancelled first.
- `GET|PUT /api/v1/org/retention`: how many days resolved conversations keep their content
  (privacy/retention.py); null keeps it.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from threadline.auth.dependencies import Admin, Ctx
from threadline.callbacks.models import Callback
from threadline.callbacks.services import do_cancel
from threadline.customers.erasure import do_erase_customer
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, Conflict, Invalid, NotFound
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.privacy.export import build_zip, customer_document
from threadline.privacy.retention import MAX_DAYS, MIN_DAYS, replan
from threadline.routing.models import Contact
from threadline.routing.services import OPEN_CONTACT
from threadline.web.media import media_store

router = APIRouter(prefix="/api/v1/customers", tags=["customer data"], responses=PROBLEM_RESPONSES)
org_router = APIRouter(prefix="/api/v1/org", tags=["organisation"], responses=PROBLEM_RESPONSES)
FINISHED_CALLBACKS = ("completed", "failed", "cancelled")


class EraseIn(BaseModel):
    confirm: str = Field(max_length=64, description="the customer's id, typed again")


class ErasedOut(BaseModel):
    customer_id: str
    identities_removed: int
    callbacks_cancelled: int
    erased_at: str


@router.get(
    "/{customer_id}/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "a ZIP: customer.json and files/",
        }
    },
)
async def export_customer(customer_id: str, principal: Admin, ctx: Ctx) -> Response:
    async with ctx.uow() as uow:  # one snapshot, and the audit entry with it
        document = await customer_document(uow.session, principal.org_id, customer_id, utcnow())
        audit(uow.session, principal.org_id, principal.agent_id, "customer.export", customer_id)
    data = await asyncio.to_thread(build_zip, document, media_store(ctx.settings))
    stamp = utcnow().strftime("%Y%m%d")
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{customer_id}/erase", response_model=ErasedOut)
async def erase_customer(customer_id: str, body: EraseIn, principal: Admin, ctx: Ctx) -> ErasedOut:
    async with ctx.db.sessions() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.org_id != principal.org_id:
            raise NotFound("no such customer")
        if body.confirm != customer_id:
            raise Invalid("confirm must repeat the customer's id: erasure cannot be undone")
        live = await session.scalar(
            select(Contact.id)
            .where(
                Contact.org_id == principal.org_id,
                Contact.customer_id == customer_id,
                Contact.status.in_(OPEN_CONTACT),
            )
            .limit(1)
        )
        open_callbacks = (
            await session.scalars(
                select(Callback.id).where(
                    Callback.org_id == principal.org_id,
                    Callback.customer_id == customer_id,
                    Callback.status.not_in(FINISHED_CALLBACKS),
                )
            )
        ).all()
    if live is not None:
        raise Conflict("a conversation with this customer is in progress: resolve it first")
    for callback_id in open_callbacks:
        await do_cancel(ctx, principal.org_id, callback_id, by="erasure")
    erased = await do_erase_customer(ctx, principal.org_id, customer_id, principal.agent_id)
    return ErasedOut(
        customer_id=erased.customer_id,
        identities_removed=erased.identities,
        callbacks_cancelled=len(open_callbacks),
        erased_at=erased.erased_at,
    )


class RetentionIn(BaseModel):
    content_days: int | None = Field(
        ge=MIN_DAYS,
        le=MAX_DAYS,
        description="resolved conversations keep their content this many days; null: forever",
    )


class RetentionOut(BaseModel):
    content_days: int | None


@org_router.get("/retention", response_model=RetentionOut)
async def get_retention(principal: Admin, ctx: Ctx) -> RetentionOut:
    async with ctx.db.sessions() as session:
        org = await session.get(Organization, principal.org_id)
    return RetentionOut(content_days=None if org is None else org.retention_days)


@org_router.put("/retention", response_model=RetentionOut)
async def set_retention(body: RetentionIn, principal: Admin, ctx: Ctx) -> RetentionOut:
    async with ctx.uow() as uow:
        org = await uow.lock(Organization, principal.org_id)
        if org is None:
            raise NotFound("no such organisation")
        before = org.retention_days
        org.retention_days = body.content_days
        await replan(uow, org.id, body.content_days)
        audit(
            uow.session,
            org.id,
            principal.agent_id,
            "org.retention",
            org.id,
            before=before,
            after=body.content_days,
        )
    ctx.timers.wake()
    return RetentionOut(content_days=body.content_days)
