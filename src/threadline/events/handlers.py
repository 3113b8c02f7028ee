"""Who reacts to which domain event, and when: registered once, in create_app.

Three ways to react, chosen by what the reaction is:

- `in_transaction(EventType, handler)`: the reaction is part of the write. It runs inside
  the transaction that produced the event, just before the commit; if it fails, nothing
  of the write is kept. `handler(uow, event)`.
- `after_commit(EventType, handler)`: this process's memory follows the database (the
  routing engines, the wait estimator): runs right after the commit, in the process that
  committed; state it keeps is rebuilt from storage at start-up, so a crash loses nothing.
  `handler(event)`; an error is logged, the write stands.
- `consumer(name, handler)`: durable. The handler reads the event log from its own stored
  position, inside a transaction that also moves that position, so it sees every durable
  event exactly once, whether it was down, slow, or on another node (events/log.py).
  `handler(uow, event)`.

The live fan-out to screens (desktop stream, widget, app view) is the bus: every event goes
there after commit, and each socket filters what its reader may see.

A handler registered for a family (ContactEvent) receives each of its members.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from threadline.events.coalesce import Coalescer
from threadline.events.domain import DomainEvent

if TYPE_CHECKING:
    from threadline.db import UnitOfWork
    from threadline.events.bus import Bus

log = structlog.get_logger(__name__)

OWN_KEPT_S = 600.0  # an id written in a transaction that rolled back is never read back
OWN_PRUNE_ABOVE = 50_000

E = TypeVar("E", bound=DomainEvent)
InTransaction = Callable[["UnitOfWork", Any], Awaitable[None]]
AfterCommit = Callable[[Any], Awaitable[None]]
AfterCommitBatch = Callable[[list[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    name: str
    handler: InTransaction
    # the event types it wants (None: every durable type); others only move its position
    types: frozenset[type[DomainEvent]] | None = None
    # called once per batch, before the handler, with the batch's events it wants (to read
    # what they all need in one query)
    prepare: Callable[[UnitOfWork, list[Any]], Awaitable[None]] | None = None
    # how long to let a burst gather after a wake-up (None: the runner's); 0 for a consumer
    # someone waits on
    linger_s: float | None = None
    # an event someone waits on (the bot's own chats): it is read at once, without the
    # linger; every other event waits for the burst it is part of (each batch is a write
    # transaction: one per message would double a chat's writes)
    urgent: Callable[[Any], bool] | None = None

    def wants(self, event: DomainEvent) -> bool:
        return self.types is None or any(isinstance(event, t) for t in self.types)


class Handlers:
    """The registry, and the flow a unit of work calls (`run_in_transaction`, `record`,
    `committed`)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._coalescer = Coalescer(lambda events: self._bus.publish(events))
        self._in_transaction: dict[type[DomainEvent], list[InTransaction]] = {}
        self._after_commit: dict[type[DomainEvent], list[AfterCommit]] = {}
        self._resolved_in: dict[type[DomainEvent], tuple[InTransaction, ...]] = {}
        self._resolved_after: dict[type[DomainEvent], tuple[AfterCommit, ...]] = {}
        self._after_commit_batch: list[tuple[type[DomainEvent], AfterCommitBatch]] = []
        self.consumers: dict[str, Consumer] = {}
        # set by the consumer runner: a nudge after a commit that logged these durable events
        self.on_logged: Callable[[list[DomainEvent]], None] | None = None
        # set by the event log: write durable events inside the transaction
        self.log_writer: Callable[[UnitOfWork, list[DomainEvent]], Awaitable[None]] | None = None
        # with a follower of the log (events/follow.py): the ids of the durable events this
        # process wrote, and when, so the follower hands only the others to the reactions
        self._own: dict[str, float] | None = None

    # ---------------------------------------------------------------- registration
    def in_transaction(
        self, event_type: type[E], handler: Callable[[UnitOfWork, E], Awaitable[None]]
    ) -> None:
        self._in_transaction.setdefault(event_type, []).append(handler)
        self._resolved_in.clear()

    def after_commit(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._after_commit.setdefault(event_type, []).append(handler)
        self._resolved_after.clear()

    def after_commit_batch(
        self, event_type: type[E], handler: Callable[[list[E]], Awaitable[None]]
    ) -> None:
        """Like after_commit, once per unit of work with all its events of that type (a
        batch of timers opens many contacts: routing reads them in one query)."""
        self._after_commit_batch.append((event_type, handler))

    def consumer(
        self,
        name: str,
        handler: Callable[[UnitOfWork, Any], Awaitable[None]],
        types: Iterable[type[DomainEvent]] | None = None,
        *,
        prepare: Callable[[UnitOfWork, list[Any]], Awaitable[None]] | None = None,
        linger_s: float | None = None,
        urgent: Callable[[Any], bool] | None = None,
    ) -> None:
        if name in self.consumers:
            raise ValueError(f"a consumer named {name!r} is already registered")
        wanted = frozenset(types) if types is not None else None
        if wanted is not None and any(not t.durable for t in wanted):
            raise ValueError("a durable consumer only sees durable events")
        self.consumers[name] = Consumer(name, handler, wanted, prepare, linger_s, urgent)

    def _in_for(self, cls: type[DomainEvent]) -> tuple[InTransaction, ...]:
        found = self._resolved_in.get(cls)
        if found is None:
            found = tuple(h for base in cls.__mro__ for h in self._in_transaction.get(base, ()))
            self._resolved_in[cls] = found
        return found

    def _after_for(self, cls: type[DomainEvent]) -> tuple[AfterCommit, ...]:
        found = self._resolved_after.get(cls)
        if found is None:
            found = tuple(h for base in cls.__mro__ for h in self._after_commit.get(base, ()))
            self._resolved_after[cls] = found
        return found

    # ---------------------------------------------------------------- the flow
    async def run_in_transaction(self, uow: UnitOfWork, event: DomainEvent) -> None:
        for handler in self._in_for(type(event)):
            await handler(uow, event)

    async def record(self, uow: UnitOfWork, events: list[DomainEvent]) -> None:
        if self.log_writer is not None:
            durable = [e for e in events if e.durable]
            if durable:
                if self._own is not None:  # before the commit: the follower never sees it first
                    now = time.monotonic()
                    self._own.update((e.id, now) for e in durable)
                await self.log_writer(uow, durable)

    # ---------------------------------------------------------------- other writers
    def track_own(self) -> None:
        """Remember which durable events this process writes (a follower reads the log)."""
        if self._own is None:
            self._own = {}

    def is_own(self, event_id: str) -> bool:
        """Whether this process wrote the event (each id is asked about once: forgotten
        then; ids of transactions that rolled back are forgotten after OWN_KEPT_S)."""
        if self._own is None:
            return False
        if self._own.pop(event_id, None) is not None:
            return True
        if len(self._own) > OWN_PRUNE_ABOVE:
            oldest = time.monotonic() - OWN_KEPT_S
            self._own = {k: t for k, t in self._own.items() if t >= oldest}
        return False

    async def committed(self, events: list[DomainEvent]) -> None:
        """Right after the commit: the events go live on the bus (a burst of "look again"
        signals, one per key and window: events/coalesce.py)."""
        await self._bus.publish(self._coalescer.admit(events))

    async def react(self, events: list[DomainEvent]) -> None:
        """Then this process's after-commit handlers, and a nudge to the consumers."""
        for event in events:
            for handler in self._after_for(type(event)):
                try:
                    await handler(event)
                except Exception:  # the write stands; this process's memory catches up
                    log.exception("events.after_commit_failed", type=event.type)
        for event_type, batch_handler in self._after_commit_batch:
            batch = [e for e in events if isinstance(e, event_type)]
            if batch:
                try:
                    await batch_handler(batch)
                except Exception:
                    log.exception("events.after_commit_failed", type=event_type.type)
        logged = [e for e in events if e.durable]
        if logged and self.on_logged is not None:
            self.on_logged(logged)
