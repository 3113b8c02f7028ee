"""Agents: accounts, routing profiles and presence."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from threadline.agents.models import Agent
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
            raise Invalid(f"skill {skill!r}: level must be 1..5")
    for channel, slots in (capacity or {}).items():
        if not 0 <= int(slots) <= 50:
            raise Invalid(f"capacity for {channel!r} must be 0..50")


async def do_create_agent(
    ctx: Context, org_id: str, data: AgentCreate, actor: str | None = None
) -> Agent:
    _check_profile(data.skills, dict(data.capacity))
    email = str(data.email).strip().lower()
    async with ctx.uow() as uow:
        taken = await uow.session.scalar(
            select(Agent.id).where(Agent.org_id == org_id, Agent.email == email)
        )
        if taken:
            raise Conflict(f"an agent with email {email} already exists")
        agent = Agent(
            org_id=org_id,
            email=email,
            name=data.name,
            password_hash=hash_password(data.password),
            role=data.role,
            skills=dict(data.skills),
            languages=list(data.languages),
            tier=data.tier,
            capacity=dict(data.capacity),
            max_total=data.max_total,
            timezone=data.timezone,
        )
        uow.session.add(agent)
        await uow.session.flush()
        audit(uow.session, org_id, actor, "agent.create", agent.id, email=email, role=data.role)
    return agent


async def get_agent(ctx: Context, org_id: str, agent_id: str) -> Agent:
    async with ctx.db.sessions() as session:
        agent = await session.get(Agent, agent_id)
    if agent is None or agent.org_id != org_id:
        raise NotFound("no such agent")
    return agent


async def list_agents(ctx: Context, org_id: str) -> list[Agent]:
    async with ctx.db.sessions() as session:
        rows = await session.scalars(
            select(Agent).where(Agent.org_id == org_id, Agent.active.is_(True)).order_by(Agent.name)
        )
        return list(rows)


async def do_update_agent(
    ctx: Context, org_id: str, agent_id: str, data: AgentUpdate, actor: str
) -> Agent:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    _check_profile(changes.get("skills"), changes.get("capacity"))
    async with ctx.uow() as uow:
        agent = await uow.lock(Agent, agent_id)
        if agent is None or agent.org_id != org_id:
            raise NotFound("no such agent")
        for name, value in changes.items():
            setattr(agent, name, value)
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
