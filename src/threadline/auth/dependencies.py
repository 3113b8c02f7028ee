"""FastAPI dependencies: who is calling (session cookie or bearer token) and may they."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, WebSocket

from threadline.auth.roles import Principal
from threadline.auth.services import principal_from_session, principal_from_token
from threadline.auth.sockets import first_frame_token
from threadline.context import Context
from threadline.errors import NotAllowed, NotAuthenticated

SESSION_COOKIE = "tl_session"


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


Ctx = Annotated[Context, Depends(get_ctx)]


async def principal_for(ctx: Context, authorization: str | None, cookie: str | None) -> Principal:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("use 'Authorization: Bearer <token>'")
        return await principal_from_token(ctx, token.strip())
    if cookie:
        return await principal_from_session(ctx, cookie)
    raise NotAuthenticated("log in or send a bearer token")


async def current_principal(request: Request) -> Principal:
    return await principal_for(
        get_ctx(request), request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)
    )


async def websocket_principal(websocket: WebSocket) -> Principal:
    """Who an accepted desktop socket is for: the session cookie (SecurityMiddleware refused
    the handshake if its Origin was foreign), else the API token of its first frame."""
    ctx: Context = websocket.app.state.ctx
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if cookie:
        return await principal_for(ctx, None, cookie)
    token = await first_frame_token(websocket)
    return await principal_for(ctx, f"Bearer {token}", None)


def require(role: str) -> Callable[[Request], Awaitable[Principal]]:
    async def _check(request: Request) -> Principal:
        principal = await current_principal(request)
        if not principal.has(role):
            raise NotAllowed(f"this needs the {role} role")
        return principal

    return _check


AgentUser = Annotated[Principal, Depends(require("agent"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
Admin = Annotated[Principal, Depends(require("admin"))]
