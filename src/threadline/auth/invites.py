"""Invitations: a link that lets a new agent set their own password, once.

The link carries a token signed with the server's secret (itsdangerous, its own salt) that
names the agent and a fingerprint of their current password hash, and expires after
INVITE_MAX_AGE. Setting the password changes the hash, so the token opens nothing any more:
single use without a table. The token travels in the link's fragment (`/invite#<token>`),
which browsers never send to the server, so it lands in no access log.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from threadline.agents.models import Agent
from threadline.auth.roles import Principal
from threadline.auth.services import Client, _open_session, _principal
from threadline.context import Context
from threadline.db import across_orgs, enter_org, utcnow
from threadline.errors import Invalid
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.passwords import hash_password

INVITE_SALT = "threadline.invite"
INVITE_MAX_AGE = timedelta(days=7)


def _serializer(ctx: Context) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.settings.secret_key.get_secret_value(), salt=INVITE_SALT)


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def invite_token(ctx: Context, agent: Agent) -> str:
    return _serializer(ctx).dumps({"a": agent.id, "p": _fingerprint(agent.password_hash)})


def invite_link(ctx: Context, agent: Agent) -> tuple[str, datetime]:
    """The invitation link for `agent` and when it expires."""
    url = f"{ctx.settings.base_url.rstrip('/')}/invite#{invite_token(ctx, agent)}"
    return url, utcnow() + INVITE_MAX_AGE


async def invited_agent(ctx: Context, token: str) -> tuple[Agent, Organization]:
    """The active agent a token invites, with their organisation; Invalid when the token is
    forged, expired or already used."""
    try:
        data = _serializer(ctx).loads(token, max_age=int(INVITE_MAX_AGE.total_seconds()))
    except BadSignature:
        raise Invalid("this invitation is not valid or has expired", field="token") from None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str):
        raise Invalid("this invitation is not valid or has expired", field="token")
    with across_orgs():  # the token says whose agent it is
        async with ctx.db.sessions() as session:
            found = (
                await session.execute(
                    select(Agent, Organization)
                    .join(Organization, Organization.id == Agent.org_id)
                    .where(Agent.id == data["a"])
                )
            ).first()
    if found is None or not found[0].active:
        raise Invalid("this invitation has been withdrawn", field="token")
    agent, org = found
    if _fingerprint(agent.password_hash) != data.get("p"):
        raise Invalid("this invitation has been used already", field="token")
    return agent, org


async def do_accept_invite(
    ctx: Context, token: str, password: str, client: Client
) -> tuple[Principal, str]:
    """Set the invited agent's password and sign them in; returns the principal and the
    session cookie. The token opens nothing afterwards."""
    agent, _org = await invited_agent(ctx, token)
    enter_org(agent.org_id)
    hashed = await asyncio.to_thread(hash_password, password)
    async with ctx.uow() as uow:
        row = await uow.lock(Agent, agent.id)
        if row is None or row.password_hash != agent.password_hash:
            raise Invalid("this invitation has been used or withdrawn", field="token")
        row.password_hash = hashed
        cookie = await _open_session(ctx, uow.session, row, client)
        audit(uow.session, row.org_id, row.id, "agent.invite_accepted", row.id)
    return _principal(row), cookie
