"""The live bus: typed domain events (events/domain.py) fan out to the screens
(desktops, widgets, app views) and to whatever this node keeps in memory.

One process: an in-memory bus. Several processes: Redis Streams, each node reading the
stream from its last id so it catches up after a reconnect (pub/sub would drop events).
Events are published only after the transaction that produced them commits. The bus is
for what is live; what must never be missed is read from the durable event log
(events/log.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import structlog

from threadline.events.domain import DomainEvent, decode, encode

log = structlog.get_logger(__name__)

Event = DomainEvent
Predicate = Callable[[Event], bool]
SUBSCRIBER_BUFFER = 1000
# An index key: what an event is about, in its organisation. A subscription is filed under
# the keys it cares for, and an event is offered only to the subscriptions filed under one
# of its own keys (event_keys), so the cost of an event grows with the sockets it concerns,
# not with every socket open on the node.
Key = tuple[str, ...]
# event attributes that name what it is about (the field name, the key's kind)
_ABOUT = (
    ("agent_id", "agent"),
    ("thread_id", "thread"),
    ("customer_id", "customer"),
    ("queue_id", "queue"),
)
_ABOUT_BY_TYPE: dict[type[DomainEvent], tuple[tuple[str, str], ...]] = {}


def type_key(event_type: str) -> Key:
    """Every event of a type, in every organisation (a node-wide worker)."""
    return ("type", event_type)


def org_key(org_id: str, event_type: str) -> Key:
    """Every event of a type in one organisation (org-wide news: queues, presence)."""
    return ("org", org_id, event_type)


def agent_key(org_id: str, agent_id: str) -> Key:
    return ("agent", org_id, agent_id)


def thread_key(org_id: str, thread_id: str) -> Key:
    return ("thread", org_id, thread_id)


def customer_key(org_id: str, customer_id: str) -> Key:
    return ("customer", org_id, customer_id)


def queue_key(org_id: str, queue_id: str) -> Key:
    return ("queue", org_id, queue_id)


def event_keys(event: Event) -> list[Key]:
    """The keys an event is filed under: its type (node-wide and in its organisation) and
    each agent, thread, customer and queue it names. Organisation isolation is in the keys
    themselves: every key but the node-wide type key carries the event's organisation."""
    about = _ABOUT_BY_TYPE.get(type(event))
    if about is None:
        about = tuple(pair for pair in _ABOUT if hasattr(event, pair[0]))
        _ABOUT_BY_TYPE[type(event)] = about
    org_id = event.org_id
    keys: list[Key] = [("type", event.type), ("org", org_id, event.type)]
    for attribute, kind in about:
        value = getattr(event, attribute)
        if value is not None:
            keys.append((kind, org_id, value))
    return keys


@dataclass(eq=False)
class Subscription:
    """A local listener: receives the events its predicate accepts, in order.

    Filed under `keys` (see event_keys), it is offered only the events filed under one of
    them, and its predicate decides among those; with no keys given (None) it is offered
    every event, as a node-wide observer. Keys may change while it lives (a desktop
    watching one more thread, a visitor who turned out to be a known customer).

    With a `sink`, an accepted event is handed to it at once, inside the dispatch, instead
    of waiting in `queue` for a reader task to wake: a socket that can take the frame now
    is written to without a task switch (realtime/outbox.py). A sink must not raise and
    must not block: it keeps its own bounded backlog."""

    predicate: Predicate
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_BUFFER))
    overflowed: bool = False
    keys: set[Key] = field(default_factory=set)
    sink: Callable[[Event], None] | None = None
    _fanout: _LocalFanout | None = None

    def offer(self, event: Event) -> None:
        if not self.predicate(event):
            return
        if self.sink is not None:
            self.sink(event)
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A consumer this slow must resynchronise from storage (the truth), not stall
            # everyone else: mark it, and its reader closes the connection.
            self.overflowed = True

    def add_key(self, key: Key) -> None:
        if key not in self.keys:
            self.keys.add(key)
            if self._fanout is not None:
                self._fanout.file(self, key)

    def discard_key(self, key: Key) -> None:
        if key in self.keys:
            self.keys.discard(key)
            if self._fanout is not None:
                self._fanout.unfile(self, key)

    def rekey(self, keys: Iterable[Key]) -> None:
        """File it under exactly these keys from now on."""
        wanted = set(keys)
        for key in self.keys - wanted:
            self.discard_key(key)
        for key in wanted - self.keys:
            self.add_key(key)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while not self.overflowed:
            yield await self.queue.get()


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, events: list[Event]) -> None: ...
    def subscribe(
        self,
        predicate: Predicate,
        keys: Iterable[Key] | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...


class _LocalFanout:
    """The subscriptions of this node, indexed by key (plus the few that hear everything)."""

    def __init__(self) -> None:
        self._everything: set[Subscription] = set()
        self._index: dict[Key, set[Subscription]] = {}

    def subscribe(
        self,
        predicate: Predicate,
        keys: Iterable[Key] | None = None,
        sink: Callable[[Event], None] | None = None,
    ) -> Subscription:
        subscription = Subscription(predicate, sink=sink)
        if keys is None:
            self._everything.add(subscription)
            return subscription
        subscription._fanout = self
        for key in keys:
            subscription.add_key(key)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._everything.discard(subscription)
        if subscription._fanout is self:
            for key in subscription.keys:
                self.unfile(subscription, key)
            subscription._fanout = None

    def file(self, subscription: Subscription, key: Key) -> None:
        bucket = self._index.get(key)
        if bucket is None:
            bucket = self._index[key] = set()
        bucket.add(subscription)

    def unfile(self, subscription: Subscription, key: Key) -> None:
        bucket = self._index.get(key)
        if bucket is not None:
            bucket.discard(subscription)
            if not bucket:
                del self._index[key]  # no empty buckets left behind by closed threads

    def subscribers(self, event: Event) -> Collection[Subscription]:
        """Who is offered the event: the subscriptions filed under any of its keys (each
        once, even when filed under several), and those that hear everything."""
        index = self._index
        buckets = [bucket for key in event_keys(event) if (bucket := index.get(key))]
        if self._everything:
            buckets.append(self._everything)
        if not buckets:
            return ()
        if len(buckets) == 1:
            return tuple(buckets[0])  # a copy: an offer may (un)subscribe someone
        return set().union(*buckets)

    def dispatch(self, event: Event) -> None:
        for subscription in self.subscribers(event):
            subscription.offer(event)


class MemoryBus(_LocalFanout):
    """In-process bus: the default for a single Threadline process."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, events: list[Event]) -> None:
        for event in events:
            self.dispatch(event)


class RedisStreamBus(_LocalFanout):
    """Redis Streams fan-out: every node appends to one stream and reads all of it."""

    def __init__(self, url: str, stream: str = "threadline:events", maxlen: int = 100_000) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._stream = stream
        self._maxlen = maxlen
        self._reader: asyncio.Task[None] | None = None
        self._last_id = "$"

    async def start(self) -> None:
        info = await self._redis.xinfo_stream(self._stream) if await self._exists() else None
        self._last_id = info["last-generated-id"].decode() if info else "0-0"
        self._reader = asyncio.create_task(self._read_forever(), name="redis-bus-reader")

    async def _exists(self) -> bool:
        return bool(await self._redis.exists(self._stream))

    async def stop(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose()

    async def publish(self, events: list[Event]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    self._stream,
                    {"e": json.dumps(encode(event))},
                    maxlen=self._maxlen,
                    approximate=True,
                )
            await pipe.execute()

    async def _read_forever(self) -> None:
        while True:
            try:
                batches = await self._redis.xread({self._stream: self._last_id}, block=5000)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection: retry from the last id
                log.warning("bus.redis.read_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            stream_batches: list[Any] = cast(list[Any], batches or [])
            for _stream, entries in stream_batches:
                for entry_id, fields in entries:
                    self._last_id = entry_id.decode()
                    try:
                        event = decode(json.loads(fields[b"e"]))
                    except (KeyError, TypeError, ValueError):
                        continue  # a type a newer node wrote: not ours to read
                    self.dispatch(event)


def create_bus(url: str) -> Bus:
    if url.startswith("memory"):
        return MemoryBus()
    if url.startswith(("redis://", "rediss://")):
        return RedisStreamBus(url)
    raise ValueError(f"unsupported THREADLINE_BUS_URL scheme: {url.split(':', 1)[0]}")
