"""Agents: accounts, routing profiles and presence."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent, Team
from threadline.agents.schemas import AgentCreate, AgentUpdate
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import AgentChanged, PresenceChanged
from threadline.orgs.services import audit
from threadline.passwords import hash_password


def _check_profile(skills: dict[str, int] | None, capacity: dict[str, int] | None) -> None:
    for skill, level in (skills or {}).items():
        if not skill or not 1 <= int(level) <= 5:
            raise Invalid(f"skills: {skill!r} needs a level from 1 to 5", field="skills")
    for channel, slots in (capacity or {}).items():
        if not 0 <= int(slots) <= 50:
            raise Invalid(f"capacity: {channel} takes 0 to 50 at once", field="capacity")


async def check_team(session: AsyncSession, org_id: str, team_id: str | None) -> None:
    """A team an agent is put in must be one of the organisation's."""
    if team_id is not None:
        team = await session.get(Team, team_id)
        if team is None or team.org_id != org_id:
            raise Invalid("team_id: no such team", field="team_id")


async def do_create_agent(
    ctx: Context, org_id: str, data: AgentCreate, actor: str | None = None
) -> Agent:
    """Add an agent. Without a password they are invited: their password is a random secret
    nobody knows until they set theirs through the invitation (auth/invites.py)."""
    _check_profile(data.skills, dict(data.capacity))
    email = str(data.email).strip().lower()
    password = data.password or secrets.token_urlsafe(32)
    async with ctx.uow() as uow:
        await check_team(uow.session, org_id, data.team_id)
        taken = await uow.session.scalar(
            select(Agent.id).where(Agent.org_id == org_id, Agent.email == email)
        )
        if taken:
            raise Conflict(f"email: an agent with email {email} already exists", field="email")
        agent = Agent(
            org_id=org_id,
            email=email,
            name=data.name,
            password_hash=hash_password(password),
            role=data.role,
            skills=dict(data.skills),
            languages=list(data.languages),
            tier=data.tier,
            capacity=dict(data.capacity),
            max_total=data.max_total,
            timezone=data.timezone,
            team_id=data.team_id,
        )
        uow.session.add(agent)
        await uow.session.flush()
        audit(
            uow.session,
            org_id,
            actor,
            "agent.create",
            agent.id,
            email=email,
            role=data.role,
            invited=data.password is None,
        )
    return agent


async def get_agent(ctx: Context, org_id: str, agent_id: str) -> Agent:
    async with ctx.db.sessions() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or agent.org_id != org_id:
        raise NotFound("no such agent")
    return agent


Standing = Literal["active", "inactive", "all"]


async def list_agents(
    ctx: Context,
    org_id: str,
    *,
    role: str | None = None,
    team_id: str | None = None,
    standing: Standing = "active",
) -> list[Agent]:
    """The organisation's agents by name: the active ones unless `standing` says otherwise,
    of one role or one team when asked."""
    query = select(Agent).where(Agent.org_id == org_id)
    if standing != "all":
        query = query.where(Agent.active.is_(standing == "active"))
    if role is not None:
        query = query.where(Agent.role == role)
    if team_id is not None:
        query = query.where(Agent.team_id == team_id)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Agent.name)))


async def do_update_agent(
    ctx: Context, org_id: str, agent_id: str, data: AgentUpdate, actor: str
) -> Agent:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    _check_profile(changes.get("skills"), changes.get("capacity"))
    async with ctx.uow() as uow:
        agent = await uow.lock(Agent, agent_id)
        if agent is None or agent.org_id != org_id:
            raise NotFound("no such agent")
        if "team_id" in changes:
            await check_team(uow.session, org_id, changes["team_id"])
        if changes.get("active") is False and agent_id == actor:
            raise Invalid("active: you cannot deactivate yourself", field="active")
        for name, value in changes.items():
            setattr(agent, name, value)
        if not agent.active and agent.presence != "offline":
            # deactivated: no more offers, and whoever watches presence sees them leave
            agent.presence = "offline"
            agent.presence_since = utcnow()
            uow.emit(
                PresenceChanged(
                    org_id=org_id, agent_id=agent_id, presence="offline", at=agent.presence_since
                )
            )
        audit(uow.session, org_id, actor, "agent.update", agent_id, **changes)
        uow.emit(AgentChanged(org_id=org_id, agent_id=agent_id, active=agent.active))
    return agent


async def do_set_presence(
    ctx: Context, org_id: str, agent_id: str, presence: str, actor: str | None = None
) -> Agent:
    """Change an agent's presence; becoming available lets routing offer them contacts.
    Set by someone else (`actor`, a supervisor), it is audited and the agent's desktop is
    told why (reason `supervisor`)."""
    by_other = actor is not None and actor != agent_id
    async with ctx.uow() as uow:
        agent = await uow.lock(Agent, agent_id)
        if agent is None or agent.org_id != org_id:
            raise NotFound("no such agent")
        before = agent.presence
        if agent.presence != presence:
            agent.presence = presence
            agent.presence_since = utcnow()
            if presence == "available":
                agent.idle_since = agent.presence_since
        if by_other:
            audit(
                uow.session,
                org_id,
                actor,
                "agent.presence",
                agent_id,
                before=before,
                after=presence,
            )
        uow.emit(
            PresenceChanged(
                org_id=org_id,
                agent_id=agent_id,
                presence=presence,
                at=agent.presence_since,
                reason="supervisor" if by_other else None,
            )
        )
    return agent
