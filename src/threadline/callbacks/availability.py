"""Booked windows: those the staffing plan has room for, given the contacts forecast in
each and the callbacks already booked in it. The forecast is the queue's own (its model
chosen by backtest, ``Context.forecasts``); a queue with too little history for one, or a
context without forecasts, falls back to the mean of the same window over past weeks."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.callbacks.models import BOOKED, OPEN, Callback
from threadline.callbacks.transitions import aware, policy_of
from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, NotFound
from threadline.routing.callback_policy import Window, offerable, windows
from threadline.routing.models import Contact, Queue

FORECAST_WEEKS = 4


async def _forecasts(
    ctx: Context, session: AsyncSession, queue: Queue, candidates: list[Window]
) -> dict[datetime, float]:
    """Contacts expected in each candidate window, by its start."""
    spans = [(w.start, w.end) for w in candidates]
    expected = (
        None
        if ctx.forecasts is None
        else await ctx.forecasts.expected(queue.org_id, queue.id, spans)
    )
    if expected is None:
        return {w.start: await _mean_of_past_weeks(session, queue.id, w) for w in candidates}
    return {w.start: n for w, n in zip(candidates, expected, strict=True)}


async def _mean_of_past_weeks(
    session: AsyncSession, queue_id: str, window: Window, weeks: int = FORECAST_WEEKS
) -> float:
    """Contacts expected in the window: the mean over the same window of past weeks."""
    total = 0
    for back in range(1, weeks + 1):
        shift = timedelta(weeks=back)
        total += int(
            await session.scalar(
                select(func.count())
                .select_from(Contact)
                .where(
                    Contact.queue_id == queue_id,
                    Contact.enqueued_at >= window.start - shift,
                    Contact.enqueued_at < window.end - shift,
                )
            )
            or 0
        )
    return total / weeks


async def _booked_counts(
    session: AsyncSession, queue_id: str, start: datetime
) -> dict[datetime, int]:
    rows = await session.execute(
        select(Callback.window_start, func.count())
        .where(
            Callback.queue_id == queue_id,
            Callback.kind == BOOKED,
            Callback.status.in_(OPEN),
            Callback.window_start >= start,
        )
        .group_by(Callback.window_start)
    )
    return {aware(moment): count for moment, count in rows if moment is not None}


async def _offerable(
    ctx: Context, session: AsyncSession, queue: Queue, now: datetime
) -> list[tuple[Window, int]]:
    policy = policy_of(queue)
    if not policy.enabled or not policy.booking:
        return []
    candidates = windows(policy, now, queue.business_hours or None)
    if not candidates:
        return []
    forecasts = await _forecasts(ctx, session, queue, candidates)
    booked = await _booked_counts(session, queue.id, candidates[0].start)
    return offerable(
        candidates,
        forecast=lambda w: forecasts[w.start],
        booked=lambda w: booked.get(w.start, 0),
        aht_s=ctx.routing.waits.figures(queue.id).handle.mean_s,
        answer_within_s=float(queue.sl_threshold_s),
        target=min(queue.sl_target_pct / 100.0, 0.999),
    )


async def available_windows(
    ctx: Context, org_id: str, queue_id: str, *, limit: int = 48
) -> list[tuple[Window, int]]:
    """Windows a customer may book now in this queue, with the room left in each."""
    async with ctx.db.sessions() as session:
        queue = await session.get(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            raise NotFound("no such queue")
        return (await _offerable(ctx, session, queue, utcnow()))[:limit]


async def check_window(ctx: Context, uow: UnitOfWork, queue: Queue, start: datetime) -> Window:
    """The window starting at `start` if it still has room (Conflict otherwise); call with
    the queue's row locked, so that two customers never take the last place."""
    start = aware(start)
    for window, _room in await _offerable(ctx, uow.session, queue, utcnow()):
        if window.start == start:
            return window
    raise Conflict("that window is not available; choose another")
