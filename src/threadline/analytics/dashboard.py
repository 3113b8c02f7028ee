"""The live supervisor dashboard in one call (GET /api/v1/dashboard): per queue the service
level of the last 30 minutes and of today against the queue's target, waiting now, longest
wait, ASA, AHT, abandonment, CSAT and CES today; agents by presence with time in state and
contacts in service; today's figures per 30 minutes for the charts; today's top contact
reasons.

Built from the reports (the 15-minute KPI counters, analytics/reports.py), the routing's live
queue figures and the agents. "The last 30 minutes" are whole 15-minute buckets: the current
one and the two before it (30 to 45 minutes, as the counters are kept per bucket). "Today" is
the supervisor's day, in their time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from sqlalchemy import func, select

from threadline.agents.models import Agent
from threadline.analytics import kpi, reports
from threadline.context import Context
from threadline.routing.models import Contact
from threadline.routing.schemas import QueueStats
from threadline.routing.services import queue_stats

RECENT = timedelta(minutes=30)
CHART_MINUTES = 30
TOP_REASONS = 5


@dataclass(frozen=True)
class Window:
    """The moments a dashboard covers: today (in `zone`) and the recent buckets."""

    now: datetime
    zone: tzinfo
    today: datetime
    recent: datetime
    end: datetime


def window(now: datetime, zone: tzinfo) -> Window:
    end = kpi.bucket_of(now) + kpi.BUCKET
    midnight = datetime.combine(now.astimezone(zone).date(), time(), zone)
    today = kpi.bucket_of(midnight)  # every zone's offset today is whole quarters of an hour
    recent = kpi.bucket_of(now) - RECENT
    return Window(now, zone, today, recent, end)


@dataclass(frozen=True)
class AgentState:
    agent: Agent
    in_service: int
    in_wrapup: int = 0  # contacts resolved whose after-contact work is still open
    wrapup_since: datetime | None = None  # when the oldest of those began


@dataclass(frozen=True)
class Dashboard:
    window: Window
    queues: list[QueueStats]
    today: dict[str, reports.ReportRow]
    recent: dict[str, reports.ReportRow]
    total_today: reports.ReportRow
    total_recent: reports.ReportRow
    intervals: list[reports.ReportRow]
    reasons: list[reports.ReportRow]
    agents: list[AgentState]


async def build(
    ctx: Context, org_id: str, now: datetime, zone: tzinfo, options: kpi.Options
) -> Dashboard:
    """Everything the dashboard shows, for one organisation (each queue's service level
    against its own target)."""
    span = window(now, zone)

    async def by(group: str, start: datetime) -> tuple[list[reports.ReportRow], reports.ReportRow]:
        query = reports.ReportQuery(start, span.end, group, CHART_MINUTES, zone, options)
        return await reports.run(ctx, org_id, query)

    today_rows, total_today = await by("queue", span.today)
    recent_rows, total_recent = await by("queue", span.recent)
    intervals, _ = await by("interval", span.today)
    reasons, _ = await by("reason", span.today)
    return Dashboard(
        window=span,
        queues=await queue_stats(ctx, org_id),
        today={r.key: r for r in today_rows},
        recent={r.key: r for r in recent_rows},
        total_today=total_today,
        total_recent=total_recent,
        intervals=intervals,
        reasons=top_reasons(reasons),
        agents=await _agents(ctx, org_id),
    )


def contacts_of(row: reports.ReportRow) -> float:
    """How many of today's contacts had this reason: those offered (short abandons left
    out), or, where more, those resolved (a contact handled by two agents after a transfer
    is one contact, and is resolved once)."""
    return max(row.figures.get("offered") or 0.0, row.figures.get("resolved") or 0.0)


def top_reasons(rows: list[reports.ReportRow]) -> list[reports.ReportRow]:
    """Today's most frequent contact reasons (contacts without one left out)."""
    given = [r for r in rows if r.key and contacts_of(r) > 0]
    return sorted(given, key=lambda r: (-contacts_of(r), r.key))[:TOP_REASONS]


async def _agents(ctx: Context, org_id: str) -> list[AgentState]:
    """The organisation's active agents with the contacts each has in service now and
    those in wrap-up (since when)."""
    async with ctx.db.sessions() as session:
        wrapping = {
            agent_id: (int(count), since)
            for agent_id, count, since in await session.execute(
                select(Contact.agent_id, func.count(), func.min(Contact.wrapup_started_at))
                .where(
                    Contact.org_id == org_id,
                    Contact.wrapup_started_at.is_not(None),
                    Contact.wrapup_ended_at.is_(None),
                )
                .group_by(Contact.agent_id)
            )
        }
        serving = dict(
            (
                await session.execute(
                    select(Contact.agent_id, func.count())
                    .where(Contact.org_id == org_id, Contact.status == "assigned")
                    .group_by(Contact.agent_id)
                )
            ).all()
        )
        agents = await session.scalars(
            select(Agent).where(Agent.org_id == org_id, Agent.active.is_(True)).order_by(Agent.name)
        )
        return [
            AgentState(a, int(serving.get(a.id, 0)), *wrapping.get(a.id, (0, None))) for a in agents
        ]
