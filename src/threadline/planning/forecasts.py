"""A queue's contacts forecast from its own history (analytics/forecast.py, the model chosen
by backtest), cached a while: for the planning page and, through ``Context.forecasts``, for
the callback booking windows.

The forecast reads the last ``HISTORY_WEEKS`` weeks before its origin. It answers None when
the queue has too little history for a backtest (two weeks): callers keep their simpler
estimate then.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.analytics.forecast import Forecast, HistoryError, forecast
from threadline.analytics.queue_history import queue_zone, read_queue_history
from threadline.context import Context
from threadline.db import org_scope
from threadline.orgs.models import Organization
from threadline.routing.models import Queue

HISTORY_WEEKS = 13  # 8 weeks for the longest model, and 4 backtest weeks before them
CACHE_S = 900.0
CACHE_SIZE = 256
CALLBACK_MINUTES = 30  # windows of any length take their share of each interval


@dataclass(frozen=True, slots=True)
class QueueForecast:
    """The forecast from `origin`, or why there is none (`note`)."""

    origin: datetime
    result: Forecast | None
    note: str = ""

    @property
    def backtested(self) -> bool:
        return self.result is not None and self.result.wape is not None


def floor_to(moment: datetime, minutes: int) -> datetime:
    """The UTC start of the `minutes` interval holding `moment` (zones used here are whole
    quarter hours away from UTC)."""
    moment = moment.astimezone(UTC)
    minute = (moment.hour * 60 + moment.minute) // minutes * minutes
    return moment.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0)


class QueueForecasts:
    """Forecasts per queue, computed in a worker thread and cached for ``CACHE_S``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._cache: dict[tuple[str, str, int, datetime, datetime], tuple[float, QueueForecast]]
        self._cache = {}

    async def of_queue(
        self,
        session: AsyncSession,
        org: Organization,
        queue: Queue,
        *,
        minutes: int,
        origin: datetime,
        end: datetime,
    ) -> QueueForecast:
        """The forecast of [origin, end) from the history before `origin`."""
        key = (org.id, queue.id, minutes, origin, end)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        found = await self._compute(session, org, queue, minutes=minutes, origin=origin, end=end)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (time.monotonic(), found)
        return found

    async def _compute(
        self,
        session: AsyncSession,
        org: Organization,
        queue: Queue,
        *,
        minutes: int,
        origin: datetime,
        end: datetime,
    ) -> QueueForecast:
        _, zone_name = queue_zone(org, queue)
        try:
            history = await read_queue_history(
                session,
                org,
                queue,
                minutes=minutes,
                now=origin,
                since=origin - timedelta(weeks=HISTORY_WEEKS),
            )
            result = await asyncio.to_thread(
                forecast,
                history.observations,
                minutes=minutes,
                horizon=end - origin,
                start=origin,
                zone=zone_name,
            )
        except HistoryError as exc:
            return QueueForecast(origin, None, str(exc))
        return QueueForecast(origin, result)

    async def expected(
        self, org_id: str, queue_id: str, windows: Sequence[tuple[datetime, datetime]]
    ) -> list[float] | None:
        """Contacts forecast in each window (UTC, aware), None without a backtested
        forecast (the ``Context.forecasts`` protocol, for the callback booking windows)."""
        if not windows:
            return []
        origin = floor_to(min(w[0] for w in windows) - timedelta(hours=1), 60)
        with org_scope(org_id):
            async with self.ctx.db.sessions() as session:
                org = await session.get(Organization, org_id)
                queue = await session.scalar(
                    select(Queue).where(Queue.id == queue_id, Queue.org_id == org_id)
                )
                if org is None or queue is None:
                    return None
                found = await self.of_queue(
                    session,
                    org,
                    queue,
                    minutes=CALLBACK_MINUTES,
                    origin=origin,
                    end=floor_to(max(w[1] for w in windows), 60) + timedelta(hours=1),
                )
        if not found.backtested or found.result is None:
            return None
        return [_within(found.result, start, end) for start, end in windows]


def _within(result: Forecast, start: datetime, end: datetime) -> float:
    """Contacts forecast in [start, end): each interval's share that overlaps it."""
    step = timedelta(minutes=CALLBACK_MINUTES)
    total = 0.0
    for point in result.points:
        begin = point.interval_start
        overlap = min(end, begin + step) - max(start, begin)
        if overlap > timedelta(0):
            total += point.contacts * (overlap / step)
    return total
