"""The web chat widget: its script, its session endpoint and its WebSocket.

WebSocket protocol (JSON text frames), client -> server:
  {"type": "message", "client_id": "<uuid>", "text": "..."}
                                            ack: {"type": "ack", "client_id", "seq"}
  {"type": "typing", "on": true|false}
  {"type": "delivered" | "read", "seq": N}
  {"type": "resume", "after_seq": N}       -> every customer-visible event after N, in order
  {"type": "identify", "name", "email", "phone", "hash"}
server -> client:
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
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from threadline.auth.dependencies import Ctx
from threadline.channels.chat.schemas import IdentifyIn, SessionIn, SessionOut
from threadline.channels.chat.services import (
    VisitorSession,
    do_identify,
    do_open_session,
    do_visitor_message,
    visitor_session,
)
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES, ThreadlineError
from threadline.realtime.frames import receive_frame, send_error
from threadline.threads.schemas import MAX_SEQ, EventOut
from threadline.threads.services import do_mark_read, get_current_thread_id, timeline

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


# The widget runs on the customer's own site, another origin: its one HTTP call must be
# allowed from anywhere. No cookies are involved (the visitor token travels in the body).
WIDGET_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


@router.options("/api/v1/widget/{key}/session", include_in_schema=False)
async def session_preflight(key: str) -> Response:
    return Response(status_code=204, headers=WIDGET_CORS)


@router.post("/api/v1/widget/{key}/session", response_model=SessionOut)
async def open_session(key: str, body: SessionIn, ctx: Ctx, response: Response) -> SessionOut:
    """Start or restore a visitor's chat: returns a signed visitor token and the history."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return await do_open_session(ctx, key, body.visitor_token, body.locale)


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
    try:
        session = await visitor_session(ctx, key, websocket.query_params.get("token", ""))
    except ThreadlineError as exc:
        # Accept first: a close before the handshake becomes an HTTP 403, and the clients
        # could not tell "log in again" (4401) from any other failure.
        await websocket.accept()
        await websocket.close(code=4401, reason=exc.message)
        return
    await websocket.accept()
    state = {"customer_id": session.customer_id}
    subscription = ctx.bus.subscribe(
        lambda e: (
            e.get("org_id") == session.endpoint.org_id
            and e.get("customer_id") == state["customer_id"]
        )
    )
    writer = asyncio.create_task(_push(websocket, subscription))
    try:
        while True:
            raw = await receive_frame(websocket)
            if raw is None:
                continue
            await _handle(ctx, websocket, session, state, raw)
    except WebSocketDisconnect:
        pass
    finally:
        ctx.bus.unsubscribe(subscription)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _push(websocket: WebSocket, subscription: Any) -> None:
    async for event in subscription:
        frame = _customer_frame(event)
        if frame is not None:
            await websocket.send_json(frame)
    await websocket.close(code=4408, reason="too slow; reconnect and resume")


def _customer_frame(event: dict[str, Any]) -> dict[str, Any] | None:
    kind = event["type"]
    if kind == "timeline" and not event["internal"]:
        return {"type": "event", "event": event["event"]}
    if kind == "typing" and event.get("who") == "agent":
        return {"type": "typing", "name": event.get("name"), "on": event.get("on", False)}
    if kind == "receipt" and event.get("by") == "agent":
        return {"type": "read", "seq": event["read_seq"]}
    if kind == "agent.joined":
        return {"type": "agent_joined", "agent": event["agent"]}
    return None


async def _handle(
    ctx: Context,
    websocket: WebSocket,
    session: VisitorSession,
    state: dict[str, str],
    raw: dict[str, Any],
) -> None:
    client_id = raw.get("client_id") if isinstance(raw.get("client_id"), str) else None
    try:
        frame = _Frame.model_validate(raw)
        await _dispatch(ctx, websocket, session, state, frame, raw)
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
) -> None:
    org_id = session.endpoint.org_id
    if frame.type == "message":
        # after an identify merged the visitor, write as the customer they turned out to be
        current = dataclasses.replace(session, customer_id=state["customer_id"])
        ingested = await do_visitor_message(ctx, current, frame.text or "", frame.client_id)
        await websocket.send_json(
            {
                "type": "ack",
                "client_id": frame.client_id,
                "seq": ingested.event.seq,
                "thread_id": ingested.thread.id,
            }
        )
        state["thread_id"] = ingested.thread.id
    elif frame.type == "typing":
        await ctx.bus.publish(
            [
                {
                    "type": "typing",
                    "who": "customer",
                    "org_id": org_id,
                    "customer_id": state["customer_id"],
                    "thread_id": state.get("thread_id"),
                    "on": frame.on,
                }
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
