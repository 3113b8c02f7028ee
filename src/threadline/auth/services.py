"""Login, signed session cookies and API bearer tokens."""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from threadline.agents.models import Agent
from threadline.auth.models import ApiToken
from threadline.auth.passwords import hash_password, needs_rehash, verify_password
from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import NotAuthenticated, NotFound
from threadline.orgs.models import Organization

SESSION_SALT = "threadline.session"


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key.get_secret_value(), salt=SESSION_SALT)


def _principal(agent: Agent) -> Principal:
    return Principal(agent_id=agent.id, org_id=agent.org_id, role=agent.role, name=agent.name)


async def do_login(ctx: Context, org_slug: str | None, email: str, password: str) -> Principal:
    """Check an agent's password; rehash it if argon2's parameters changed."""
    async with ctx.uow() as uow:
        query = select(Agent).where(Agent.email == email.strip().lower(), Agent.active.is_(True))
        if org_slug:
            query = query.join(Organization, Organization.id == Agent.org_id).where(
                Organization.slug == org_slug
            )
        agents = (await uow.session.scalars(query)).all()
        agent = agents[0] if len(agents) == 1 else None
        if not verify_password(agent.password_hash if agent else None, password) or not agent:
            raise NotAuthenticated("wrong email or password")
        if needs_rehash(agent.password_hash):
            agent.password_hash = hash_password(password)
        return _principal(agent)


def sign_session(ctx: Context, principal: Principal) -> str:
    return _serializer(ctx).dumps({"a": principal.agent_id, "o": principal.org_id})


async def principal_from_session(ctx: Context, cookie: str) -> Principal:
    try:
        data = _serializer(ctx).loads(cookie, max_age=ctx.settings.session_max_age_s)
    except BadSignature as exc:
        raise NotAuthenticated("session expired or invalid; log in again") from exc
    return await _active_principal(ctx, data["o"], data["a"])


async def _active_principal(ctx: Context, org_id: str, agent_id: str) -> Principal:
    async with ctx.db.sessions() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or not agent.active or agent.org_id != org_id:
        raise NotAuthenticated("this account is no longer active")
    return _principal(agent)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def do_create_token(ctx: Context, principal: Principal, name: str) -> tuple[ApiToken, str]:
    """Create a bearer token for the API; the clear token is returned once, stored hashed."""
    token = "tl_" + secrets.token_urlsafe(32)
    async with ctx.uow() as uow:
        row = ApiToken(
            org_id=principal.org_id,
            agent_id=principal.agent_id,
            name=name,
            token_sha256=_token_digest(token),
        )
        uow.session.add(row)
    return row, token


async def principal_from_token(ctx: Context, token: str) -> Principal:
    async with ctx.db.sessions() as session:
        row = await session.scalar(
            select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token))
        )
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("unknown or revoked API token")
    return await _active_principal(ctx, row.org_id, row.agent_id)


async def do_revoke_token(ctx: Context, principal: Principal, token_id: str) -> None:
    async with ctx.uow() as uow:
        row = await uow.session.get(ApiToken, token_id)
        if row is None or row.agent_id != principal.agent_id:
            raise NotFound("no such token")
        row.revoked_at = utcnow()
