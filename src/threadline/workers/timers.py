"""Durable timers: a row with `due_at`, written in the same transaction as the thing it
times, fired exactly once in the transaction that performs its effect.

Firing claims a batch with one query (the oldest due timers, ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several workers and nodes share the load without waiting on each other;
on SQLite BEGIN IMMEDIATE already makes the single worker exclusive), runs the batch's
handlers and marks the timers fired in that same transaction. The claim is a lease held
by the transaction: if the process dies mid-batch, the database rolls the transaction
back and drops its locks, and the next claim (this node restarted, or another) takes the
same timers again; nothing of the first attempt was committed, so each fires once. On
PostgreSQL a transaction left idle (a handler hung on something outside the database)
loses its lease after ``LEASE_S``: the server ends it and the timers are claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, func, select, text, update
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
# a lane draining a backlog claims bigger batches: a transaction's fixed costs (claim, the
# batch's loads, flush, event-log append, commit, routing's read after it, the consumers'
# wake-up) spread over more timers (4,000 due at once, fired in-process, alternate runs:
# 5-50% more a second than in batches of BATCH; not visible in bench/callbacks.py on a
# machine loaded by other work)
BACKLOG_BATCH = 300
# how long a firing transaction may sit idle before PostgreSQL ends it and its timers can
# be claimed again (a handler waiting on something outside the database)
LEASE_S = 60.0


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
    """Cancel the pending timers of `kind` for `ref_id`. Timers loaded in the session are
    not updated in memory (nothing reads a timer's flag after cancelling it; matching the
    session's timers against the criteria cost more than the UPDATE itself)."""
    await session.execute(
        update(Timer)
        .where(Timer.kind == kind, Timer.ref_id == ref_id, Timer.fired_at.is_(None))
        .values(cancelled=True)
        .execution_options(synchronize_session=False)
    )


class TimerWorker:
    """Fires due timers, a batch per transaction.

    A handler that raises rolls its batch back; the batch is then fired again in halves,
    down to the failing timer alone, which is retried later with a growing delay (at most
    an hour), so one poisoned timer never blocks the others: timers have no order to keep,
    and a postponed one no longer sits at the head of the claim.  Between batches the
    worker sleeps exactly until the next timer is due (at most ``poll_s``, for timers other
    nodes write); ``wake`` cuts the sleep short when this node writes a sooner one.  While
    batches come back full (a backlog), ``lanes`` lanes drain it on PostgreSQL (SQLite has
    one writer: one lane), each batch after batch in its own transaction and connection,
    never waiting for the others.
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

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def keep_only(self, kinds: Collection[str]) -> None:
        """Fire only these kinds (a process that fires some timers beside the server)."""
        self._handlers = {k: h for k, h in self._handlers.items() if k in kinds}
        self._prepare = {k: p for k, p in self._prepare.items() if k in kinds}

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
            self._wake.clear()  # a write after this point wakes the sleep below
            try:
                await self.fire_due()
                pause = await self._until_next(self._poll_s)
            except Exception:  # keep the loop alive; the timers stay due and are retried
                log.exception("timers.poll_failed")
                pause = self._poll_s
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    def _pending(self) -> ColumnElement[bool]:
        """Timers this worker can fire: not fired, not cancelled, of a kind it handles (a
        node without a kind's handler leaves those to the nodes that have one)."""
        return and_(
            Timer.fired_at.is_(None),
            Timer.cancelled.is_(False),
            Timer.kind.in_(sorted(self._handlers)),
        )

    async def _until_next(self, longest: float) -> float:
        """Seconds until the next pending timer is due, at most ``longest``."""
        async with self._ctx.db.sessions() as session:
            due = await session.scalar(select(func.min(Timer.due_at)).where(self._pending()))
        if due is None:
            return longest
        if due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        return min(longest, max((due - utcnow()).total_seconds(), 0.0))

    async def fire_due(self) -> int:
        """Fire the timers due now; returns how many fired.

        One batch first; if it came back full (a backlog), ``lanes`` lanes drain the rest in
        batches of ``BACKLOG_BATCH``, each on its own: a lane whose batch committed claims
        the next at once instead of waiting for the slowest of a round (after a restart
        the backlog is thousands)."""
        fired, full = await self._fire_batch()
        if not full:
            return fired
        lanes = await asyncio.gather(
            *(self._drain() for _ in range(self._lanes)), return_exceptions=True
        )
        for outcome in lanes:
            if isinstance(outcome, BaseException):
                raise outcome  # every lane has stopped: the loop logs it and polls again
            fired += outcome
        return fired

    async def _drain(self) -> int:
        """One lane: batch after batch until one comes back short (nothing more due)."""
        fired, full = 0, True
        while full:
            count, full = await self._fire_batch(BACKLOG_BATCH)
            fired += count
        return fired

    async def _fire_batch(self, size: int = BATCH) -> tuple[int, bool]:
        """Claim up to ``size`` due timers and fire them in one transaction; returns (fired,
        whether the batch was full: more may be due behind it)."""
        claimed: list[str] = []
        try:
            async with self._ctx.uow() as uow:
                timers = await self._claim(uow, Timer.due_at <= utcnow(), size)
                claimed = [t.id for t in timers]
                fired = await self._fire_in(uow, timers)
            return fired, len(claimed) == size
        except Exception:
            if not claimed:
                raise  # the claim itself failed: the loop logs and tries again
            # a handler failed (rolled back) or the work after commit did (committed)
            log.exception("timers.batch_failed", timers=len(claimed))
        return await self._isolate(claimed), len(claimed) == size

    async def _isolate(self, timer_ids: list[str]) -> int:
        """A failed batch fired again in halves, each half in its own transaction, down to
        the failing timer alone, which is postponed: one poisoned timer among a hundred
        costs about fourteen transactions, not a hundred. Timers a committed half (or the
        failed batch's own commit) fired are not claimed again."""
        fired = 0
        parts = [timer_ids]
        while parts:
            ids = parts.pop()
            outcome = await self._try_fire(ids)
            if not isinstance(outcome, Exception):
                fired += outcome
            elif len(ids) == 1:
                await self._postpone_failed(ids[0], outcome)
            else:
                half = len(ids) // 2
                parts += [ids[half:], ids[:half]]
        return fired

    async def _try_fire(self, timer_ids: list[str]) -> int | Exception:
        try:
            async with self._ctx.uow() as uow:
                claimed = await self._claim(uow, Timer.id.in_(timer_ids), len(timer_ids))
                return await self._fire_in(uow, claimed)
        except Exception as exc:
            return exc

    async def _claim(self, uow: UnitOfWork, which: ColumnElement[bool], limit: int) -> list[Timer]:
        """One query: the oldest pending timers matching ``which``, locked for this
        transaction (PostgreSQL: rows another worker holds are skipped, not waited for)."""
        query = select(Timer).where(self._pending(), which).order_by(Timer.due_at).limit(limit)
        if uow.row_locks:
            await uow.session.execute(
                text(f"SET LOCAL idle_in_transaction_session_timeout = '{int(LEASE_S)}s'")
            )
            query = query.with_for_update(skip_locked=True)
        return list(await uow.session.scalars(query))

    async def _fire_in(self, uow: UnitOfWork, claimed: list[Timer]) -> int:
        for kind, prepare in self._prepare.items():
            if of_kind := [t for t in claimed if t.kind == kind]:
                await prepare(uow, of_kind)
        now = utcnow()
        for timer in claimed:
            timer.fired_at = now
            timer.attempts += 1
            await self._handlers[timer.kind](uow, timer)
        return len(claimed)

    async def _postpone_failed(self, timer_id: str, error: Exception) -> None:
        log.error("timers.handler_failed", timer_id=timer_id, exc_info=error)
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
