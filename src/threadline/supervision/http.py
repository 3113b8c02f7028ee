"""Supervision routes: supervisors (and admins) of the conversation's organisation only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Query

from threadline.auth.dependencies import Ctx, Supervisor
from threadline.channels.voice.conference import do_coach
from threadline.channels.voice.schemas import CoachOut
from threadline.errors import PROBLEM_RESPONSES
from threadline.supervision.schemas import LiveConversation, MonitorOut, ReassignIn, WhisperIn
from threadline.supervision.services import (
    do_join,
    do_leave,
    do_monitor,
    do_reassign,
    do_take_over,
    do_whisper,
    list_live,
)
from threadline.threads.schemas import EventOut

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"], responses=PROBLEM_RESPONSES)


@router.get("/conversations", response_model=list[LiveConversation])
async def conversations(
    principal: Supervisor,
    ctx: Ctx,
    queue_id: str | None = Query(default=None, max_length=64),
    agent_id: str | None = Query(default=None, max_length=64),
) -> list[LiveConversation]:
    """The live conversations (an open contact: queued, offered or assigned), by queue or
    agent, longest waiting first, with the supervisors who joined each."""
    return await list_live(ctx, principal.org_id, queue_id=queue_id, agent_id=agent_id)


@router.post("/threads/{thread_id}/monitor", response_model=MonitorOut)
async def monitor(thread_id: str, principal: Supervisor, ctx: Ctx) -> MonitorOut:
    """Open a live conversation read-only (audited); follow it by watching the thread on
    the desktop stream."""
    return await do_monitor(ctx, principal, thread_id)


@router.post("/threads/{thread_id}/whisper", response_model=EventOut, status_code=201)
async def whisper(thread_id: str, body: WhisperIn, principal: Supervisor, ctx: Ctx) -> EventOut:
    """A note only the agent handling the thread (and supervisors) sees, live."""
    return EventOut.model_validate(await do_whisper(ctx, principal, thread_id, body.body))


@router.post("/threads/{thread_id}/join", response_model=LiveConversation)
async def join(thread_id: str, principal: Supervisor, ctx: Ctx) -> LiveConversation:
    """Become a participant: write to the customer beside the agent, who stays."""
    return await do_join(ctx, principal, thread_id)


@router.post("/threads/{thread_id}/leave", response_model=LiveConversation)
async def leave(thread_id: str, principal: Supervisor, ctx: Ctx) -> LiveConversation:
    return await do_leave(ctx, principal, thread_id)


@router.post("/threads/{thread_id}/take-over", response_model=LiveConversation)
async def take_over(thread_id: str, principal: Supervisor, ctx: Ctx) -> LiveConversation:
    """The contact becomes yours; its agent is released and told."""
    return await do_take_over(ctx, principal, thread_id)


@router.post("/threads/{thread_id}/reassign", response_model=LiveConversation)
async def reassign(
    thread_id: str, body: ReassignIn, principal: Supervisor, ctx: Ctx
) -> LiveConversation:
    """Hand the contact to another agent (routing's transfer to a given agent)."""
    return await do_reassign(ctx, principal, thread_id, body.agent_id)


COACHING = {
    "listen": "Listen to a live call in a conference: your softphone joins it muted (audited).",
    "whisper": "Coach the agent of a live call: only the agent hears you (audited).",
    "barge": "Speak on a live call: the caller and the agent hear you (audited).",
    "leave": "Leave a live call you listen to, coach or barged into (audited).",
}


def _coaching(mode: str) -> Callable[..., Awaitable[CoachOut]]:
    async def coach_call(thread_id: str, principal: Supervisor, ctx: Ctx) -> CoachOut:
        return CoachOut(**await do_coach(ctx, principal, thread_id, mode))

    coach_call.__name__ = f"call_{mode}"
    coach_call.__doc__ = COACHING[mode]
    return coach_call


for _mode in COACHING:
    router.add_api_route(
        f"/threads/{{thread_id}}/call/{_mode}",
        _coaching(_mode),
        methods=["POST"],
        response_model=CoachOut,
    )
