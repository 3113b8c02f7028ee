"""Durable timers: a row with `due_at`, written in the same transaction as the thing it
times, fired exactly once in the transaction that performs its effect.

Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the load;
on SQLite BEGIN IMMEDIATE already makes the single worker exclusive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
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
    """Polls for due timers and fires each in its own transaction."""

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
            except Exception:  # keep the loop alive; the timer stays due and is retried
                log.exception("timers.poll_failed")
                fired = 0
            if fired < BATCH:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)

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
        """Fire every timer that is due now; returns how many fired."""
        fired = 0
        for timer_id in await self._due_ids():
            fired += await self._fire(timer_id)
        return fired

    async def _fire(self, timer_id: str) -> int:
        async with self._ctx.uow() as uow:
            query = select(Timer).where(
                Timer.id == timer_id, Timer.fired_at.is_(None), Timer.cancelled.is_(False)
            )
            if self._ctx.db.dialect != "sqlite":
                query = query.with_for_update(skip_locked=True)
            timer = await uow.session.scalar(query)
            if timer is None:
                return 0  # fired or claimed by another worker meanwhile
            timer.fired_at = utcnow()
            timer.attempts += 1
            handler = self._handlers.get(timer.kind)
            if handler is None:
                log.error("timers.no_handler", kind=timer.kind, timer_id=timer.id)
                return 0
            await handler(uow, timer)
        return 1
