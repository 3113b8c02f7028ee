"""Live signals that only say "look again" (an inbox row moved), at most one per key and
window: a chat's every message moves its thread's row, and each signal goes to every
desktop of the organisation, so a busy thread would cost each desktop a frame per message.

The first signal of a key goes at once; those that follow within the window are held, and
the latest of them goes when it closes (opening the next window): a screen never misses the
last state, and hears of a busy thread at most once per window. An event opts in with a
`coalesce_s` window and its `coalesce_key()` (events/domain.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable

import structlog

from threadline.events.domain import DomainEvent

log = structlog.get_logger(__name__)
Publish = Callable[[list[DomainEvent]], Awaitable[None]]


class Coalescer:
    """Per-process: which keys are within their window, and the signal each holds back."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._held: dict[Hashable, DomainEvent | None] = {}  # open windows (None: nothing held)
        self._tasks: set[asyncio.Task[None]] = set()

    def admit(self, events: list[DomainEvent]) -> list[DomainEvent]:
        """The events to publish now; the others are held for their window's end."""
        now: list[DomainEvent] = []
        for event in events:
            key = event.coalesce_key() if event.coalesce_s > 0 else None
            if key is None:
                now.append(event)
            elif key in self._held:
                self._held[key] = event  # the latest is what the window's end tells
            else:
                self._open(key, event.coalesce_s)
                now.append(event)
        return now

    def _open(self, key: Hashable, window_s: float) -> None:
        self._held[key] = None
        asyncio.get_running_loop().call_later(window_s, self._close, key, window_s)

    def _close(self, key: Hashable, window_s: float) -> None:
        latest = self._held.pop(key, None)
        if latest is None:
            return
        self._open(key, window_s)
        task = asyncio.ensure_future(self._send(latest))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: DomainEvent) -> None:
        try:
            await self._publish([event])
        except Exception:  # a signal: the next one, or the screen's own refresh, catches up
            log.warning("events.coalesced_publish_failed", type=event.type, exc_info=True)
