"""Reports: the KPI counters of a period, summed per queue, channel, agent, reason or
interval, and the KPIs of each group (analytics/kpi.py). CSV and Parquet exports.

The sums are SQL GROUP BYs over the 15-minute counter tables; intervals are folded from the
15-minute buckets in the caller's time zone (a day is the caller's day).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, func, select

from threadline.agents.models import Agent
from threadline.analytics import kpi
from threadline.analytics.models import contact_intervals, event_intervals, rollups
from threadline.context import Context
from threadline.errors import Invalid
from threadline.routing.models import Queue

GROUPS = ("queue", "channel", "agent", "reason", "interval")
_COLUMN = {"queue": "queue_id", "channel": "channel", "agent": "agent_id", "reason": "reason"}
MAX_SPAN = timedelta(days=367)
FIGURES: tuple[str, ...] = tuple(kpi.kpis(kpi.Counters()).keys())


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    group_by: str
    interval_minutes: int
    zone: tzinfo
    options: kpi.Options
    queue_id: str | None = None
    channel: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    figures: dict[str, float | None]


def parse_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"tz: {name[:60]!r} is not a known time zone (e.g. Europe/Lisbon)") from None


def parse_moment(text: str, zone: tzinfo, field: str) -> datetime:
    """A date (midnight in the caller's zone) or a moment with its offset."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field}: {text[:40]!r} is neither a date nor a moment") from None
    if moment.tzinfo is None:
        raise Invalid(f"{field}: give the moment's offset (e.g. 2026-12-01T09:00:00+00:00)")
    return moment


def check_range(start: datetime, end: datetime) -> None:
    if not start < end:
        raise Invalid("from must be before to")
    if end - start > MAX_SPAN:
        raise Invalid("a report covers at most a year (367 days)")
    for name, moment in (("from", start), ("to", end)):
        if kpi.bucket_of(moment) != moment:
            raise Invalid(
                f"{name} must fall on a 15-minute boundary (reports sum 15-minute buckets)"
            )


async def run(ctx: Context, org_id: str, query: ReportQuery) -> tuple[list[ReportRow], ReportRow]:
    """The rows of the report, and its total."""
    groups: dict[Any, kpi.Counters] = {}
    for key, values in await _collect(ctx, org_id, query):
        if query.group_by == "interval":
            key = kpi.interval_start(key, query.interval_minutes, query.zone)
        groups.setdefault(key, kpi.Counters()).__iadd__(values)
    labels = await _labels(ctx, org_id, query.group_by, list(groups))
    rows = [
        ReportRow(_key(key), labels.get(key, _key(key)), kpi.kpis(groups[key], query.options))
        for key in sorted(groups, key=_sort_key)
    ]
    overall = kpi.Counters()
    for counters in groups.values():
        overall += counters
    return rows, ReportRow("total", "total", kpi.kpis(overall, query.options))


Sums = list[tuple[Any, Mapping[str, float]]]


async def _collect(ctx: Context, org_id: str, query: ReportQuery) -> Sums:
    """The sums per group: whole UTC days (or hours) from the roll-ups, the edges of the
    period from the 15-minute rows."""
    grain = _grain(query)
    start, end = query.start, query.end
    if grain is not None:
        step = kpi.GRAINS[grain]
        first = kpi.grain_start(start, grain)
        first = first if first == start else first + step
        last = kpi.grain_start(end, grain)
        if first < last:
            sums = await _rolled(ctx, org_id, query, grain, first, last)
            for lo, hi in ((start, first), (last, end)):
                if lo < hi:
                    sums += await _buckets(ctx, org_id, query, lo, hi)
            return sums
    return await _buckets(ctx, org_id, query, start, end)


def _grain(query: ReportQuery) -> str | None:
    """Which roll-up answers this report: none when it filters (the roll-ups hold one
    dimension at a time); for intervals the hourly one for hours and days in a whole-hour
    time zone, else the 15-minute one."""
    if query.queue_id or query.channel or query.agent_id:
        return None
    if query.group_by != "interval":
        return "day"
    whole_hours = all(
        (moment.astimezone(query.zone).utcoffset() or timedelta(0)) % timedelta(hours=1)
        == timedelta(0)
        for moment in (query.start, query.end)
    )
    return "hour" if query.interval_minutes >= 60 and whole_hours else "quarter"


async def _rolled(
    ctx: Context, org_id: str, query: ReportQuery, grain: str, lo: datetime, hi: datetime
) -> Sums:
    table = rollups
    counters = [c for c in table.c if c.name in kpi.COUNTERS]
    interval = query.group_by == "interval"
    group = table.c.start if interval else table.c.value
    stmt = (
        select(group, *(func.sum(c).label(c.name) for c in counters))
        .where(
            table.c.org_id == org_id,
            table.c.grain == grain,
            table.c.dimension == ("all" if interval else query.group_by),
            table.c.start >= lo,
            table.c.start < hi,
        )
        .group_by(group)
    )
    return await _fetch(ctx, stmt, counters, interval)


async def _buckets(
    ctx: Context, org_id: str, query: ReportQuery, lo: datetime, hi: datetime
) -> Sums:
    out: Sums = []
    for table in (contact_intervals, event_intervals):
        out += await _sums(ctx, org_id, table, query, lo, hi)
    return out


async def _sums(
    ctx: Context, org_id: str, table: Table, query: ReportQuery, lo: datetime, hi: datetime
) -> Sums:
    counters = [c for c in table.c if c.name in kpi.COUNTERS]
    interval = query.group_by == "interval"
    group = table.c.bucket if interval else table.c[_COLUMN[query.group_by]]
    stmt = (
        select(group, *(func.sum(c).label(c.name) for c in counters))
        .where(table.c.org_id == org_id, table.c.bucket >= lo, table.c.bucket < hi)
        .group_by(group)
    )
    if table is event_intervals and query.group_by in ("queue", "channel", "reason"):
        # staffed time belongs to an agent alone (no queue, channel or reason): it is no
        # group of its own here (occupancy is by agent or interval)
        stmt = stmt.where(table.c.staffed_s == 0)
    for name, value in (
        ("queue_id", query.queue_id),
        ("channel", query.channel),
        ("agent_id", query.agent_id),
    ):
        if value is not None:
            stmt = stmt.where(table.c[name] == value)
    return await _fetch(ctx, stmt, counters, interval)


async def _fetch(ctx: Context, stmt: Any, counters: list[Any], interval: bool) -> Sums:
    async with ctx.db.sessions() as session:
        result = await session.execute(stmt)
        out: Sums = []
        for row in result:
            key = kpi.bucket_of(row[0]) if interval else row[0]
            out.append((key, {c.name: row[i + 1] for i, c in enumerate(counters)}))
        return out


async def _labels(ctx: Context, org_id: str, group_by: str, keys: Sequence[Any]) -> dict[Any, str]:
    model: Any = {"queue": Queue, "agent": Agent}.get(group_by)
    if model is None:
        return {"": "(none)"} if "" in keys else {}
    wanted = [k for k in keys if k]
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(model.id, model.name).where(model.org_id == org_id, model.id.in_(wanted))
        )
        labels: dict[Any, str] = {k: v for k, v in rows}
    labels[""] = "(none)"
    return labels


def _key(key: Any) -> str:
    return key.isoformat() if isinstance(key, datetime) else str(key)


def _sort_key(key: Any) -> tuple[int, str]:
    return (0, key.isoformat()) if isinstance(key, datetime) else (1, str(key))


# ---------------------------------------------------------------- exports
def table_of(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
    return [{"key": r.key, "label": r.label, **r.figures} for r in rows]


def to_csv(rows: Sequence[ReportRow]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["key", "label", *FIGURES], lineterminator="\n")
    writer.writeheader()
    for record in table_of(rows):
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return out.getvalue().encode()


def to_parquet(rows: Sequence[ReportRow]) -> bytes:
    # only an export pays for loading Arrow; pyarrow ships no type stubs
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = pa.schema(
        [("key", pa.string()), ("label", pa.string())] + [(f, pa.float64()) for f in FIGURES]
    )
    table = pa.Table.from_pylist(table_of(rows), schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
