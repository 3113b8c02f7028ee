"""Reading JSON frames from a WebSocket without letting bad input close it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import WebSocket

MAX_FRAME_CHARS = 64_000


async def receive_frame(websocket: WebSocket) -> dict[str, Any] | None:
    """The next frame as a JSON object, or None after telling the client what was wrong
    (the socket stays open). WebSocketDisconnect propagates."""
    text = await websocket.receive_text()
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
    return frame


async def send_error(
    websocket: WebSocket, code: str, message: str, client_id: str | None = None
) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_id:
        frame["client_id"] = client_id
    await websocket.send_json(frame)
