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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import structlog

from threadline.events.domain import DomainEvent, decode, encode

log = structlog.get_logger(__name__)

Event = DomainEvent
Predicate = Callable[[Event], bool]
SUBSCRIBER_BUFFER = 1000


@dataclass(eq=False)
class Subscription:
    """A local listener: receives the events its predicate accepts, in order."""

    predicate: Predicate
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_BUFFER))
    overflowed: bool = False

    def offer(self, event: Event) -> None:
        if not self.predicate(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A consumer this slow must resynchronise from storage (the truth), not stall
            # everyone else: mark it, and its reader closes the connection.
            self.overflowed = True

    async def __aiter__(self) -> AsyncIterator[Event]:
        while not self.overflowed:
            yield await self.queue.get()


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, events: list[Event]) -> None: ...
    def subscribe(self, predicate: Predicate) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...


class _LocalFanout:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, predicate: Predicate) -> Subscription:
        subscription = Subscription(predicate)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def dispatch(self, event: Event) -> None:
        for subscription in tuple(self._subscriptions):
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
