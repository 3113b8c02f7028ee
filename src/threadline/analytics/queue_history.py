"""A queue's contact history from the database, as the forecast reads a history file.

`threadline forecast --queue NAME` forecasts from here instead of a CSV: every interval from
the queue's first contact to the last complete interval before now, in the queue's time zone
(its business hours', else its organisation's), with the contacts that arrived in it and
their mean handle time (accepted to ended). An interval the queue's business hours close,
and in which nothing arrived, is left out: the forecast reads it as closed. An open interval
with no contact is listed with 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.analytics.forecast import HistoryError, Observation
from threadline.db import Database, across_orgs
from threadline.orgs.models import Organization
from threadline.routing.hours import is_open
from threadline.routing.models import Contact, Queue


@dataclass(frozen=True, slots=True)
class QueueHistory:
    org: str  # the organisation's slug
    queue: str
    zone: str
    observations: list[Observation]
    now_interval: datetime  # the interval in progress: where a forecast starts


async def queue_history(
    db: Database, queue_name: str, *, org_slug: str | None, minutes: int, now: datetime
) -> QueueHistory:
    """The queue's history per interval; HistoryError says what is missing or ambiguous."""
    with across_orgs():  # the operator at the console names the organisation
        async with db.sessions() as session:
            org = await _organisation(session, org_slug)
            queue = await session.scalar(
                select(Queue).where(Queue.org_id == org.id, Queue.name == queue_name)
            )
            if queue is None:
                names = (
                    await session.scalars(
                        select(Queue.name).where(Queue.org_id == org.id).order_by(Queue.name)
                    )
                ).all()
                known = ", ".join(repr(n) for n in names) or "none"
                raise HistoryError(f"no queue {queue_name!r} in {org.slug!r} (queues: {known})")
            return await read_queue_history(session, org, queue, minutes=minutes, now=now)


async def read_queue_history(
    session: AsyncSession,
    org: Organization,
    queue: Queue,
    *,
    minutes: int,
    now: datetime,
    since: datetime | None = None,
) -> QueueHistory:
    """The history of `queue` (of `org`) with the caller's session, from its first contact
    (or from `since`) to the interval in progress at `now`; HistoryError when empty."""
    zone, zone_name = queue_zone(org, queue)
    counts: dict[datetime, int] = {}
    handled: dict[datetime, tuple[float, int]] = {}
    query = select(Contact.enqueued_at, Contact.accepted_at, Contact.ended_at).where(
        Contact.org_id == org.id, Contact.queue_id == queue.id, Contact.enqueued_at < now
    )
    if since is not None:
        query = query.where(Contact.enqueued_at >= since)
    rows = await session.stream(query.execution_options(yield_per=5000))
    async for enqueued, accepted, ended in rows:
        bucket = _floor(enqueued, zone, minutes)
        counts[bucket] = counts.get(bucket, 0) + 1
        if accepted is not None and ended is not None and ended >= accepted:
            total, n = handled.get(bucket, (0.0, 0))
            handled[bucket] = (total + (ended - accepted).total_seconds(), n + 1)
    step = timedelta(minutes=minutes)
    if not counts:
        raise HistoryError(f"queue {queue.name!r} has no contacts yet")
    end = _floor(now, zone, minutes)  # the interval in progress is not complete: left out
    observations = []
    for start in _intervals(min(counts), end, step, zone):
        arrived = counts.get(start, 0)
        if not arrived and not _open_during(queue.business_hours, start, step):
            continue
        total, n = handled.get(start, (0.0, 0))
        observations.append(Observation(start, float(arrived), total / n if n else None))
    if not observations:
        raise HistoryError(f"queue {queue.name!r} has no complete interval yet")
    return QueueHistory(org.slug, queue.name, zone_name, observations, end)


def queue_zone(org: Organization, queue: Queue) -> tuple[ZoneInfo, str]:
    """The queue's local time zone: its business hours', else its organisation's (UTC when
    neither names a known zone)."""
    zone_name = str(queue.business_hours.get("timezone") or org.timezone or "UTC")
    try:
        return ZoneInfo(zone_name), zone_name
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "UTC"


async def _organisation(session: AsyncSession, slug: str | None) -> Organization:
    if slug is not None:
        org: Organization | None = await session.scalar(
            select(Organization).where(Organization.slug == slug)
        )
        if org is None:
            raise HistoryError(f"no organisation {slug!r}")
        return org
    count = await session.scalar(select(func.count()).select_from(Organization))
    if count != 1:
        raise HistoryError(
            "no organisation yet" if not count else f"{count} organisations: name one with --org"
        )
    only: Organization | None = await session.scalar(select(Organization))
    assert only is not None
    return only


def _floor(moment: datetime, zone: ZoneInfo, minutes: int) -> datetime:
    """The start of the local interval holding `moment` (aware, in `zone`)."""
    local = moment.astimezone(zone)
    minute = (local.hour * 60 + local.minute) // minutes * minutes
    floored = local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)
    # Rebuilt through UTC so that the offset is the one in force then (DST days).
    return floored.astimezone(UTC).astimezone(zone)


def _intervals(
    first: datetime, end: datetime, step: timedelta, zone: ZoneInfo
) -> Iterator[datetime]:
    """Every interval start from `first` up to, not including, `end` (UTC arithmetic: a DST
    change neither repeats nor skips an interval)."""
    moment = first.astimezone(UTC)
    stop = end.astimezone(UTC)
    while moment < stop:
        yield moment.astimezone(zone)
        moment += step


def _open_during(hours: dict[str, object], start: datetime, step: timedelta) -> bool:
    """Whether the queue is open at any minute of the interval (checked at its start and
    every 15 minutes, the finest interval)."""
    probe = start
    while probe < start + step:
        if is_open(dict(hours), probe):
            return True
        probe += timedelta(minutes=15)
    return False
