"""Reads of what the bot did: a thread's hand-off summary, deflection counts for reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from threadline.context import Context
from threadline.routing.models import Contact
from threadline.selfservice.bot.models import BotOutcome
from threadline.selfservice.bot.schemas import BotSummary
from threadline.threads.services import get_thread


async def handoff_summary(ctx: Context, org_id: str, thread_id: str) -> BotSummary | None:
    """The summary the bot left on the thread's latest contact (NotFound: no such thread)."""
    await get_thread(ctx, org_id, thread_id)
    async with ctx.db.sessions() as session:
        contact = await session.scalar(
            select(Contact)
            .where(Contact.org_id == org_id, Contact.thread_id == thread_id)
            .order_by(Contact.enqueued_at.desc())
            .limit(1)
        )
    bot: Any = (contact.context or {}).get("bot") if contact is not None else None
    if contact is None or not isinstance(bot, dict):
        return None
    span = bot.get("transcript") or {}
    return BotSummary.model_validate(
        {
            **{k: bot.get(k) for k in ("flow", "reason", "language", "intent", "confidence")},
            "contact_id": contact.id,
            "slots": bot.get("slots") or {},
            "queue": bot.get("queue"),
            "summary": bot.get("summary") or "",
            "from_seq": span.get("from_seq"),
            "to_seq": span.get("to_seq"),
            "transcript": bot.get("entries") or [],
        }
    )


async def deflection(
    ctx: Context, org_id: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Conversations the bot finished, per outcome, intent and article, in [since, until)."""
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(BotOutcome.outcome, BotOutcome.intent, BotOutcome.article_id, func.count())
            .where(BotOutcome.org_id == org_id, BotOutcome.at >= since, BotOutcome.at < until)
            .group_by(BotOutcome.outcome, BotOutcome.intent, BotOutcome.article_id)
            .order_by(func.count().desc())
        )
    return [
        {"outcome": outcome, "intent": intent, "article_id": article, "count": n}
        for outcome, intent, article, n in rows
    ]
