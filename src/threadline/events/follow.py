"""What other processes committed, for this process's memory: the event log read from its
head onwards, the events this process did not write handed to its after-commit handlers.

A process's memory (the routing engines, the wait estimator, the screens' waits) follows
the database through the after-commit handlers of the events it commits itself
(events/handlers.py). When another process writes too (`threadline worker` fires the
timers that open contacts, so a kill -9 of the web server does not stop them), its
durable events reach this process here: a short read of the log every `poll_s`, from the
position that was the head when the follower started (taken before the engines load from
storage, so nothing committed in between is missed; a fact read twice is one the handlers
already treat as idempotent: a contact filed again is the same contact).

Which events are this process's own: the ids `Handlers.record` wrote to the log inside
this process's transactions (before their commit, so the follower can never see one of
ours first). The log is in commit order (events/log.py), so the position only moves
forward. Live-only signals (`durable = False`) are not in the log: with several processes
the bus is Redis (events/bus.py), which carries those between them; on the in-memory bus
the followed events are published here too, so this process's screens see them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import func, select

from threadline.db import across_orgs
from threadline.events.domain import DomainEvent, decode
from threadline.events.models import EventRecord

if TYPE_CHECKING:
    from threadline.db import Database
    from threadline.events.handlers import Handlers

log = structlog.get_logger(__name__)

BATCH = 500


class LogFollower:
    def __init__(self, db: Database, handlers: Handlers, *, poll_s: float, publish: bool) -> None:
        self._db = db
        self._handlers = handlers
        self._poll_s = poll_s
        self._publish = publish  # the bus is this process's own: screens hear of it here
        self._position: int | None = None
        self._task: asyncio.Task[None] | None = None
        handlers.track_own()

    async def mark_head(self) -> None:
        """Where to start: the log's head now. Call before the memory loads from storage."""
        with across_orgs():  # the log holds every organisation's events
            async with self._db.sessions() as session:
                head = await session.scalar(select(func.max(EventRecord.position)))
        self._position = head or 0

    async def start(self) -> None:
        if self._position is None:
            await self.mark_head()
        with across_orgs():
            self._task = asyncio.create_task(self._run(), name="event-log-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                if await self.follow() == BATCH:
                    continue  # more behind it: read on at once
            except Exception:  # the database is away: the position holds, try again
                log.exception("events.follow_failed")
            await asyncio.sleep(self._poll_s)

    async def follow(self) -> int:
        """One read of the log after the position; returns how many rows it read."""
        if self._position is None:
            await self.mark_head()
        with across_orgs():
            async with self._db.sessions() as session:
                rows = (
                    await session.execute(
                        select(EventRecord.position, EventRecord.id, EventRecord.data)
                        .where(EventRecord.position > self._position)
                        .order_by(EventRecord.position)
                        .limit(BATCH)
                    )
                ).all()
        if not rows:
            return 0
        self._position = rows[-1].position
        foreign: list[DomainEvent] = []
        for row in rows:
            if self._handlers.is_own(row.id):
                continue
            try:
                foreign.append(decode(row.data))
            except (KeyError, TypeError, ValueError):  # a newer version's type: not ours
                log.warning("events.follow_unknown", position=row.position)
        if foreign:
            if self._publish:
                await self._handlers.committed(foreign)
            await self._handlers.react(foreign)
        return len(rows)
