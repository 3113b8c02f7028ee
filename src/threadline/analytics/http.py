"""GET /api/v1/reports: KPIs of a period by queue, channel, agent, reason or interval; as
JSON, CSV or Parquet. Supervisors and admins see everyone; an agent sees their own rows.
GET /api/v1/dashboard: the live supervisor dashboard in one call (supervisors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from threadline.analytics import dashboard, kpi, reports
from threadline.analytics.schemas import (
    DashboardAgent,
    DashboardOut,
    DashboardQueue,
    DashboardReason,
    KpiRow,
    ReportOut,
)
from threadline.auth.dependencies import AgentUser, Ctx, Supervisor
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES, Invalid, NotAllowed
from threadline.routing.schemas import QueueStats

router = APIRouter(prefix="/api/v1", tags=["reports"], responses=PROBLEM_RESPONSES)
EXPORTS = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


@router.get(
    "/reports",
    response_model=ReportOut,
    responses={
        200: {
            "content": {media: {} for media in EXPORTS.values()},
            "description": "the report; with format=csv or format=parquet, the rows as a file",
        }
    },
)
async def report(
    principal: AgentUser,
    ctx: Ctx,
    start: Annotated[
        str | None,
        Query(alias="from", max_length=40, description="date or moment; default: 7 days ago"),
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", max_length=40, description="date or moment (excluded)")
    ] = None,
    group_by: Literal["queue", "channel", "agent", "reason", "interval"] = "queue",
    interval: Literal["15m", "30m", "60m", "day"] = "60m",
    tz: Annotated[str, Query(max_length=64, description="IANA time zone")] = "UTC",
    queue_id: Annotated[str | None, Query(max_length=36)] = None,
    channel: Annotated[str | None, Query(max_length=16)] = None,
    agent_id: Annotated[str | None, Query(max_length=36)] = None,
    sl_threshold_s: Annotated[int | None, Query(description=f"one of {kpi.WAIT_EDGES}")] = None,
    sl_variant: Literal[
        "abandoned_in_denominator", "answered_only", "abandons_within_t_neutral"
    ] = "abandoned_in_denominator",
    short_abandon_s: Annotated[int, Query(description="0 or one of the wait bins")] = 5,
    format: Literal["json", "csv", "parquet"] = "json",
) -> ReportOut | Response:
    """The KPIs of [from, to) (15-minute boundaries), grouped; see docs/kpis.md."""
    if not principal.has("supervisor"):
        if agent_id not in (None, principal.agent_id):
            raise NotAllowed("an agent may read only their own figures")
        agent_id = principal.agent_id
    zone = reports.parse_zone(tz)
    now = kpi.bucket_of(utcnow()) + kpi.BUCKET
    to = reports.parse_moment(end, zone, "to") if end else now
    since = reports.parse_moment(start, zone, "from") if start else to - timedelta(days=7)
    reports.check_range(since, to)
    try:
        options = kpi.Options(short_abandon_s, sl_threshold_s, sl_variant)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    query = reports.ReportQuery(
        since, to, group_by, kpi.INTERVALS[interval], zone, options, queue_id, channel, agent_id
    )
    rows, total = await reports.run(ctx, principal.org_id, query)
    if format == "csv":
        return Response(reports.to_csv(rows), media_type=EXPORTS["csv"])
    if format == "parquet":
        return Response(reports.to_parquet(rows), media_type=EXPORTS["parquet"])
    return ReportOut(
        start=since.astimezone(zone).isoformat(),
        end=to.astimezone(zone).isoformat(),
        tz=tz,
        group_by=group_by,
        interval=interval if group_by == "interval" else None,
        sl_threshold_s=sl_threshold_s,
        sl_variant=sl_variant,
        short_abandon_s=short_abandon_s,
        rows=[_row(r) for r in rows],
        total=_row(total),
    )


def _row(row: reports.ReportRow) -> KpiRow:
    return KpiRow(key=row.key, label=row.label, **row.figures)


@router.get("/dashboard", response_model=DashboardOut)
async def live_dashboard(
    principal: Supervisor,
    ctx: Ctx,
    tz: Annotated[
        str, Query(max_length=64, description="IANA time zone: where today starts")
    ] = "UTC",
    short_abandon_s: Annotated[
        int, Query(description="abandons this short are not counted: 0 or one of the wait bins")
    ] = kpi.DEFAULT_SHORT_ABANDON_S,
) -> DashboardOut:
    """Per queue: waiting and longest wait now; service level (last 30 minutes and today)
    against the queue's target, ASA, AHT, abandonment, CSAT and CES; agents by presence;
    today per 30 minutes. The figures of the organisation of the caller."""
    zone = reports.parse_zone(tz)
    try:
        options = kpi.Options(short_abandon_s)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    board = await dashboard.build(ctx, principal.org_id, utcnow(), zone, options)
    span = board.window
    empty = reports.ReportRow("", "", kpi.kpis(kpi.Counters()))
    return DashboardOut(
        generated_at=span.now.astimezone(zone).isoformat(),
        tz=tz,
        today_start=span.today.astimezone(zone).isoformat(),
        recent_start=span.recent.astimezone(zone).isoformat(),
        queues=[
            DashboardQueue(
                queue_id=q.queue_id,
                name=q.name,
                sl_target_pct=q.sl_target_pct,
                sl_threshold_s=q.sl_threshold_s,
                waiting=q.waiting,
                offered_now=q.offered,
                in_service=q.in_service,
                longest_wait_s=q.longest_wait_s,
                recent=_row(board.recent.get(q.queue_id, _named(empty, q))),
                today=_row(board.today.get(q.queue_id, _named(empty, q))),
            )
            for q in board.queues
        ],
        recent=_row(board.total_recent),
        today=_row(board.total_today),
        intervals=[
            _row(reports.ReportRow(r.key, _local(r.key, zone), r.figures)) for r in board.intervals
        ],
        reasons=[
            DashboardReason(reason=r.key, contacts=dashboard.contacts_of(r), figures=_row(r))
            for r in board.reasons
        ],
        agents=[
            DashboardAgent(
                id=s.agent.id,
                name=s.agent.name,
                role=s.agent.role,
                presence=s.agent.presence,
                presence_since=_aware(s.agent.presence_since).isoformat(),
                in_service=s.in_service,
                in_wrapup=s.in_wrapup,
                wrapup_since=_aware(s.wrapup_since).isoformat() if s.wrapup_since else None,
            )
            for s in board.agents
        ],
    )


def _named(row: reports.ReportRow, queue: QueueStats) -> reports.ReportRow:
    return reports.ReportRow(queue.queue_id, queue.name, row.figures)


def _local(key: str, zone: tzinfo) -> str:
    return datetime.fromisoformat(key).astimezone(zone).isoformat()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
