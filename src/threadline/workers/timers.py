"""Durable timers: a row with `due_at`, written in the same transaction as the thing it
times, fired exactly once in the transaction that performs its effect.

Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the load;
on SQLite BEGIN IMMEDIATE already makes the single worker exclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

Handler = Callable[[UnitOfWork, Timer], Awaitable[None]]
BATCH = 100


def schedule(
    session: AsyncSession,
    org_id: str,
    kind: str,
    ref_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """Add a timer; call inside the transaction that creates what it times."""
    timer = Timer(org_id=org_id, kind=kind, ref_id=ref_id, due_at=due_at, payload=payload or {})
    session.add(timer)
    return timer


async def cancel(session: AsyncSession, kind: str, ref_id: str) -> None:
    await session.execute(
        update(Timer)
        .where(Timer.kind == kind, Timer.ref_id == ref_id, Timer.fired_at.is_(None))
        .values(cancelled=True)
    )


class TimerWorker:
    """Fires due timers, a batch per transaction, each timer in its own savepoint.

    A handler that raises rolls back only its own savepoint (and forgets the events and
    after-commit work it registered); its timer is retried later with a growing delay, so
    one poisoned timer never blocks the others.  Between batches the worker sleeps until
    the next timer is due (at most ``poll_s``); ``wake`` cuts the sleep short when a
    sooner timer is written.
    """

    def __init__(self, ctx: Context, poll_s: float) -> None:
        self._ctx = ctx
        self._poll_s = poll_s
        self._handlers: dict[str, Handler] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="timer-worker")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                fired = await self.fire_due()
                pause = self._poll_s if fired < BATCH else 0.0
                if pause:
                    pause = await self._until_next(pause)
            except Exception:  # keep the loop alive; the timers stay due and are retried
                log.exception("timers.poll_failed")
                pause = self._poll_s
            if pause > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def _until_next(self, longest: float) -> float:
        """Seconds until the next pending timer is due, at most ``longest``."""
        async with self._ctx.db.sessions() as session:
            due = await session.scalar(
                select(func.min(Timer.due_at)).where(
                    Timer.fired_at.is_(None), Timer.cancelled.is_(False)
                )
            )
        if due is None:
            return longest
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        return min(longest, max((due - utcnow()).total_seconds(), 0.0))

    async def _due_ids(self) -> list[str]:
        async with self._ctx.db.sessions() as session:
            rows = await session.scalars(
                select(Timer.id)
                .where(
                    Timer.fired_at.is_(None), Timer.cancelled.is_(False), Timer.due_at <= utcnow()
                )
                .order_by(Timer.due_at)
                .limit(BATCH)
            )
            return list(rows)

    async def fire_due(self) -> int:
        """Fire every timer that is due now (up to one batch); returns how many fired."""
        ids = await self._due_ids()
        return await self._fire(ids) if ids else 0

    async def _fire(self, timer_ids: list[str]) -> int:
        fired = 0
        async with self._ctx.uow() as uow:
            query = (
                select(Timer)
                .where(
                    Timer.id.in_(timer_ids), Timer.fired_at.is_(None), Timer.cancelled.is_(False)
                )
                .order_by(Timer.due_at)
            )
            if uow.row_locks:
                query = query.with_for_update(skip_locked=True)
            # claimed by another worker meanwhile: skipped (PostgreSQL); fired: filtered out
            for timer in list(await uow.session.scalars(query)):
                handler = self._handlers.get(timer.kind)
                if handler is None:
                    log.error("timers.no_handler", kind=timer.kind, timer_id=timer.id)
                    continue
                mark, kind, timer_id = uow.mark(), timer.kind, timer.id
                try:
                    async with uow.session.begin_nested():
                        timer.fired_at = utcnow()
                        timer.attempts += 1
                        await handler(uow, timer)
                except Exception:
                    uow.rewind(mark)
                    log.exception("timers.handler_failed", kind=kind, timer_id=timer_id)
                    await self._postpone(uow, timer_id)
                    continue
                fired += 1
        return fired

    @staticmethod
    async def _postpone(uow: UnitOfWork, timer_id: str) -> None:
        """A failed timer is retried later, a little later each time (at most an hour)."""
        timer = await uow.session.get(Timer, timer_id, populate_existing=True)
        if timer is None:
            return
        timer.attempts += 1
        timer.due_at = utcnow() + timedelta(seconds=min(2.0**timer.attempts, 3600.0))
