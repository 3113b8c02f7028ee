"""How a WebSocket client that holds a token proves it: in its first frame, never in the URL.

A URL is written to access logs, proxy logs and browser history; a frame is not. So after
the handshake the client's first frame must be `{"type": "auth", "token": "<token>"}` (the
widget's visitor token, an app session token or an agent's API token); the server answers
with the socket's usual greeting, or closes it with 4401 and the reason. Pages of ours that
authenticate by the session cookie send no auth frame: the cookie came with the handshake,
whose Origin `SecurityMiddleware` checked.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import WebSocket, WebSocketDisconnect

from threadline.errors import NotAuthenticated

AUTH_FRAME_TIMEOUT_S = 10.0
MAX_TOKEN_CHARS = 4096
AUTH_FRAME_HELP = 'send {"type": "auth", "token": "<token>"} as the first frame'


async def first_frame_token(websocket: WebSocket, timeout_s: float = AUTH_FRAME_TIMEOUT_S) -> str:
    """The token of an accepted socket's first frame. Raises NotAuthenticated when the
    client sends anything else, nothing within `timeout_s`, or a token in the URL (refused
    even when valid: it has already been written to logs)."""
    if "token" in websocket.query_params:
        raise NotAuthenticated(f"a token in the URL is refused: {AUTH_FRAME_HELP}")
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout_s)
    except TimeoutError:
        raise NotAuthenticated(f"no auth frame within {timeout_s:g} s: {AUTH_FRAME_HELP}") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    return _token_of(message.get("text"))


def _token_of(text: str | None) -> str:
    try:
        frame = json.loads(text) if text and len(text) <= MAX_TOKEN_CHARS + 100 else None
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or frame.get("type") != "auth":
        raise NotAuthenticated(AUTH_FRAME_HELP)
    token = frame.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > MAX_TOKEN_CHARS:
        raise NotAuthenticated(f"the auth frame's token is missing or malformed: {AUTH_FRAME_HELP}")
    return token.strip()


async def refuse(websocket: WebSocket, reason: str, code: int = 4401) -> None:
    """Close an accepted socket with an application code the client can read (a close
    before the handshake is an HTTP 403 the browser hides). Reasons are cut to the 123
    bytes a close frame allows."""
    await websocket.close(code=code, reason=reason.encode()[:123].decode(errors="ignore"))
