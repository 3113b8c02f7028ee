"""The bot's routes: the summary card of a thread's latest hand-off, for the agent; what the
bot finished, per intent and article, for supervisors' reports."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from threadline.auth.dependencies import AgentUser, Ctx, Supervisor
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, Invalid
from threadline.selfservice.bot.queries import deflection, handoff_summary
from threadline.selfservice.bot.schemas import BotSummary, DeflectionRow

router = APIRouter(prefix="/api/v1/threads", tags=["self-service"], responses=PROBLEM_RESPONSES)


@router.get("/{thread_id}/bot", response_model=BotSummary | None)
async def bot_summary(thread_id: str, principal: AgentUser, ctx: Ctx) -> BotSummary | None:
    """The bot's summary of the thread's latest contact, or null when no bot handed it over."""
    return await handoff_summary(ctx, principal.org_id, thread_id)


reports = APIRouter(prefix="/api/v1/bot", tags=["self-service"], responses=PROBLEM_RESPONSES)
MAX_SPAN = timedelta(days=366)
# a moment with its offset (2026-12-06T09:00:00Z): a bare number or a naive time is refused
MOMENT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"


@reports.get("/outcomes", response_model=list[DeflectionRow])
async def outcomes(
    principal: Supervisor,
    ctx: Ctx,
    since: Annotated[str | None, Query(pattern=MOMENT, description="default: 7 days ago")] = None,
    until: Annotated[str | None, Query(pattern=MOMENT, description="default: now")] = None,
) -> list[DeflectionRow]:
    """Conversations the bot finished in [since, until): deflected, handed off or ended."""
    end = _moment(until) if until else utcnow()
    start = _moment(since) if since else end - timedelta(days=7)
    if not start < end or end - start > MAX_SPAN:
        raise Invalid("since must be before until, at most a year apart")
    rows = await deflection(ctx, principal.org_id, start, end)
    return [DeflectionRow.model_validate(r) for r in rows]


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"not a moment: {text[:40]!r}") from None
