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
from threadline.db import UnitOfWork, across_orgs, utcnow
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

Handler = Callable[[UnitOfWork, Timer], Awaitable[None]]
# called once per batch with the batch's timers of one kind, before their handlers: load
# and lock what they will touch in a few queries instead of a few per timer
Prepare = Callable[[UnitOfWork, list[Timer]], Awaitable[None]]
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
    """Fires due timers, a batch per transaction.

    A handler that raises rolls its batch back; the batch is then fired one timer per
    transaction, and the failing timer is retried later with a growing delay, so one
    poisoned timer never blocks the others.  Between batches the worker sleeps until
    the next timer is due (at most ``poll_s``); ``wake`` cuts the sleep short when a
    sooner timer is written.
    """

    def __init__(self, ctx: Context, poll_s: float, lanes: int = 4) -> None:
        self._ctx = ctx
        self._poll_s = poll_s
        self._lanes = 1 if ctx.db.dialect == "sqlite" else max(1, lanes)
        self._handlers: dict[str, Handler] = {}
        self._prepare: dict[str, Prepare] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def register(self, kind: str, handler: Handler, prepare: Prepare | None = None) -> None:
        self._handlers[kind] = handler
        if prepare is not None:
            self._prepare[kind] = prepare

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        with across_orgs():  # due timers of every organisation, in shared batches
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
                pause = self._poll_s if fired < BATCH * self._lanes else 0.0
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
                .limit(BATCH * self._lanes)
            )
            return list(rows)

    async def fire_due(self) -> int:
        """Fire the timers due now (up to a batch per lane); returns how many fired.

        On PostgreSQL the batches of one round run side by side, each in its own
        transaction and connection (rows claimed with SKIP LOCKED), since firing waits on
        the database far more than on Python; SQLite has one writer, so one lane.
        """
        ids = await self._due_ids()
        if not ids:
            return 0
        batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
        if len(batches) == 1:
            return await self._fire(batches[0])
        return sum(await asyncio.gather(*(self._fire(batch) for batch in batches)))

    async def _fire(self, timer_ids: list[str]) -> int:
        """Fire a batch in one transaction; if any handler fails, the batch is rolled back
        and each timer is fired again in its own transaction, so only the failing one
        waits (and is retried later)."""
        try:
            async with self._ctx.uow() as uow:
                return await self._fire_in(uow, timer_ids)
        except Exception:
            if len(timer_ids) == 1:
                await self._postpone_failed(timer_ids[0])
                return 0
            # a handler failed (rolled back) or the work after commit did (committed):
            # fired timers are skipped below, the others fire one per transaction
            log.exception("timers.batch_failed", timers=len(timer_ids))
        fired = 0
        for timer_id in timer_ids:
            try:
                async with self._ctx.uow() as uow:
                    fired += await self._fire_in(uow, [timer_id])
            except Exception:
                await self._postpone_failed(timer_id)
        return fired

    async def _fire_in(self, uow: UnitOfWork, timer_ids: list[str]) -> int:
        query = (
            select(Timer)
            .where(Timer.id.in_(timer_ids), Timer.fired_at.is_(None), Timer.cancelled.is_(False))
            .order_by(Timer.due_at)
        )
        if uow.row_locks:
            query = query.with_for_update(skip_locked=True)
        # claimed by another worker meanwhile: skipped (PostgreSQL); fired: filtered out
        fired = 0
        claimed = list(await uow.session.scalars(query))
        for kind, prepare in self._prepare.items():
            if of_kind := [t for t in claimed if t.kind == kind]:
                await prepare(uow, of_kind)
        for timer in claimed:
            handler = self._handlers.get(timer.kind)
            if handler is None:
                log.error("timers.no_handler", kind=timer.kind, timer_id=timer.id)
                continue
            timer.fired_at = utcnow()
            timer.attempts += 1
            await handler(uow, timer)
            fired += 1
        return fired

    async def _postpone_failed(self, timer_id: str) -> None:
        log.exception("timers.handler_failed", timer_id=timer_id)
        with contextlib.suppress(Exception):  # the database itself may be what failed
            async with self._ctx.uow() as uow:
                await self._postpone(uow, timer_id)

    @staticmethod
    async def _postpone(uow: UnitOfWork, timer_id: str) -> None:
        """A failed timer is retried later, a little later each time (at most an hour)."""
        timer = await uow.session.get(Timer, timer_id)
        if timer is None or timer.fired_at is not None:
            return
        timer.attempts += 1
        timer.due_at = utcnow() + timedelta(seconds=min(2.0**timer.attempts, 3600.0))
