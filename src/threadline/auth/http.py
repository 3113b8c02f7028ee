"""Login, logout, password change, who-am-I and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import SESSION_COOKIE, AgentUser, Ctx
from threadline.auth.invites import do_accept_invite, invited_agent
from threadline.auth.roles import Principal
from threadline.auth.schemas import (
    InviteAcceptIn,
    InviteCheckIn,
    InvitedOut,
    LoginIn,
    MeOut,
    PasswordIn,
    TokenIn,
    TokenOut,
    TokenRowOut,
)
from threadline.auth.services import (
    Client,
    do_change_password,
    do_create_token,
    do_login,
    do_logout,
    do_revoke_token,
    list_tokens,
)
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES
from threadline.ratelimit import rate_limits

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


def _client(ctx: Context, request: Request) -> Client:
    return Client(rate_limits(ctx).client(request), request.headers.get("user-agent"))


def _set_session_cookie(response: Response, ctx: Context, value: str) -> None:
    # HttpOnly: no script reads it. SameSite=Lax, not Strict: a link to the desktop from
    # a mail or a ticket opens it signed in, while other sites' forms and fetches carry no
    # cookie (Lax does not guard against another port of the same host, which is the same
    # site: the CSRF checks do). Secure whenever the public URL is https (config).
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=ctx.settings.session_max_age_s,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
    )


def _me(principal: Principal) -> MeOut:
    return MeOut(
        agent_id=principal.agent_id,
        org_id=principal.org_id,
        role=principal.role,
        name=principal.name,
    )


@router.post("/login", response_model=MeOut)
async def login(body: LoginIn, request: Request, response: Response, ctx: Ctx) -> MeOut:
    """Open a session (a cookie). Failed passwords lock the account and the address for a
    while, longer each time: 429 with Retry-After, whatever the password."""
    principal, cookie = await do_login(
        ctx, body.org, body.email, body.password, _client(ctx, request)
    )
    _set_session_cookie(response, ctx, cookie)
    return _me(principal)


@router.post("/logout", status_code=204)
async def logout(request: Request, ctx: Ctx) -> Response:
    """End this session on the server (the cookie opens nothing any more) and drop it."""
    await do_logout(ctx, request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
    )
    return response


@router.post("/password", response_model=MeOut)
async def change_password(
    body: PasswordIn, principal: AgentUser, request: Request, response: Response, ctx: Ctx
) -> MeOut:
    """Set a new password: every other session of this agent ends; this one goes on with a
    fresh cookie."""
    cookie = await do_change_password(
        ctx, principal, body.current_password, body.new_password, _client(ctx, request)
    )
    _set_session_cookie(response, ctx, cookie)
    return _me(principal)


@router.get("/me", response_model=MeOut)
async def me(principal: AgentUser) -> MeOut:
    return _me(principal)


@router.get("/tokens", response_model=list[TokenRowOut])
async def tokens(principal: AgentUser, ctx: Ctx) -> list[TokenRowOut]:
    """Your API tokens that still work (never the tokens themselves: shown once)."""
    return [
        TokenRowOut(id=t.id, name=t.name, created_at=t.created_at, last_used_at=t.last_used_at)
        for t in await list_tokens(ctx, principal)
    ]


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_token(body: TokenIn, principal: AgentUser, ctx: Ctx) -> TokenOut:
    row, token = await do_create_token(ctx, principal, body.name)
    return TokenOut(id=row.id, name=row.name, created_at=row.created_at, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, principal: AgentUser, ctx: Ctx) -> Response:
    await do_revoke_token(ctx, principal, token_id)
    return Response(status_code=204)


@router.post("/invite/check", response_model=InvitedOut)
async def check_invite(body: InviteCheckIn, ctx: Ctx) -> InvitedOut:
    """Whom an invitation is for (the invitation page greets them); 422 when it is not
    valid, expired or used."""
    agent, org = await invited_agent(ctx, body.token)
    return InvitedOut(name=agent.name, email=agent.email, organisation=org.name)


@router.post("/invite/accept", response_model=MeOut)
async def accept_invite(
    body: InviteAcceptIn, request: Request, response: Response, ctx: Ctx
) -> MeOut:
    """Set an invited agent's password and open their session; the invitation is then
    used up."""
    principal, cookie = await do_accept_invite(
        ctx, body.token, body.password, _client(ctx, request)
    )
    _set_session_cookie(response, ctx, cookie)
    return _me(principal)
