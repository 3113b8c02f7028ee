"""Login, logout, who-am-I and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response

from threadline.auth.dependencies import SESSION_COOKIE, AgentUser, Ctx
from threadline.auth.schemas import LoginIn, MeOut, TokenIn, TokenOut
from threadline.auth.services import do_create_token, do_login, do_revoke_token, sign_session
from threadline.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/login", response_model=MeOut)
async def login(body: LoginIn, response: Response, ctx: Ctx) -> MeOut:
    principal = await do_login(ctx, body.org, body.email, body.password)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(ctx, principal),
        max_age=ctx.settings.session_max_age_s,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.cookie_secure,
    )
    return MeOut(
        agent_id=principal.agent_id,
        org_id=principal.org_id,
        role=principal.role,
        name=principal.name,
    )


@router.post("/logout", status_code=204)
async def logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@router.get("/me", response_model=MeOut)
async def me(principal: AgentUser) -> MeOut:
    return MeOut(
        agent_id=principal.agent_id,
        org_id=principal.org_id,
        role=principal.role,
        name=principal.name,
    )


@router.post("/tokens", response_model=TokenOut, status_code=201)
async def create_token(body: TokenIn, principal: AgentUser, ctx: Ctx) -> TokenOut:
    row, token = await do_create_token(ctx, principal, body.name)
    return TokenOut(id=row.id, name=row.name, created_at=row.created_at, token=token)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, principal: AgentUser, ctx: Ctx) -> Response:
    await do_revoke_token(ctx, principal, token_id)
    return Response(status_code=204)
