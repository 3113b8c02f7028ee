"""Callbacks: keep my place, booked windows, and the customer's manage link."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.callbacks.availability import available_windows
from threadline.callbacks.offers import contact_wait
from threadline.callbacks.schemas import (
    BookIn,
    CallbackOut,
    KeepPlaceIn,
    PublicCallbackOut,
    RescheduleIn,
    WaitOut,
    WindowOut,
)
from threadline.callbacks.services import (
    do_book,
    do_cancel,
    do_keep_my_place,
    do_reschedule,
    get_callback,
    list_callbacks,
    public_view,
)
from threadline.callbacks.tokens import callback_of_link
from threadline.errors import PROBLEM_RESPONSES
from threadline.ratelimit import rate_limited

router = APIRouter(prefix="/api/v1", tags=["callbacks"], responses=PROBLEM_RESPONSES)


@router.get("/callbacks", response_model=list[CallbackOut])
async def callbacks(
    principal: AgentUser,
    ctx: Ctx,
    status: str | None = Query(default=None, max_length=16),
    customer_id: str | None = Query(default=None, max_length=36),
    limit: int = Query(default=200, ge=1, le=2000),
) -> list[CallbackOut]:
    rows = await list_callbacks(
        ctx, principal.org_id, status=status, customer_id=customer_id, limit=limit
    )
    return [CallbackOut.model_validate(c) for c in rows]


@router.post("/callbacks", response_model=CallbackOut, status_code=201)
async def book(body: BookIn, principal: AgentUser, ctx: Ctx) -> CallbackOut:
    """Book a callback in a window with forecast room, for a customer (e.g. on the phone)."""
    callback = await do_book(
        ctx,
        principal.org_id,
        customer_id=body.customer_id,
        queue_id=body.queue_id,
        window_start=body.window_start,
        phone=body.phone,
        reason=body.reason,
        context=body.context,
        language=body.language,
        min_tier=body.min_tier,
    )
    return CallbackOut.model_validate(callback)


@router.get("/callbacks/{callback_id}", response_model=CallbackOut)
async def one_callback(callback_id: str, principal: AgentUser, ctx: Ctx) -> CallbackOut:
    return CallbackOut.model_validate(await get_callback(ctx, principal.org_id, callback_id))


@router.post("/callbacks/{callback_id}/reschedule", response_model=CallbackOut)
async def reschedule(
    callback_id: str, body: RescheduleIn, principal: AgentUser, ctx: Ctx
) -> CallbackOut:
    callback = await do_reschedule(ctx, principal.org_id, callback_id, body.window_start)
    return CallbackOut.model_validate(callback)


@router.post("/callbacks/{callback_id}/cancel", response_model=CallbackOut)
async def cancel(callback_id: str, principal: AgentUser, ctx: Ctx) -> CallbackOut:
    callback = await do_cancel(ctx, principal.org_id, callback_id, by="agent")
    return CallbackOut.model_validate(callback)


@router.get("/queues/{queue_id}/callback-windows", response_model=list[WindowOut])
async def windows(queue_id: str, principal: AgentUser, ctx: Ctx) -> list[WindowOut]:
    """Windows with forecast room in this queue, soonest first."""
    found = await available_windows(ctx, principal.org_id, queue_id)
    return [WindowOut(start=w.start, end=w.end, room=room) for w, room in found]


@router.get("/contacts/{contact_id}/wait", response_model=WaitOut)
async def wait(contact_id: str, principal: AgentUser, ctx: Ctx) -> WaitOut:
    """A contact's live place in line, its wait as a range, and its callback offer."""
    return await contact_wait(ctx, principal.org_id, contact_id)


@router.post("/contacts/{contact_id}/callback", response_model=CallbackOut, status_code=201)
async def keep_my_place(
    contact_id: str, body: KeepPlaceIn, principal: AgentUser, ctx: Ctx
) -> CallbackOut:
    """Turn a waiting contact into a callback that keeps its place in line."""
    callback = await do_keep_my_place(
        ctx, principal.org_id, contact_id, phone=body.phone, language=body.language
    )
    return CallbackOut.model_validate(callback)


# ---------------------------------------------------------------- the manage link
@router.get("/public/callbacks/{token}", response_model=PublicCallbackOut)
async def public_callback(token: str, ctx: Ctx) -> PublicCallbackOut:
    """The customer's view of their callback, by the signed token in their link."""
    return await public_view(ctx, await callback_of_link(ctx, token))


@router.get("/public/callbacks/{token}/windows", response_model=list[WindowOut])
async def public_windows(token: str, ctx: Ctx) -> list[WindowOut]:
    callback = await get_callback(ctx, None, await callback_of_link(ctx, token))
    found = await available_windows(ctx, callback.org_id, callback.queue_id)
    return [WindowOut(start=w.start, end=w.end, room=room) for w, room in found]


@router.post(
    "/public/callbacks/{token}/reschedule",
    response_model=PublicCallbackOut,
    dependencies=[Depends(rate_limited("callback_manage"))],
)
async def public_reschedule(token: str, body: RescheduleIn, ctx: Ctx) -> PublicCallbackOut:
    callback_id = await callback_of_link(ctx, token)
    await do_reschedule(ctx, None, callback_id, body.window_start)
    return await public_view(ctx, callback_id)


@router.post(
    "/public/callbacks/{token}/cancel",
    response_model=PublicCallbackOut,
    dependencies=[Depends(rate_limited("callback_manage"))],
)
async def public_cancel(token: str, ctx: Ctx) -> PublicCallbackOut:
    callback_id = await callback_of_link(ctx, token)
    await do_cancel(ctx, None, callback_id, by="customer")
    return await public_view(ctx, callback_id)
