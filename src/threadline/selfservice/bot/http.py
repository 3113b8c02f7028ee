"""The bot's routes: the summary card of a thread's latest hand-off, for the agent."""

from __future__ import annotations

from fastapi import APIRouter

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.errors import PROBLEM_RESPONSES
from threadline.selfservice.bot.queries import handoff_summary
from threadline.selfservice.bot.schemas import BotSummary

router = APIRouter(prefix="/api/v1/threads", tags=["self-service"], responses=PROBLEM_RESPONSES)


@router.get("/{thread_id}/bot", response_model=BotSummary | None)
async def bot_summary(thread_id: str, principal: AgentUser, ctx: Ctx) -> BotSummary | None:
    """The bot's summary of the thread's latest contact, or null when no bot handed it over."""
    return await handoff_summary(ctx, principal.org_id, thread_id)
