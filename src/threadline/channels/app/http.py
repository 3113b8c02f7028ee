"""The app API: what a company's mobile app (and the customer web page) calls.

Open a session (anonymous, or vouched for by the company's backend), then send its token as
`Authorization: Bearer <token>`. Live updates of a contact's wait come over a WebSocket:
`/api/v1/app/{key}/contacts/{contact_id}/ws`: the client's first frame is
`{"type": "auth", "token": "<token>"}` (never `?token=` in the URL: URLs are logged), then
server -> client frames `{"type": "wait", "wait": {...}}` (the same shape as GET
.../contacts/{contact_id}); close codes 4401 (the token was refused) and 4404 (no such
contact). See docs/app.md.

The app and the token are checked inside each handler, after the body: a request that
does not parse is told so first.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from threadline.auth.dependencies import Ctx
from threadline.auth.sockets import first_frame_token, refuse
from threadline.callbacks.schemas import KeepPlaceIn, RescheduleIn, WindowOut
from threadline.channels.app.schemas import (
    AppBookIn,
    AppSessionIn,
    AppSessionOut,
    CallNowIn,
    CallNowOut,
    RouteIn,
    StartContactIn,
)
from threadline.channels.app.services import (
    AppSession,
    app_session,
    callbacks,
    contact_state,
    do_app_book,
    do_call_now,
    do_cancel_own,
    do_keep_place,
    do_open_session,
    do_reschedule_own,
    do_start_contact,
    own_callback,
    own_contact,
    windows,
)
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, ThreadlineError
from threadline.journey.live import customer_streams
from threadline.journey.schemas import CallbackBrief, CustomerWaitOut
from threadline.journey.services import WaitState, callback_brief, contact_view
from threadline.ratelimit import rate_limited
from threadline.web.customer_api import CustomerRoute, preflight

router = APIRouter(
    prefix="/api/v1/app/{key}",
    tags=["app"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)
Authorization = Annotated[
    str | None,
    Header(max_length=4096, description="'Bearer <session token>' from POST .../session"),
]


@router.options("/{path:path}", include_in_schema=False)
async def cors_preflight(key: str, path: str) -> Response:
    return preflight()


@router.post(
    "/session", response_model=AppSessionOut, dependencies=[Depends(rate_limited("app_session"))]
)
async def open_session(key: str, body: AppSessionIn, ctx: Ctx) -> AppSessionOut:
    """Start or restore the app's session; with a signed identity, for that customer at the
    assurance they reached. Returns the token, the reasons to pick from and any open wait."""
    return await do_open_session(ctx, key, body)


@router.post(
    "/contacts",
    response_model=CustomerWaitOut,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def start_contact(
    key: str, body: StartContactIn, ctx: Ctx, authorization: Authorization = None
) -> CustomerWaitOut:
    """Talk to someone: queue with what the customer entered (reason, answers, account)."""
    session = await app_session(ctx, key, authorization)
    contact_id = await do_start_contact(ctx, session, body)
    return await contact_view(ctx, session.org_id, contact_id)


@router.get("/contacts/{contact_id}", response_model=CustomerWaitOut)
async def contact(
    key: str, contact_id: str, ctx: Ctx, authorization: Authorization = None
) -> CustomerWaitOut:
    """The contact's place in line, its wait as a range, its callback offer or callback."""
    session = await app_session(ctx, key, authorization)
    return await contact_state(ctx, session, contact_id)


@router.post(
    "/contacts/{contact_id}/callback",
    response_model=CustomerWaitOut,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def keep_my_place(
    key: str, contact_id: str, body: KeepPlaceIn, ctx: Ctx, authorization: Authorization = None
) -> CustomerWaitOut:
    """Call me back, keep my place: the waiting contact is called back when its turn comes."""
    session = await app_session(ctx, key, authorization)
    return await do_keep_place(ctx, session, contact_id, body.phone)


@router.get("/windows", response_model=list[WindowOut])
async def callback_windows(
    key: str,
    ctx: Ctx,
    authorization: Authorization = None,
    reason: str | None = Query(default=None, max_length=64),
    queue: str | None = Query(default=None, max_length=100),
    contact_id: str | None = Query(default=None, max_length=36),
    callback_id: str | None = Query(default=None, max_length=36),
) -> list[WindowOut]:
    """Windows with room to book a callback, soonest first: in the queue of the customer's
    callback (to reschedule it) or waiting contact, else for this reason (or queue)."""
    session = await app_session(ctx, key, authorization)
    where = RouteIn(reason=reason, queue=queue)
    found = await windows(ctx, session, where, contact_id=contact_id, callback_id=callback_id)
    return [WindowOut(start=w.start, end=w.end, room=room) for w, room in found]


@router.get("/callbacks", response_model=list[CallbackBrief])
async def my_callbacks(
    key: str, ctx: Ctx, authorization: Authorization = None
) -> list[CallbackBrief]:
    """The customer's callbacks, newest first."""
    return await callbacks(ctx, await app_session(ctx, key, authorization))


@router.post(
    "/callbacks",
    response_model=CallbackBrief,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def book(
    key: str, body: AppBookIn, ctx: Ctx, authorization: Authorization = None
) -> CallbackBrief:
    """Book a callback window; with `contact_id`, instead of waiting (it leaves the queue)."""
    session = await app_session(ctx, key, authorization)
    return await do_app_book(
        ctx,
        session,
        body,
        window_start=body.window_start,
        phone=body.phone,
        contact_id=body.contact_id,
    )


@router.get("/callbacks/{callback_id}", response_model=CallbackBrief)
async def one_callback(
    key: str, callback_id: str, ctx: Ctx, authorization: Authorization = None
) -> CallbackBrief:
    session = await app_session(ctx, key, authorization)
    return await callback_brief(ctx, (await own_callback(ctx, session, callback_id)).id)


@router.post(
    "/callbacks/{callback_id}/reschedule",
    response_model=CallbackBrief,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def reschedule(
    key: str, callback_id: str, body: RescheduleIn, ctx: Ctx, authorization: Authorization = None
) -> CallbackBrief:
    """Move a booked callback to another window with room."""
    session = await app_session(ctx, key, authorization)
    return await do_reschedule_own(ctx, session, callback_id, body.window_start)


@router.post(
    "/callbacks/{callback_id}/cancel",
    response_model=CallbackBrief,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def cancel(
    key: str, callback_id: str, ctx: Ctx, authorization: Authorization = None
) -> CallbackBrief:
    """Cancel a callback (a kept place in line is given up)."""
    session = await app_session(ctx, key, authorization)
    return await do_cancel_own(ctx, session, callback_id)


@router.post(
    "/call-now",
    response_model=CallNowOut,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def call_now(
    key: str, body: CallNowIn, ctx: Ctx, authorization: Authorization = None
) -> CallNowOut:
    """A number to call and a one-time code (10 minutes, single use): the call continues
    this session, with its assurance and what the customer entered."""
    session = await app_session(ctx, key, authorization)
    number, issued = await do_call_now(ctx, session, body)
    left = (issued.expires_at - utcnow()).total_seconds()
    return CallNowOut(
        number=number, code=issued.code, expires_at=issued.expires_at, expires_in_s=int(left)
    )


@router.websocket("/contacts/{contact_id}/ws")
async def contact_socket(websocket: WebSocket, key: str, contact_id: str) -> None:
    ctx: Context = websocket.app.state.ctx
    # Accept first: a close before the handshake is an HTTP 403 the client cannot read.
    # The session token comes in the first frame, never in the URL (auth/sockets.py).
    await websocket.accept()
    try:
        session = await app_session(ctx, key, None, await first_frame_token(websocket))
        await own_contact(ctx, session, contact_id)
    except ThreadlineError as exc:
        await refuse(websocket, exc.message, 4404 if exc.status == 404 else 4401)
        return
    except WebSocketDisconnect:
        return
    pusher = asyncio.create_task(_push(ctx, websocket, session, contact_id))
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # the client has nothing to say; frames are ignored
    except WebSocketDisconnect:
        pass
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pusher


async def _push(ctx: Context, websocket: WebSocket, session: AppSession, contact_id: str) -> None:
    async def compute() -> WaitState:
        contact = await own_contact(ctx, session, contact_id)
        view = await contact_view(ctx, session.org_id, contact.id)
        return WaitState(view, frozenset({contact.queue_id}))

    # one computed view per contact, however many of the customer's screens show it; its
    # `wait` frame (journey.live.wait_frame) serialised once for all of them
    hub = customer_streams(ctx).waits
    key = ("contact", session.org_id, contact_id)
    watcher = hub.watch(
        key, session.org_id, session.customer_id, compute, send_frame=websocket.send_text
    )
    try:
        await asyncio.Event().wait()  # until the socket's handler cancels this
    finally:
        hub.unwatch(key, watcher)
