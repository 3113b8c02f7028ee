"""Login, server-side sessions (named by a signed cookie) and API bearer tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent
from threadline.auth.models import AgentSession, ApiToken
from threadline.auth.roles import Principal
from threadline.auth.throttle import LoginThrottle
from threadline.context import Context
from threadline.db import UnitOfWork, across_orgs, enter_org, utcnow
from threadline.errors import NotAllowed, NotAuthenticated, NotFound
from threadline.events.domain import AgentChanged, SessionEnded
from threadline.events.handlers import Handlers
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.passwords import hash_password, needs_rehash, verify_password
from threadline.ratelimit import rate_limits

SESSION_SALT = "threadline.session"
# how often a session's last_seen_at is written (not on every request: it is a write)
LAST_SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Client:
    """Who is logging in, as the session remembers it."""

    address: str
    user_agent: str | None = None


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key.get_secret_value(), salt=SESSION_SALT)


def _principal(agent: Agent) -> Principal:
    return Principal(agent_id=agent.id, org_id=agent.org_id, role=agent.role, name=agent.name)


def _session_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def do_login(
    ctx: Context, org_slug: str | None, email: str, password: str, client: Client
) -> tuple[Principal, str]:
    """Check an agent's password and open a session; returns the principal and the value of
    the session cookie. Throttled (auth/throttle.py): raises RateLimited while the account
    or the client's address is locked, whatever the password."""
    throttle = LoginThrottle(rate_limits(ctx), ctx.settings)
    async with throttle.attempt(email, client.address) as attempt:
        agent = await _agent_by_email(ctx, org_slug, email)
        # argon2 takes tens of milliseconds of CPU: off the event loop
        hashed = agent.password_hash if agent else None
        attempt.succeeded = await asyncio.to_thread(verify_password, hashed, password)
    if not attempt.succeeded or agent is None:
        raise NotAuthenticated("wrong email or password")
    enter_org(agent.org_id)
    async with ctx.uow() as uow:
        if needs_rehash(agent.password_hash):
            row = await uow.session.get_one(Agent, agent.id)
            row.password_hash = hash_password(password)
        cookie = await _open_session(ctx, uow.session, agent, client)
    return _principal(agent), cookie


async def _agent_by_email(ctx: Context, org_slug: str | None, email: str) -> Agent | None:
    query = select(Agent).where(Agent.email == email.strip().lower(), Agent.active.is_(True))
    if org_slug:
        query = query.join(Organization, Organization.id == Agent.org_id).where(
            Organization.slug == org_slug
        )
    with across_orgs():  # whose account it is, is what we are finding out
        async with ctx.db.sessions() as session:
            agents = (await session.scalars(query)).all()
    return agents[0] if len(agents) == 1 else None


async def _open_session(ctx: Context, session: AsyncSession, agent: Agent, client: Client) -> str:
    """Store a new session for `agent` (inside the caller's transaction); returns the signed
    cookie value, which carries the session's secret and nothing else."""
    now = utcnow()
    secret = secrets.token_urlsafe(32)
    session.add(
        AgentSession(
            id=_session_digest(secret),
            org_id=agent.org_id,
            agent_id=agent.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.session_max_age_s),
            user_agent=(client.user_agent or "")[:300] or None,
            address=client.address[:45],
        )
    )
    # the agent's sessions that ended a day ago are kept no longer
    await session.execute(
        delete(AgentSession).where(
            AgentSession.agent_id == agent.id, AgentSession.expires_at < now - timedelta(days=1)
        )
    )
    return _serializer(ctx).dumps(secret)


def session_id_of(ctx: Context, cookie: str) -> str | None:
    """The stored id of the session a cookie names; None when it is not ours or too old."""
    try:
        secret = _serializer(ctx).loads(cookie, max_age=ctx.settings.session_max_age_s)
    except BadSignature:
        return None
    return _session_digest(secret) if isinstance(secret, str) else None


async def principal_from_session(ctx: Context, cookie: str) -> Principal:
    """The agent behind a session cookie: one primary-key lookup (with the agent joined);
    401 when the session expired, was revoked, or the agent is no longer active."""
    session_id = session_id_of(ctx, cookie)
    if session_id is None:
        raise NotAuthenticated("session expired or invalid; log in again")
    with across_orgs():  # the session says whose it is
        async with ctx.db.sessions() as db:
            found = (
                await db.execute(
                    select(AgentSession, Agent)
                    .join(Agent, Agent.id == AgentSession.agent_id)
                    .where(AgentSession.id == session_id)
                )
            ).first()
    now = utcnow()
    if found is None or found[0].revoked_at is not None or found[0].expires_at <= now:
        raise NotAuthenticated("session expired or ended; log in again")
    stored, agent = found
    if not agent.active or agent.org_id != stored.org_id:
        raise NotAuthenticated("this account is no longer active")
    enter_org(agent.org_id)
    if now - stored.last_seen_at >= LAST_SEEN_EVERY:
        async with ctx.uow() as uow:
            await uow.session.execute(
                update(AgentSession).where(AgentSession.id == session_id).values(last_seen_at=now)
            )
    return _principal(agent)


async def do_logout(ctx: Context, cookie: str | None) -> None:
    """End the session a cookie names, on the server: the cookie opens nothing any more, and
    the desktop sockets it opened are closed (`session.ended`)."""
    session_id = session_id_of(ctx, cookie) if cookie else None
    if session_id is None:
        return
    with across_orgs():  # the cookie names the session, and the session its organisation
        await _end_session(ctx, session_id)


async def _end_session(ctx: Context, session_id: str) -> None:
    async with ctx.uow() as uow:
        stored = await uow.session.get(AgentSession, session_id)
        if stored is None or stored.revoked_at is not None:
            return
        stored.revoked_at = utcnow()
        uow.emit(_session_ended(stored.org_id, stored.agent_id, [session_id]))


async def revoke_sessions(uow: UnitOfWork, org_id: str, agent_id: str, *, tokens_too: bool) -> None:
    """End every open session of an agent (deactivated, or a new password); call inside the
    transaction that makes the change. Their open sockets are closed after commit, and with
    `tokens_too` (the agent may no longer work at all) those opened by an API token too."""
    ended = list(
        await uow.session.scalars(
            update(AgentSession)
            .where(AgentSession.agent_id == agent_id, AgentSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(AgentSession.id)
        )
    )
    uow.emit(_session_ended(org_id, agent_id, ended, tokens_too=tokens_too))


def register(handlers: Handlers) -> None:
    """A deactivated agent is signed out in the same write, their open desktops closed."""
    handlers.in_transaction(AgentChanged, _on_agent_changed)


async def _on_agent_changed(uow: UnitOfWork, event: AgentChanged) -> None:
    if not event.active:
        await revoke_sessions(uow, event.org_id, event.agent_id, tokens_too=True)


def _session_ended(
    org_id: str, agent_id: str, session_ids: list[str], *, tokens_too: bool = False
) -> SessionEnded:
    return SessionEnded(
        org_id=org_id, agent_id=agent_id, session_ids=session_ids, tokens_too=tokens_too
    )


async def do_change_password(
    ctx: Context, principal: Principal, current: str, new: str, client: Client
) -> str:
    """An agent sets a new password: every session of theirs ends (a thief's too) and this
    client gets a fresh one, whose cookie value is returned. The current password is checked
    under the login throttle."""
    throttle = LoginThrottle(rate_limits(ctx), ctx.settings)
    async with ctx.db.sessions() as db:
        agent = await db.get(Agent, principal.agent_id)
    if agent is None or not agent.active:
        raise NotAuthenticated("this account is no longer active")
    async with throttle.attempt(agent.email, client.address) as attempt:
        attempt.succeeded = await asyncio.to_thread(verify_password, agent.password_hash, current)
    if not attempt.succeeded:
        # 403, not 401: the session is fine, the proof is not (401 would sign the page out)
        raise NotAllowed("the current password is wrong")
    async with ctx.uow() as uow:
        row = await uow.session.get_one(Agent, agent.id)
        row.password_hash = hash_password(new)
        await revoke_sessions(uow, agent.org_id, agent.id, tokens_too=False)
        cookie = await _open_session(ctx, uow.session, row, client)
        audit(uow.session, agent.org_id, agent.id, "agent.password", agent.id)
    return cookie


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
        await uow.session.flush()
        audit(uow.session, principal.org_id, principal.agent_id, "token.create", row.id, name=name)
    return row, token


async def principal_from_token(ctx: Context, token: str) -> Principal:
    with across_orgs():  # the token says whose it is
        async with ctx.db.sessions() as session:
            row = await session.scalar(
                select(ApiToken).where(ApiToken.token_sha256 == _token_digest(token))
            )
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("unknown or revoked API token")
    enter_org(row.org_id)
    principal = await _active_principal(ctx, row.org_id, row.agent_id)
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_SEEN_EVERY:
        async with ctx.uow() as uow:  # when it was last used, to the nearest few minutes
            await uow.session.execute(
                update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
            )
    return principal


async def do_revoke_token(ctx: Context, principal: Principal, token_id: str) -> None:
    async with ctx.uow() as uow:
        row = await uow.session.get(ApiToken, token_id)
        if row is None or row.agent_id != principal.agent_id or row.revoked_at is not None:
            raise NotFound("no such token")
        row.revoked_at = utcnow()
        audit(uow.session, principal.org_id, principal.agent_id, "token.revoke", row.id)


async def list_tokens(ctx: Context, principal: Principal) -> list[ApiToken]:
    """The caller's API tokens that are not revoked, newest first."""
    async with ctx.db.sessions() as session:
        rows = await session.scalars(
            select(ApiToken)
            .where(ApiToken.agent_id == principal.agent_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc())
        )
        return list(rows)
