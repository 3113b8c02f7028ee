"""Queues, contacts and offers."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from threadline.auth.dependencies import Admin, AgentUser, Ctx, Supervisor
from threadline.errors import PROBLEM_RESPONSES
from threadline.routing.schemas import (
    ContactOut,
    OfferDetail,
    QueueIn,
    QueueOut,
    QueueStats,
    WrapupOut,
)
from threadline.routing.services import (
    do_create_queue,
    do_update_queue,
    get_queue,
    list_contacts,
    list_queues,
    open_wrapups,
    pending_offers,
    queue_stats,
)

router = APIRouter(prefix="/api/v1", tags=["routing"], responses=PROBLEM_RESPONSES)


@router.get("/queues", response_model=list[QueueOut])
async def queues(principal: AgentUser, ctx: Ctx) -> list[QueueOut]:
    return [QueueOut.model_validate(q) for q in await list_queues(ctx, principal.org_id)]


@router.post("/queues", response_model=QueueOut, status_code=201)
async def create_queue(body: QueueIn, principal: Admin, ctx: Ctx) -> QueueOut:
    queue = await do_create_queue(ctx, principal.org_id, body, principal.agent_id)
    return QueueOut.model_validate(queue)


@router.get("/queues/stats", response_model=list[QueueStats])
async def stats(principal: Supervisor, ctx: Ctx) -> list[QueueStats]:
    return await queue_stats(ctx, principal.org_id)


@router.get("/queues/{queue_id}", response_model=QueueOut)
async def one_queue(queue_id: str, principal: AgentUser, ctx: Ctx) -> QueueOut:
    return QueueOut.model_validate(await get_queue(ctx, principal.org_id, queue_id))


@router.put("/queues/{queue_id}", response_model=QueueOut)
async def update_queue(queue_id: str, body: QueueIn, principal: Admin, ctx: Ctx) -> QueueOut:
    queue = await do_update_queue(ctx, principal.org_id, queue_id, body, principal.agent_id)
    return QueueOut.model_validate(queue)


@router.get("/contacts", response_model=list[ContactOut])
async def contacts(
    principal: Supervisor,
    ctx: Ctx,
    status: str | None = Query(default=None, max_length=16),
    queue_id: str | None = None,
    limit: int = Query(default=200, ge=1, le=2000),
) -> list[ContactOut]:
    rows = await list_contacts(ctx, principal.org_id, status=status, queue_id=queue_id, limit=limit)
    return [ContactOut.model_validate(c) for c in rows]


@router.get("/offers", response_model=list[OfferDetail])
async def offers(principal: AgentUser, ctx: Ctx) -> list[OfferDetail]:
    """The calling agent's pending offers with their details (e.g. after a desktop reload)."""
    return await pending_offers(ctx, principal)


@router.get("/wrapups", response_model=list[WrapupOut])
async def wrapups(principal: AgentUser, ctx: Ctx) -> list[WrapupOut]:
    """The calling agent's open wrap-ups (after-contact work), with the time each was given:
    a reloaded desktop shows its wrap-up bar again. Done: POST
    /api/v1/threads/{thread_id}/wrapup/done."""
    return await open_wrapups(ctx, principal)


@router.post("/offers/{offer_id}/accept", response_model=ContactOut)
async def accept(offer_id: str, principal: AgentUser, ctx: Ctx) -> ContactOut:
    return ContactOut.model_validate(await ctx.routing.accept(principal, offer_id))


@router.post("/offers/{offer_id}/reject", status_code=204)
async def reject(offer_id: str, principal: AgentUser, ctx: Ctx) -> Response:
    await ctx.routing.reject(principal, offer_id)
    return Response(status_code=204)
