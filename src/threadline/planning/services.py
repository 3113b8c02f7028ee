"""The planning page's reads and writes: a queue's week (forecast against actual contacts,
agents required against planned) and its roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.analytics.forecast import BASELINE
from threadline.analytics.queue_history import queue_zone
from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import Invalid, NotFound
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.planning import staffing
from threadline.planning.forecasts import QueueForecast, QueueForecasts, floor_to
from threadline.planning.models import PlannedAgents
from threadline.planning.schemas import RosterCell
from threadline.routing.models import Contact, Queue

MAX_WEEKS_AWAY = 26  # a week further back or ahead than this is refused


@dataclass(frozen=True, slots=True)
class WeekPlan:
    queue: Queue
    zone: str
    monday: date
    shrinkage: float
    patience_s: float
    handle_source: str
    forecast: QueueForecast
    needs: list[staffing.Need]
    actual: list[int | None]


def forecasts_of(ctx: Context) -> QueueForecasts:
    """The context's forecasts (wired by app.build_context), or a fresh one (tests)."""
    found = ctx.forecasts
    return found if isinstance(found, QueueForecasts) else QueueForecasts(ctx)


async def queue_of(session: AsyncSession, org_id: str, queue_id: str) -> tuple[Organization, Queue]:
    queue = await session.scalar(select(Queue).where(Queue.id == queue_id, Queue.org_id == org_id))
    org = await session.get(Organization, org_id)
    if queue is None or org is None:
        raise NotFound("no such queue")
    return org, queue


def check_week(monday: date, now: datetime) -> date:
    monday = staffing.monday_of(monday)
    if abs((monday - now.date()).days) > MAX_WEEKS_AWAY * 7:
        raise Invalid(f"choose a week within {MAX_WEEKS_AWAY} weeks of today", field="week")
    return monday


async def week_plan(
    ctx: Context,
    org_id: str,
    queue_id: str,
    *,
    week: date,
    shrinkage: float,
    patience_s: float,
    now: datetime | None = None,
) -> WeekPlan:
    """The week of `queue` starting on the Monday of `week` (its local time): each half
    hour's forecast (made at the start of the week, or now for a week ahead), actual
    contacts once it has ended, and the agents required against those planned."""
    now = now or utcnow()
    async with ctx.db.sessions() as session:
        org, queue = await queue_of(session, org_id, queue_id)  # an unknown queue is 404 first
        monday = check_week(week, now)
        zone, zone_name = queue_zone(org, queue)
        starts = staffing.week_intervals(monday, zone)
        week_end = starts[-1] + staffing.INTERVAL
        origin = min(starts[0].astimezone(UTC), floor_to(now, staffing.INTERVAL_MINUTES))
        found = await forecasts_of(ctx).of_queue(
            session, org, queue, minutes=staffing.INTERVAL_MINUTES, origin=origin, end=week_end
        )
        actual = await _actual(session, queue, starts, zone, now)
        planned = await _planned(session, queue)
    contacts, handle, source = _forecast_series(ctx, queue, found, starts)
    needs = staffing.needs(
        starts,
        contacts,
        handle,
        planned,
        zone,
        answer_within_s=float(queue.sl_threshold_s),
        target=queue.sl_target_pct / 100.0,
        patience_s=patience_s,
        shrinkage=shrinkage,
    )
    return WeekPlan(queue, zone_name, monday, shrinkage, patience_s, source, found, needs, actual)


def _forecast_series(
    ctx: Context, queue: Queue, found: QueueForecast, starts: Sequence[datetime]
) -> tuple[list[float], list[float], str]:
    """Contacts and handle time per interval; a handle time the forecast lacks is the
    contact-weighted mean of the forecast's, else the live estimate of the queue."""
    result = found.result
    points = {} if result is None else {p.interval_start.astimezone(UTC): p for p in result.points}
    known = [p for p in points.values() if p.handle_time_s is not None and p.contacts > 0]
    weight = sum(p.contacts for p in known)
    if weight > 0:
        fallback = sum(p.contacts * (p.handle_time_s or 0.0) for p in known) / weight
        source = "forecast"
    else:
        fallback = ctx.routing.waits.figures(queue.id).handle.mean_s
        source = "default"
    contacts, handle = [], []
    for start in starts:
        point = points.get(start.astimezone(UTC))
        contacts.append(0.0 if point is None else point.contacts)
        given = None if point is None else point.handle_time_s
        handle.append(given if given and given > 0 else fallback)
    return contacts, handle, source


async def _actual(
    session: AsyncSession, queue: Queue, starts: Sequence[datetime], zone: tzinfo, now: datetime
) -> list[int | None]:
    """Contacts that arrived in each interval that has ended (None for the others)."""
    begin = starts[0].astimezone(UTC)
    end = min(starts[-1] + staffing.INTERVAL, now)
    counts: dict[datetime, int] = {}
    if end > begin:
        rows = await session.scalars(
            select(Contact.enqueued_at).where(
                Contact.org_id == queue.org_id,
                Contact.queue_id == queue.id,
                Contact.enqueued_at >= begin,
                Contact.enqueued_at < end,
            )
        )
        for moment in rows:
            bucket = floor_to(moment, staffing.INTERVAL_MINUTES)
            counts[bucket] = counts.get(bucket, 0) + 1
    return [
        counts.get(s.astimezone(UTC), 0) if s + staffing.INTERVAL <= now else None for s in starts
    ]


async def _planned(session: AsyncSession, queue: Queue) -> dict[tuple[int, int], int]:
    rows = await session.scalars(
        select(PlannedAgents).where(
            PlannedAgents.org_id == queue.org_id, PlannedAgents.queue_id == queue.id
        )
    )
    return {(r.weekday, r.minute): r.agents for r in rows}


def baseline_wape(found: QueueForecast) -> float | None:
    return None if found.result is None else found.result.backtest.get(BASELINE)


# ---------------------------------------------------------------- the roster
async def roster(ctx: Context, org_id: str, queue_id: str) -> tuple[str, list[RosterCell]]:
    """The queue's time zone and its planned agents (cells with none planned left out)."""
    async with ctx.db.sessions() as session:
        org, queue = await queue_of(session, org_id, queue_id)
        planned = await _planned(session, queue)
    cells = [RosterCell(weekday=d, minute=m, agents=n) for (d, m), n in sorted(planned.items())]
    return queue_zone(org, queue)[1], cells


async def do_set_roster(
    ctx: Context, principal: Principal, queue_id: str, cells: Sequence[RosterCell]
) -> tuple[str, list[RosterCell]]:
    """Set the agents planned in the cells given (0 removes a cell); other cells are kept.
    Audited as planning.roster."""
    for index, cell in enumerate(cells):
        if cell.minute % staffing.INTERVAL_MINUTES:
            raise Invalid(
                f"cells[{index}].minute must start a half hour (0, 30, 60, ...)",
                field=f"cells.{index}.minute",
            )
    keys = [(c.weekday, c.minute) for c in cells]
    if len(set(keys)) != len(keys):
        raise Invalid("a cell is given twice", field="cells")
    async with ctx.uow() as uow:
        _, queue = await queue_of(uow.session, principal.org_id, queue_id)
        for cell in cells:
            await uow.session.execute(
                delete(PlannedAgents).where(
                    PlannedAgents.org_id == queue.org_id,
                    PlannedAgents.queue_id == queue.id,
                    PlannedAgents.weekday == cell.weekday,
                    PlannedAgents.minute == cell.minute,
                )
            )
            if cell.agents > 0:
                uow.session.add(
                    PlannedAgents(
                        org_id=queue.org_id,
                        queue_id=queue.id,
                        weekday=cell.weekday,
                        minute=cell.minute,
                        agents=cell.agents,
                    )
                )
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "planning.roster",
            queue.id,
            cells=len(cells),
            agents=sum(c.agents for c in cells),
        )
    return await roster(ctx, principal.org_id, queue_id)


def local_day_intervals(plan: WeekPlan, day: date) -> list[staffing.Need]:
    """The intervals of one local day of the week's plan."""
    zone = plan.needs[0].start.tzinfo if plan.needs else UTC
    return [n for n in plan.needs if n.start.astimezone(zone).date() == day]


def day_bounds(needs: Sequence[staffing.Need]) -> tuple[int, int] | None:
    """The first and one past the last interval with contacts forecast or agents planned."""
    busy = [i for i, n in enumerate(needs) if n.forecast > 0 or n.planned > 0]
    return None if not busy else (busy[0], busy[-1] + 1)


TIME_STEP = timedelta(minutes=staffing.INTERVAL_MINUTES)
