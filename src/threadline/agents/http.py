"""Agents and presence."""

from __future__ import annotations

from fastapi import APIRouter

from threadline.agents.schemas import AgentCreate, AgentOut, AgentUpdate, PresenceIn
from threadline.agents.services import (
    do_create_agent,
    do_set_presence,
    do_update_agent,
    get_agent,
    list_agents,
)
from threadline.auth.dependencies import Admin, AgentUser, Ctx
from threadline.errors import PROBLEM_RESPONSES, NotAllowed

router = APIRouter(prefix="/api/v1/agents", tags=["agents"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[AgentOut])
async def agents(principal: AgentUser, ctx: Ctx) -> list[AgentOut]:
    return [AgentOut.model_validate(a) for a in await list_agents(ctx, principal.org_id)]


@router.post("", response_model=AgentOut, status_code=201)
async def create(body: AgentCreate, principal: Admin, ctx: Ctx) -> AgentOut:
    agent = await do_create_agent(ctx, principal.org_id, body, actor=principal.agent_id)
    return AgentOut.model_validate(agent)


@router.get("/{agent_id}", response_model=AgentOut)
async def one(agent_id: str, principal: AgentUser, ctx: Ctx) -> AgentOut:
    return AgentOut.model_validate(await get_agent(ctx, principal.org_id, agent_id))


@router.patch("/{agent_id}", response_model=AgentOut)
async def update(agent_id: str, body: AgentUpdate, principal: Admin, ctx: Ctx) -> AgentOut:
    agent = await do_update_agent(ctx, principal.org_id, agent_id, body, principal.agent_id)
    return AgentOut.model_validate(agent)


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
