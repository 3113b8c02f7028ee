"""Teams: agents grouped under a name, with an optional supervisor. An agent is in one
team at most (`agents.team_id`); a team's members are the agents that name it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent, Team
from threadline.agents.schemas import TeamIn, TeamPatch
from threadline.context import Context
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.services import audit


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    member_ids: list[str]


async def _check_supervisor(session: AsyncSession, org_id: str, agent_id: str | None) -> None:
    if agent_id is None:
        return
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.org_id != org_id or not agent.active:
        raise Invalid("supervisor_id: no such active agent", field="supervisor_id")
    if agent.role not in ("supervisor", "admin"):
        raise Invalid("supervisor_id: this agent is not a supervisor", field="supervisor_id")


async def _check_name(session: AsyncSession, org_id: str, name: str, team_id: str | None) -> None:
    taken = await session.scalar(
        select(Team.id).where(Team.org_id == org_id, Team.name == name, Team.id != (team_id or ""))
    )
    if taken:
        raise Conflict(f"name: a team named {name!r} already exists", field="name")


async def list_teams(ctx: Context, org_id: str) -> list[TeamView]:
    """The organisation's teams by name, each with its active members."""
    async with ctx.db.sessions() as session:
        teams = list(
            await session.scalars(select(Team).where(Team.org_id == org_id).order_by(Team.name))
        )
        members = (
            await session.execute(
                select(Agent.team_id, Agent.id)
                .where(Agent.org_id == org_id, Agent.team_id.is_not(None), Agent.active.is_(True))
                .order_by(Agent.name)
            )
        ).all()
    by_team: dict[str, list[str]] = {}
    for team_id, agent_id in members:
        by_team.setdefault(str(team_id), []).append(agent_id)
    return [TeamView(team, by_team.get(team.id, [])) for team in teams]


async def get_team(ctx: Context, org_id: str, team_id: str) -> TeamView:
    for view in await list_teams(ctx, org_id):
        if view.team.id == team_id:
            return view
    raise NotFound("no such team")


async def do_create_team(ctx: Context, org_id: str, data: TeamIn, actor: str) -> Team:
    name = data.name.strip()
    if not name:
        raise Invalid("name: a team needs a name", field="name")
    async with ctx.uow() as uow:
        await _check_name(uow.session, org_id, name, None)
        await _check_supervisor(uow.session, org_id, data.supervisor_id)
        team = Team(org_id=org_id, name=name, supervisor_id=data.supervisor_id)
        uow.session.add(team)
        await uow.session.flush()
        audit(uow.session, org_id, actor, "team.create", team.id, name=name)
    return team


async def do_update_team(
    ctx: Context, org_id: str, team_id: str, data: TeamPatch, actor: str
) -> Team:
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    async with ctx.uow() as uow:
        team = await uow.lock(Team, team_id)
        if team is None or team.org_id != org_id:
            raise NotFound("no such team")
        if "name" in changes:
            changes["name"] = str(changes["name"]).strip()
            if not changes["name"]:
                raise Invalid("name: a team needs a name", field="name")
            await _check_name(uow.session, org_id, changes["name"], team_id)
        if "supervisor_id" in changes:
            await _check_supervisor(uow.session, org_id, changes["supervisor_id"])
        for name, value in changes.items():
            setattr(team, name, value)
        audit(uow.session, org_id, actor, "team.update", team_id, **changes)
    return team


async def do_delete_team(ctx: Context, org_id: str, team_id: str, actor: str) -> None:
    """Remove a team; its members stay, in no team."""
    async with ctx.uow() as uow:
        team = await uow.lock(Team, team_id)
        if team is None or team.org_id != org_id:
            raise NotFound("no such team")
        members = update(Agent).where(Agent.org_id == org_id, Agent.team_id == team_id)
        await uow.session.execute(members.values(team_id=None))
        await uow.session.delete(team)
        audit(uow.session, org_id, actor, "team.delete", team_id, name=team.name)
