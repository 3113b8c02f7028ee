"""Agents, teams and presence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from threadline.agents.models import Agent, Team
from threadline.agents.schemas import (
    AgentCreate,
    AgentCreated,
    AgentOut,
    AgentUpdate,
    InviteOut,
    PresenceIn,
    Role,
    TeamIn,
    TeamOut,
    TeamPatch,
)
from threadline.agents.services import (
    Standing,
    do_create_agent,
    do_set_presence,
    do_update_agent,
    get_agent,
    list_agents,
)
from threadline.agents.teams import (
    do_create_team,
    do_delete_team,
    do_update_team,
    get_team,
    list_teams,
)
from threadline.auth.dependencies import Admin, AgentUser, Ctx
from threadline.auth.invites import invite_link
from threadline.errors import PROBLEM_RESPONSES, Conflict, NotAllowed

router = APIRouter(prefix="/api/v1/agents", tags=["agents"], responses=PROBLEM_RESPONSES)
teams_router = APIRouter(prefix="/api/v1/teams", tags=["agents"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AgentOut])
async def agents(
    principal: AgentUser,
    ctx: Ctx,
    role: Role | None = None,
    team_id: Annotated[str | None, Query(max_length=36)] = None,
    standing: Standing = "active",
) -> list[AgentOut]:
    """The organisation's agents; only admins see the deactivated ones (`standing`)."""
    if standing != "active" and not principal.has("admin"):
        raise NotAllowed("only an admin lists deactivated agents")
    found = await list_agents(ctx, principal.org_id, role=role, team_id=team_id, standing=standing)
    return [AgentOut.model_validate(a) for a in found]


@router.post("", response_model=AgentCreated, status_code=201)
async def create(body: AgentCreate, principal: Admin, ctx: Ctx) -> AgentCreated:
    """Add an agent with a password, or without one to invite them: the answer then carries
    the invitation link (single use, expiring), to give them."""
    agent = await do_create_agent(ctx, principal.org_id, body, actor=principal.agent_id)
    created = AgentCreated.model_validate(agent)
    if body.password is None:
        created.invite_url = invite_link(ctx, agent)[0]
    return created


@router.get("/{agent_id}", response_model=AgentOut)
async def one(agent_id: str, principal: AgentUser, ctx: Ctx) -> AgentOut:
    return AgentOut.model_validate(await get_agent(ctx, principal.org_id, agent_id))


@router.patch("/{agent_id}", response_model=AgentOut)
async def update(agent_id: str, body: AgentUpdate, principal: Admin, ctx: Ctx) -> AgentOut:
    """Change an agent's profile, role or team; `active: false` deactivates them (signed out,
    no more offers), `true` brings them back."""
    agent = await do_update_agent(ctx, principal.org_id, agent_id, body, principal.agent_id)
    return AgentOut.model_validate(agent)


@router.post("/{agent_id}/invite", response_model=InviteOut, status_code=201)
async def invite(agent_id: str, principal: Admin, ctx: Ctx) -> InviteOut:
    """A new invitation link for an agent (to set their password); it works until used, or
    until their password changes, or it expires."""
    agent: Agent = await get_agent(ctx, principal.org_id, agent_id)
    if not agent.active:
        raise Conflict("this agent is deactivated: reactivate them first")
    url, expires_at = invite_link(ctx, agent)
    return InviteOut(invite_url=url, expires_at=expires_at)


@router.put("/{agent_id}/presence", response_model=AgentOut)
async def presence(agent_id: str, body: PresenceIn, principal: AgentUser, ctx: Ctx) -> AgentOut:
    """Agents set their own presence; supervisors may set anyone's (audited, and the agent's
    desktop shows who did: reason `supervisor`)."""
    if agent_id == "me":
        agent_id = principal.agent_id
    if agent_id != principal.agent_id and not principal.has("supervisor"):
        raise NotAllowed("only a supervisor can set another agent's presence")
    agent = await do_set_presence(
        ctx, principal.org_id, agent_id, body.presence, actor=principal.agent_id
    )
    return AgentOut.model_validate(agent)


def _team_out(team: Team, member_ids: list[str]) -> TeamOut:
    return TeamOut(
        id=team.id, name=team.name, supervisor_id=team.supervisor_id, member_ids=member_ids
    )


@teams_router.get("", response_model=list[TeamOut])
async def teams(principal: AgentUser, ctx: Ctx) -> list[TeamOut]:
    """The organisation's teams with their active members."""
    return [_team_out(v.team, v.member_ids) for v in await list_teams(ctx, principal.org_id)]


@teams_router.post("", response_model=TeamOut, status_code=201)
async def create_team(body: TeamIn, principal: Admin, ctx: Ctx) -> TeamOut:
    """Add a team; agents join it through their `team_id`."""
    team = await do_create_team(ctx, principal.org_id, body, principal.agent_id)
    return _team_out(team, [])


@teams_router.get("/{team_id}", response_model=TeamOut)
async def one_team(team_id: str, principal: AgentUser, ctx: Ctx) -> TeamOut:
    view = await get_team(ctx, principal.org_id, team_id)
    return _team_out(view.team, view.member_ids)


@teams_router.patch("/{team_id}", response_model=TeamOut)
async def update_team(team_id: str, body: TeamPatch, principal: Admin, ctx: Ctx) -> TeamOut:
    await do_update_team(ctx, principal.org_id, team_id, body, principal.agent_id)
    view = await get_team(ctx, principal.org_id, team_id)
    return _team_out(view.team, view.member_ids)


@teams_router.delete("/{team_id}", status_code=204)
async def delete_team(team_id: str, principal: Admin, ctx: Ctx) -> Response:
    """Remove a team; its members stay, in no team."""
    await do_delete_team(ctx, principal.org_id, team_id, principal.agent_id)
    return Response(status_code=204)
