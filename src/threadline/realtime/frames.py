"""Reading JSON frames from a WebSocket without letting bad input close it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from threadline.boundary import NUL_MESSAGE, nul_location

MAX_FRAME_CHARS = 64_000


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
