"""The durable event log and its consumers.

Writing: a unit of work appends its durable events to `event_log` inside its own
transaction (the transactional outbox pattern): an event is in the log if and only if the
write that made it true committed.

Positions in commit order: on PostgreSQL, two transactions may take sequence values in one
order and commit in the other, and a reader that saw position 11 could later find 10
committed behind it. So the append takes a transaction-level advisory lock just before it
inserts, held only until the commit: appends (and their commits) are serialised, a tiny
window at the very end of the transaction. SQLite has a single writer already.

Reading: each consumer (events/handlers.py `consumer`) has a row in `event_consumers`
holding the last position it handled. A batch runs in one transaction that locks that row
(`FOR UPDATE SKIP LOCKED` on PostgreSQL: on several nodes exactly one handles a consumer at
a time, the others skip it), reads the events after the position, calls the handler for
each, and moves the position: the handler's writes and the new position commit together,
so every event is handled exactly once. For a consumer of some types only, the read is
filtered by type in SQL: a batch looks through a window of the next `SCAN` positions (on
the primary key alone), reads and decodes only the rows of the wanted types among them,
at most `BATCH`, and moves the position to the window's end (or to the last row read,
when the batch filled first), past the entries of other types, never decoded. A batch that
fails is retried with a growing delay, one event at a time; an event that keeps failing
is set aside after `MAX_FAILURES` (logged and kept in `last_error`) so that one poisoned
event never stops a consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.exc import IntegrityError

from threadline.aio import finish
from threadline.db import UnitOfWork, across_orgs, utcnow
from threadline.events.domain import EVENT_TYPES, DomainEvent, decode, encode
from threadline.events.handlers import Consumer, Handlers
from threadline.events.models import EventConsumer, EventRecord

if TYPE_CHECKING:
    from threadline.db import Database

log = structlog.get_logger(__name__)

_LOG: Table = EventRecord.__table__  # type: ignore[assignment]  # a mapped class's Table
APPEND_LOCK = 0x7468726C  # "thrl": the advisory lock that orders appends on PostgreSQL
# the rows come out of a subquery that first takes the lock, so their positions (drawn as
# they are inserted) are drawn under it
_PG_APPEND = text(
    "INSERT INTO event_log (id, org_id, type, occurred_at, data) "
    "SELECT :id, :org_id, :type, :occurred_at, CAST(:data AS JSON) "
    "FROM (SELECT pg_advisory_xact_lock(:key)) AS ordered"
)
_APPEND = _LOG.insert()
BATCH = 200
SCAN = 5000  # log positions a batch looks through for the types its consumer wants
MAX_FAILURES = 5
PRUNE_EVERY_S = 600.0


async def append(uow: UnitOfWork, events: list[DomainEvent]) -> None:
    """Write durable events to the log, inside the unit of work's transaction."""
    if uow.row_locks:  # PostgreSQL: the lock and the insert in one round trip
        params = [
            {
                "key": APPEND_LOCK,
                "id": e.id,
                "org_id": e.org_id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "data": json.dumps(encode(e)),
            }
            for e in events
        ]
        conn = await uow.session.connection()
        # one event (a chat message's): a plain execute, not the driver's executemany
        await conn.execute(_PG_APPEND, params if len(params) > 1 else params[0])
        return
    rows = [
        {
            "id": e.id,
            "org_id": e.org_id,
            "type": e.type,
            "occurred_at": e.occurred_at,
            "data": encode(e),
        }
        for e in events
    ]
    # a Core insert on the table, on the transaction's connection: none of the ORM's
    # machinery (its bulk insert, the session's execute hooks) for a row nobody loads
    conn = await uow.session.connection()
    await conn.execute(_APPEND, rows if len(rows) > 1 else rows[0])


class ConsumerRunner:
    """Runs every registered consumer: a task each, woken after a local commit that logged
    durable events and every `poll_s` for events other nodes logged."""

    def __init__(
        self,
        db: Database,
        handlers: Handlers,
        uow: Callable[[], UnitOfWork],
        *,
        poll_s: float = 1.0,
        linger_s: float = 0.2,
        retention: timedelta = timedelta(days=7),
    ) -> None:
        self._db = db
        self._handlers = handlers
        self._uow = uow
        self._poll_s = poll_s
        self._linger_s = linger_s
        self._retention = retention
        self._wakes: dict[str, asyncio.Event] = {}
        self._hurries: dict[str, asyncio.Event] = {}  # an urgent event: cut the linger short
        self._tasks: list[asyncio.Task[None]] = []
        self._failing: dict[str, tuple[int, int]] = {}  # consumer -> (position, failures)
        self._handling: dict[str, int] = {}  # consumer -> the position its handler is on
        # consumer -> (how many event types were known, the names of those it wants)
        self._names: dict[str, tuple[int, frozenset[str]]] = {}
        self._last_prune = 0.0
        self._stopping = False
        handlers.log_writer = append
        handlers.on_logged = self.logged

    async def start(self) -> None:
        self._stopping = False
        with across_orgs():  # the log holds every organisation's events, in commit order
            await self.ensure_positions()
            for name in self._handlers.consumers:
                self._wakes[name] = asyncio.Event()
                self._hurries[name] = asyncio.Event()
                self._tasks.append(asyncio.create_task(self._run(name), name=f"consumer-{name}"))

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let each consumer finish the batch it is in (a batch cut short by cancellation
        could leave its connection mid-transaction), then stop."""
        self._stopping = True
        self.wake()
        await finish(self._tasks, grace_s)
        self._tasks.clear()

    def wake(self) -> None:
        for name, event in self._wakes.items():
            event.set()
            self._hurries[name].set()

    def logged(self, events: list[DomainEvent]) -> None:
        """A local commit logged these: wake the consumers that want one of them (the
        others pass over them at their next batch or poll), at once for an urgent one."""
        for name, consumer in self._handlers.consumers.items():
            wanted = [e for e in events if consumer.wants(e)]
            if not wanted or name not in self._wakes:
                continue
            self._wakes[name].set()
            if consumer.urgent is not None and any(consumer.urgent(e) for e in wanted):
                self._hurries[name].set()

    async def ensure_positions(self) -> None:
        """A consumer seen for the first time starts at the beginning of the kept log (a
        node starting at the same moment may create it first: then it is there)."""
        with contextlib.suppress(IntegrityError):
            async with self._uow() as uow:
                known = set(await uow.session.scalars(select(EventConsumer.name)))
                for name in self._handlers.consumers:
                    if name not in known:
                        uow.session.add(EventConsumer(name=name, position=0))

    async def _run(self, name: str) -> None:
        wake, hurry = self._wakes[name], self._hurries[name]
        delay = self._poll_s
        linger = self._handlers.consumers[name].linger_s
        linger = self._linger_s if linger is None else linger
        while not self._stopping:
            wake.clear()
            hurry.clear()
            try:
                # a full batch means more are waiting; a short one caught up: wait for the
                # next nudge rather than chase a busy writer one event at a time
                while not self._stopping and await self.run_once(name) >= BATCH:
                    pass
                delay = self._poll_s
                await self._maybe_prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("events.consumer_failed", consumer=name)
                delay = min(max(delay * 2, 0.2), 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
                if not self._stopping and linger > 0 and not hurry.is_set():
                    # woken by a commit: let a burst gather, then read it as one batch (each
                    # batch is a write transaction, and SQLite has one writer); an urgent
                    # event ends the wait
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hurry.wait(), timeout=linger)

    async def run_once(self, name: str) -> int:
        """Handle one batch for one consumer; the number of log entries it moved past
        (0: nothing new, or another node holds this consumer right now), or the batch's
        size when it filled with wanted events before the end of its window."""
        consumer = self._handlers.consumers[name]
        limit = BATCH
        try:
            return await self._batch(consumer, limit)
        except Exception as exc:
            await self._failed(consumer, exc)
            raise

    async def _batch(self, consumer: Consumer, limit: int) -> int:
        async with self._uow() as uow:
            query = select(EventConsumer).where(EventConsumer.name == consumer.name)
            if uow.row_locks:
                query = query.with_for_update(skip_locked=True)
            state = await uow.session.scalar(query)
            if state is None:
                return 0
            names = self._wanted_names(consumer)
            rows = select(_LOG.c.position, _LOG.c.id, _LOG.c.type, _LOG.c.data).where(
                _LOG.c.position > state.position
            )
            records: list[Any]
            if names is None:  # every type: the next rows, all of them decoded
                records = list(
                    await uow.session.execute(rows.order_by(_LOG.c.position).limit(limit))
                )
                if not records:
                    return 0
                scanned, top = len(records), records[-1].position
                end = top
            else:
                # the window: the next SCAN positions (the primary key's index alone), then
                # the rows of the types the consumer wants among them, the only ones decoded
                window = (
                    select(_LOG.c.position)
                    .where(_LOG.c.position > state.position)
                    .order_by(_LOG.c.position)
                    .limit(SCAN)
                    .subquery()
                )
                scanned, top = (
                    await uow.session.execute(select(func.count(), func.max(window.c.position)))
                ).one()
                if not scanned:
                    return 0
                records = []
                if names:
                    rows = rows.where(_LOG.c.position <= top, _LOG.c.type.in_(names))
                    records = list(
                        await uow.session.execute(rows.order_by(_LOG.c.position).limit(limit))
                    )
                # positions follow commit order (see above): every entry up to `top` was
                # there for the window's read, so the consumer moves past all of them, or
                # only up to its last record when the batch filled before the window's end
                end = records[-1].position if len(records) >= limit else top
            failing = self._failing.get(consumer.name)
            events = [(record, self._decode(consumer, record)) for record in records]
            if consumer.prepare is not None:
                wanted = [e for _r, e in events if e is not None and consumer.wants(e)]
                if wanted:
                    await consumer.prepare(uow, wanted)
            for record, event in events:
                if failing and failing[0] == record.position and failing[1] >= MAX_FAILURES:
                    log.error(
                        "events.consumer_skipped_event",
                        consumer=consumer.name,
                        position=record.position,
                        type=record.type,
                    )
                    state.last_error = f"set aside event {record.id} at {record.position}"
                else:
                    self._handling[consumer.name] = record.position
                    if event is not None and consumer.wants(event):
                        await consumer.handler(uow, event)
                state.position = record.position
            state.position = end
            state.updated_at = utcnow()
            state.failures = 0
        self._handling.pop(consumer.name, None)
        if failing and end >= failing[0]:
            self._failing.pop(consumer.name, None)
        # a batch that filled before its window's end moved past at least `limit` entries
        return int(scanned) if end == top else len(records)

    def _wanted_names(self, consumer: Consumer) -> frozenset[str] | None:
        """The type names of the events a consumer wants (None: every type), from the
        event classes known now (a family such as ContactEvent names all its members)."""
        if consumer.types is None:
            return None
        known = len(EVENT_TYPES)
        cached = self._names.get(consumer.name)
        if cached is None or cached[0] != known:
            families = tuple(consumer.types)
            names = frozenset(n for n, cls in EVENT_TYPES.items() if issubclass(cls, families))
            cached = self._names[consumer.name] = (known, names)
        return cached[1]

    @staticmethod
    def _decode(consumer: Consumer, record: Any) -> DomainEvent | None:
        try:
            return decode(record.data)
        except (KeyError, TypeError, ValueError):
            # written by a newer version of Threadline (a rolling upgrade): not ours to read
            log.warning("events.unknown_type", consumer=consumer.name, type=record.type)
            return None

    async def _failed(self, consumer: Consumer, exc: Exception) -> None:
        async with self._uow() as uow:
            state = await uow.session.get(EventConsumer, consumer.name)
            if state is None:
                return
            state.failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        position = self._handling.pop(consumer.name, None)
        if position is not None:
            previous = self._failing.get(consumer.name)
            count = previous[1] + 1 if previous and previous[0] == position else 1
            self._failing[consumer.name] = (position, count)

    async def _maybe_prune(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        await self.prune()

    async def prune(self) -> int:
        """Forget log entries every consumer has handled and that are older than the
        retention (kept that long for consumers added later and for audits)."""
        async with self._uow() as uow:
            lowest = await uow.session.scalar(select(func.min(EventConsumer.position)))
            if lowest is None:
                return 0
            result = await uow.session.execute(
                delete(EventRecord).where(
                    EventRecord.position <= lowest,
                    EventRecord.occurred_at < utcnow() - self._retention,
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)
