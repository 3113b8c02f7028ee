"""Live wait updates for customer clients (the app's socket, the chat widget's socket).

A client is woken by the bus events that may move its place: `queue.changed` for the queue
it waits in, and the customer's own `timeline` and `callback.changed` events. Bursts are
coalesced (at most one update per THROTTLE_S) and an unchanged view is not sent again;
estimates also drift with time alone, so a client that waits for something has its view
recomputed every REFRESH_S; one that waits for nothing sleeps until its customer's next
event. No polling loop runs faster than that.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError

from threadline.context import Context
from threadline.events.bus import Key, customer_key, queue_key
from threadline.events.domain import CallbackChanged, DomainEvent, QueueChanged, TimelineEntryAdded
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import WaitState

log = structlog.get_logger(__name__)
THROTTLE_S = 1.0
REFRESH_S = 20.0
CUSTOMER_EVENTS = (TimelineEntryAdded, CallbackChanged)
# timeline entries that never move a wait: what is said in the thread, not where it stands
WAIT_NEUTRAL = frozenset({"message", "note", "reaction", "edit"})


class WaitWatch:
    """Wakes one client when something that may change its wait happened."""

    def __init__(self, ctx: Context, org_id: str, customer_id: Callable[[], str]) -> None:
        self._ctx = ctx
        self._org_id = org_id
        self._customer_id = customer_id
        self._queues: frozenset[str] = frozenset()
        self._subscription = ctx.bus.subscribe(self._relevant, self._keys())

    def _keys(self) -> set[Key]:
        """Where it is filed on the bus: every event `_relevant` may accept is filed under
        its customer's key or the key of a queue it waits in."""
        keys = {queue_key(self._org_id, queue_id) for queue_id in self._queues}
        keys.add(customer_key(self._org_id, self._customer_id()))
        return keys

    def follow(self) -> None:
        """File it again after its customer changed (a visitor merged into a known one)."""
        self._subscription.rekey(self._keys())

    def close(self) -> None:
        self._ctx.bus.unsubscribe(self._subscription)

    def _relevant(self, event: DomainEvent) -> bool:
        if event.org_id != self._org_id:
            return False
        if isinstance(event, QueueChanged):
            return event.queue_id in self._queues
        if isinstance(event, TimelineEntryAdded) and event.event.get("kind") in WAIT_NEUTRAL:
            return False  # the busiest kind by far: a chat's messages
        return isinstance(event, CUSTOMER_EVENTS) and event.customer_id == self._customer_id()

    async def _wake(self, refresh_s: float | None) -> None:
        queue = self._subscription.queue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(queue.get(), refresh_s)
        await asyncio.sleep(THROTTLE_S)
        while not queue.empty():  # everything that happened meanwhile: one update
            queue.get_nowait()
        self._subscription.overflowed = False

    async def views(
        self, compute: Callable[[], Awaitable[WaitState]]
    ) -> AsyncGenerator[CustomerWaitOut | None, None]:
        """The first view at once (unless there is nothing to wait for), then each changed
        one."""
        last: CustomerWaitOut | None = None
        try:
            while True:
                try:
                    state = await compute()
                except SQLAlchemyError:  # overload: keep the client, try at the next wake
                    log.warning("live.wait_failed", exc_info=True)
                    await self._wake(REFRESH_S)
                    continue
                if state.queue_ids != self._queues:
                    self._queues = state.queue_ids
                    self.follow()
                if state.view != last:
                    last = state.view
                    yield state.view
                await self._wake(REFRESH_S if state.view is not None else None)
        finally:
            self.close()
