"""Reading JSON frames from a WebSocket without letting bad input close it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from threadline.boundary import NUL_MESSAGE, nul_location
from threadline.events.domain import DomainEvent

MAX_FRAME_CHARS = 64_000
# Events whose frame text is kept for the sockets still to send it. One event reaches up to
# every desktop of an organisation; each socket's writer sends it when its turn comes, so
# the text must outlive the dispatch by as many events as a writer may lag (a writer further
# behind than this serialises again: slower, never wrong).
FRAME_TEXTS_KEPT = 512
_frame_texts: dict[int, tuple[DomainEvent, str]] = {}


def event_text(event: DomainEvent) -> str:
    """The event's frame as JSON text, serialised once for every socket that sends it
    (the same text `send_json` would write). Keyed by the event object itself: an entry
    holds the event, so its id() cannot be reused while the entry lives."""
    entry = _frame_texts.get(id(event))
    if entry is not None and entry[0] is event:
        return entry[1]
    text = json.dumps(event.frame(), separators=(",", ":"), ensure_ascii=False)
    _frame_texts[id(event)] = (event, text)
    if len(_frame_texts) > FRAME_TEXTS_KEPT:
        del _frame_texts[next(iter(_frame_texts))]  # the oldest (dicts keep insertion order)
    return text


async def receive_frame(websocket: WebSocket) -> dict[str, Any] | None:
    """The next frame as a JSON object, or None after telling the client what was wrong
    (the socket stays open). WebSocketDisconnect propagates."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if text is None:  # a binary frame: receive_text() would raise KeyError and drop the socket
        await send_error(websocket, "invalid_json", "frames are JSON text, not binary")
        return None
    if len(text) > MAX_FRAME_CHARS:
        await send_error(websocket, "too_large", f"frames are limited to {MAX_FRAME_CHARS} chars")
        return None
    try:
        frame = json.loads(text)
    except ValueError:
        await send_error(websocket, "invalid_json", "a frame must be a JSON object")
        return None
    if not isinstance(frame, dict):
        await send_error(websocket, "invalid_json", "a frame must be a JSON object")
        return None
    if nul_location(frame) is not None:  # PostgreSQL cannot store it; no one types it
        await send_error(websocket, "invalid", NUL_MESSAGE, _client_id(frame))
        return None
    return frame


def _client_id(frame: dict[str, Any]) -> str | None:
    client_id = frame.get("client_id")
    return client_id if isinstance(client_id, str) and nul_location(client_id) is None else None


async def send_error(
    websocket: WebSocket, code: str, message: str, client_id: str | None = None
) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_id:
        frame["client_id"] = client_id
    await websocket.send_json(frame)
