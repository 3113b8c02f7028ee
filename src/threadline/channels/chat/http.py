"""The web chat widget: its script, its session endpoint and its WebSocket.

WebSocket protocol (JSON text frames), client -> server:
  {"type": "auth", "token": "<visitor token>"}   first, always (never ?token= in the URL);
                                            refused: close 4401 (open a new session)
  {"type": "message", "client_id": "<uuid>", "text": "..."}
                                            ack: {"type": "ack", "client_id", "seq"}
  {"type": "typing", "on": true|false}
  {"type": "delivered" | "read", "seq": N}
  {"type": "resume", "after_seq": N}       -> every customer-visible event after N, in order
  {"type": "identify", "name", "email", "phone", "hash"}
server -> client:
  {"type": "wait", "wait": {...} | null}   their place in line, wait range, callback offer or
                                           callback (as GET .../wait); on connect when there is
                                           one, then on every change
  {"type": "event", "event": {...}}        a timeline entry (message, assigned, resolved, ...)
  {"type": "typing", "name": "...", "on": bool}      the agent is typing
  {"type": "read", "seq": N}               the agent has read up to N
  {"type": "agent_joined", "agent": {"id", "name"}}
  {"type": "error", "code", "message"[, "client_id"]}
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketDisconnected

from threadline.auth.dependencies import Ctx
from threadline.auth.sockets import first_frame_token, refuse
from threadline.callbacks.schemas import KeepPlaceIn, WindowOut
from threadline.channels.chat.schemas import IdentifyIn, SessionIn, SessionOut, WidgetBookIn
from threadline.channels.chat.services import (
    VisitorSession,
    do_identify,
    do_open_session,
    do_visitor_book,
    do_visitor_keep_place,
    do_visitor_message,
    visitor_from_header,
    visitor_session,
    visitor_wait,
    visitor_windows,
)
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES, ThreadlineError
from threadline.events.domain import (
    ContactAccepted,
    DomainEvent,
    ReceiptMoved,
    TimelineEntryAdded,
    Typing,
)
from threadline.journey.live import customer_streams
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import customer_wait
from threadline.ratelimit import rate_limited, rate_limits
from threadline.realtime.frames import receive_frame, send_error
from threadline.threads.schemas import MAX_SEQ, EventOut
from threadline.threads.services import do_mark_read, get_current_thread_id, timeline
from threadline.web.customer_api import CustomerRoute, preflight

log = structlog.get_logger(__name__)
router = APIRouter(tags=["chat widget"], responses=PROBLEM_RESPONSES)
STATIC = Path(__file__).parents[2] / "web" / "static"


@router.get("/widget.js", include_in_schema=False)
async def widget_script() -> FileResponse:
    return FileResponse(
        STATIC / "widget" / "threadline-widget.js",
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=300"},
    )


class _Frame(BaseModel):
    type: str = Field(max_length=20)
    client_id: str | None = Field(default=None, max_length=64)
    text: str | None = Field(default=None, max_length=10_000)
    on: bool = False
    seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    after_seq: int = Field(default=0, ge=0, le=MAX_SEQ)


@router.websocket("/api/v1/widget/{key}/ws")
async def widget_socket(websocket: WebSocket, key: str) -> None:
    ctx: Context = websocket.app.state.ctx
    # Accept first: a close before the handshake becomes an HTTP 403, and the clients could
    # not tell "log in again" (4401) from any other failure. The visitor token comes in the
    # first frame, never in the URL (auth/sockets.py).
    await websocket.accept()
    try:
        session = await visitor_session(ctx, key, await first_frame_token(websocket))
    except ThreadlineError as exc:
        await refuse(websocket, exc.message)
        return
    except WebSocketDisconnect:
        return
    org_id = session.endpoint.org_id
    state = {"customer_id": session.customer_id}
    streams = customer_streams(ctx)
    subscription = streams.subscribe(org_id, state["customer_id"])
    acks = _Acks(websocket)
    writer = asyncio.create_task(_push(websocket, subscription, acks))
    waits = _Waits(ctx, websocket, org_id)
    waits.watch(state["customer_id"])
    try:
        while True:
            raw = await receive_frame(websocket)
            if raw is None:
                continue
            customer_id = state["customer_id"]
            await _handle(ctx, websocket, session, state, raw, acks)
            if state["customer_id"] != customer_id:  # an identify merged the visitor
                streams.move(org_id, customer_id, state["customer_id"], subscription)
                waits.watch(state["customer_id"])
    except (WebSocketDisconnect, WebSocketDisconnected):
        pass  # gone, or gone while we answered (an ack to a closed socket): what was stored stays
    finally:
        streams.unsubscribe(org_id, state["customer_id"], subscription)
        waits.stop()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _push(websocket: WebSocket, subscription: Any, acks: _Acks) -> None:
    async for event in subscription:
        if isinstance(event, TimelineEntryAdded):
            await acks.stored(event)
        frame = _customer_frame(event)
        if frame is not None:
            await websocket.send_json(frame)
    await websocket.close(code=4408, reason="too slow; reconnect and resume")


class _Acks:
    """The acks of the visitor's messages on this socket, each sent once, as soon as the
    message is stored: its timeline entry comes back on the bus right after the commit,
    before the work that may follow it (routing a new contact, other handlers), which the
    visitor need not wait for. The handler acks what the bus did not bring (a retry of a
    stored message announces nothing)."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._expected: set[str] = set()

    def expect(self, client_id: str | None) -> None:
        if client_id:
            self._expected.add(client_id)

    async def stored(self, event: TimelineEntryAdded) -> None:
        entry = event.event
        client_id = entry.get("client_msg_id")
        if client_id in self._expected and entry.get("author_type") == "customer":
            await self._send(client_id, entry["seq"], event.thread_id)

    async def settle(self, client_id: str | None, seq: int, thread_id: str) -> None:
        if not client_id or client_id in self._expected:
            await self._send(client_id, seq, thread_id)

    def forget(self, client_id: str | None) -> None:
        if client_id:
            self._expected.discard(client_id)

    async def _send(self, client_id: str | None, seq: int, thread_id: str) -> None:
        if client_id:
            self._expected.discard(client_id)
        await self._websocket.send_json(
            {"type": "ack", "client_id": client_id, "seq": seq, "thread_id": thread_id}
        )


class _Waits:
    """The visitor's wait on this socket, when it changes (their place, its range, their
    callback): one view per customer, shared by their sockets (journey/live.py)."""

    def __init__(self, ctx: Context, websocket: WebSocket, org_id: str) -> None:
        self._ctx, self._websocket, self._org_id = ctx, websocket, org_id
        self._hub = customer_streams(ctx).waits
        self._watching: tuple[Any, Any] | None = None

    def watch(self, customer_id: str) -> None:
        self.stop()
        ctx, org_id = self._ctx, self._org_id
        key = ("customer", org_id, customer_id)
        # gated: computed only while the customer waits (most visitors chat with an agent
        # or with nobody yet: their sockets read nothing); the frame is serialised once
        watcher = self._hub.watch(
            key,
            org_id,
            customer_id,
            lambda: customer_wait(ctx, org_id, customer_id),
            send_frame=self._websocket.send_text,
            gated=True,
        )
        self._watching = (key, watcher)

    def stop(self) -> None:
        if self._watching is not None:
            self._hub.unwatch(*self._watching)
            self._watching = None


def _customer_frame(event: DomainEvent) -> dict[str, Any] | None:
    """What the visitor's widget is told of an event of theirs (its public protocol)."""
    if isinstance(event, TimelineEntryAdded) and not event.internal:
        return {"type": "event", "event": event.event}
    if isinstance(event, Typing) and event.who == "agent":
        return {"type": "typing", "name": event.agent_name, "on": event.on}
    if isinstance(event, ReceiptMoved) and event.by == "agent":
        return {"type": "read", "seq": event.read_seq}
    if isinstance(event, ContactAccepted):
        return {"type": "agent_joined", "agent": {"id": event.agent_id, "name": event.agent_name}}
    return None


async def _handle(
    ctx: Context,
    websocket: WebSocket,
    session: VisitorSession,
    state: dict[str, str],
    raw: dict[str, Any],
    acks: _Acks,
) -> None:
    client_id = raw.get("client_id") if isinstance(raw.get("client_id"), str) else None
    try:
        frame = _Frame.model_validate(raw)
        visitor = (session.endpoint.id, session.visitor.visitor_id)
        if await rate_limits(ctx).chat_frame(frame.type, *visitor):  # False: typing, dropped
            await _dispatch(ctx, websocket, session, state, frame, raw, acks)
    except ValidationError as exc:
        await send_error(websocket, "invalid", str(exc.errors()[0]["msg"]), client_id)
    except ThreadlineError as exc:
        await send_error(websocket, exc.code, exc.message, client_id)
    except SQLAlchemyError:
        # Overload (a pool timeout, a locked database): nothing was stored; the widget keeps
        # the message in its outbox and sends it again with the same client id.
        log.exception("chat.frame_failed", frame_type=raw.get("type"))
        await send_error(websocket, "unavailable", "not stored, try again", client_id)


async def _dispatch(
    ctx: Context,
    websocket: WebSocket,
    session: VisitorSession,
    state: dict[str, str],
    frame: _Frame,
    raw: Any,
    acks: _Acks,
) -> None:
    org_id = session.endpoint.org_id
    if frame.type == "message":
        # after an identify merged the visitor, write as the customer they turned out to be
        current = dataclasses.replace(session, customer_id=state["customer_id"])
        acks.expect(frame.client_id)  # acked from the bus once stored (_Acks)
        try:
            ingested = await do_visitor_message(ctx, current, frame.text or "", frame.client_id)
        except BaseException:
            acks.forget(frame.client_id)
            raise
        state["thread_id"] = ingested.thread.id
        await acks.settle(frame.client_id, ingested.event.seq, ingested.thread.id)
    elif frame.type == "typing":
        await ctx.bus.publish(
            [
                Typing(
                    org_id=org_id,
                    who="customer",
                    customer_id=state["customer_id"],
                    thread_id=state.get("thread_id"),
                    on=frame.on,
                )
            ]
        )
    elif frame.type in ("read", "delivered") and state.get("thread_id"):
        await do_mark_read(
            ctx, org_id, state["thread_id"], "customer", frame.seq, pointer=frame.type
        )
    elif frame.type == "resume":
        await _resume(ctx, websocket, session, state, frame.after_seq)
    elif frame.type == "identify":
        data = IdentifyIn.model_validate(raw)
        # like messages: act as the customer the visitor is now (an earlier identify may
        # have merged them), or a second identify re-merges the merged-away record
        current = dataclasses.replace(session, customer_id=state["customer_id"])
        state["customer_id"] = await do_identify(ctx, current, data)
        await websocket.send_json({"type": "identified", "customer_id": state["customer_id"]})
    else:
        await send_error(websocket, "unknown_type", f"unknown frame type {frame.type!r}")


async def _resume(
    ctx: Context,
    websocket: WebSocket,
    session: VisitorSession,
    state: dict[str, str],
    after_seq: int,
) -> None:
    """Send what the widget missed while disconnected (reconnect without loss)."""
    thread_id = await get_current_thread_id(ctx, session.endpoint.org_id, state["customer_id"])
    if thread_id is None:
        return
    state["thread_id"] = thread_id
    for event in await timeline(
        ctx, session.endpoint.org_id, thread_id=thread_id, after_seq=after_seq, customer_view=True
    ):
        await websocket.send_json(
            {"type": "event", "event": EventOut.model_validate(event).model_dump(mode="json")}
        )


# ---------------------------------------------------------------- the wait and callbacks
# Called from the customer's site (another origin) with 'Authorization: Bearer <visitor
# token>': the token authorises the visitor's own contact and callbacks only.
visitor_router = APIRouter(
    prefix="/api/v1/widget/{key}",
    tags=["chat widget"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)
VisitorToken = Annotated[
    str | None, Header(max_length=1000, description="'Bearer <visitor token>'")
]


@visitor_router.options("/{path:path}", include_in_schema=False)
async def visitor_preflight(key: str, path: str) -> Response:
    return preflight()


# The widget runs on the customer's own site, another origin: its session call is allowed
# from anywhere (CustomerRoute: problems included, so the widget can read a 429's
# Retry-After). No cookies are involved (the visitor token travels in the body).
@visitor_router.post(
    "/session",
    response_model=SessionOut,
    dependencies=[Depends(rate_limited("widget_session"))],
)
async def open_session(
    key: str,
    body: SessionIn,
    ctx: Ctx,
    origin: Annotated[str | None, Header(max_length=300)] = None,
) -> SessionOut:
    """Start or restore a visitor's chat: returns a signed visitor token and the history.
    403 when the page's origin is not one the widget's settings allow."""
    return await do_open_session(ctx, key, body, origin)


@visitor_router.get("/wait", response_model=CustomerWaitOut)
async def wait(key: str, ctx: Ctx, authorization: VisitorToken = None) -> CustomerWaitOut:
    """The visitor's place in line, the wait as a range, and the callback offer or callback
    (empty when they wait for nothing). Also pushed as `wait` frames on the socket."""
    return await visitor_wait(ctx, await visitor_from_header(ctx, key, authorization))


@visitor_router.post(
    "/callback",
    response_model=CustomerWaitOut,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def keep_my_place(
    key: str, body: KeepPlaceIn, ctx: Ctx, authorization: VisitorToken = None
) -> CustomerWaitOut:
    """Call me back, keep my place: the visitor's waiting contact is called back at its
    turn, on this number (else the one we know)."""
    session = await visitor_from_header(ctx, key, authorization)
    return await do_visitor_keep_place(ctx, session, body.phone)


@visitor_router.get("/callback-windows", response_model=list[WindowOut])
async def callback_windows(
    key: str, ctx: Ctx, authorization: VisitorToken = None
) -> list[WindowOut]:
    """Windows the visitor may book a callback in, soonest first."""
    found = await visitor_windows(ctx, await visitor_from_header(ctx, key, authorization))
    return [WindowOut(start=w.start, end=w.end, room=room) for w, room in found]


@visitor_router.post(
    "/callbacks",
    response_model=CustomerWaitOut,
    status_code=201,
    dependencies=[Depends(rate_limited("customer_write"))],
)
async def book(
    key: str, body: WidgetBookIn, ctx: Ctx, authorization: VisitorToken = None
) -> CustomerWaitOut:
    """Book a time instead of waiting: the place in line is given up for the window."""
    session = await visitor_from_header(ctx, key, authorization)
    return await do_visitor_book(ctx, session, body.window_start, body.phone)


router.include_router(visitor_router)
