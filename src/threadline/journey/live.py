"""Live updates for customer clients (the app's socket, the chat widget's socket): their
own events, and their wait when it changes.

One listener per process, not one per socket: every socket used to hold its own bus
subscription, so each event was tested against every connected visitor (CPU per message
grew with the number of visitors) and each socket recomputed its customer's wait on its
own. Here a single bus subscription routes each event by its customer to that customer's
sockets (an index, `CustomerStreams`), and `WaitHub` keeps the waits:

* a wait is computed once per customer (or contact) however many sockets show it;
* the customer's own `timeline` entries that may move a wait (not a chat's messages) and
  `callback.changed` mark their own view for a full computation (a few reads);
* the routing engine's `queue.changed` marks only the views of customers *waiting* in that
  queue (an index by queue, kept from each computed view), and those are refreshed
  together: place, range, status and offer from the engine's memory and one read of all
  their contacts (journey.services.refresh_views), not ten reads per customer;
* changes are coalesced for BATCH_S, then each marked view is computed once and sent to
  the sockets whose last view differs;
* a waiting view drifts with time alone: it is recomputed every REFRESH_S; a customer who
  waits for nothing costs nothing until their next event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from threadline.context import Context
from threadline.db import no_org, org_scope
from threadline.events.bus import Subscription
from threadline.events.domain import CallbackChanged, DomainEvent, QueueChanged, TimelineEntryAdded
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import WaitState, refresh_views

log = structlog.get_logger(__name__)
BATCH_S = 0.5
REFRESH_S = 20.0
CONCURRENCY = 4  # views recomputed at once (each is a few reads)
SEND_TIMEOUT_S = 10.0
CUSTOMER_EVENTS = (TimelineEntryAdded, CallbackChanged)
# timeline entries that never move a wait: what is said in the thread, not where it stands
WAIT_NEUTRAL = frozenset({"message", "note", "reaction", "edit"})

Send = Callable[[CustomerWaitOut | None], Awaitable[None]]
Compute = Callable[[], Awaitable[WaitState]]
# (org id, {view key: its last waiting view}) -> each refreshed, None: compute it in full
Refresh = Callable[
    [str, dict[Hashable, CustomerWaitOut]], Awaitable[dict[Hashable, CustomerWaitOut | None]]
]
_UNSENT: Any = object()


def moves_wait(event: DomainEvent) -> bool:
    """Whether a customer's own event may move their wait."""
    if isinstance(event, TimelineEntryAdded):
        return event.event.get("kind") not in WAIT_NEUTRAL
    return isinstance(event, CallbackChanged)


@dataclass(eq=False)
class _Watcher:
    send: Send
    last: Any = _UNSENT


@dataclass(eq=False)
class _View:
    """One computed wait and the sockets that show it."""

    key: Hashable
    org_id: str
    customer_id: str
    compute: Compute
    watchers: set[_Watcher] = field(default_factory=set)
    state: WaitState | None = None
    queues: frozenset[tuple[str, str]] = frozenset()
    due: float = 0.0  # monotonic time of the next refresh while waiting
    retry: bool = False  # its last computation failed: refresh it anyway

    @property
    def timed(self) -> bool:
        return bool(self.queues) or self.retry


class WaitHub:
    """The live waits of one process: computed once per view, pushed on change."""

    def __init__(self, refresh: Refresh | None = None) -> None:
        self._refresh = refresh
        self._views: dict[Hashable, _View] = {}
        self._by_customer: dict[tuple[str, str], set[Hashable]] = {}
        self._by_queue: dict[tuple[str, str], set[Hashable]] = {}
        self._dirty: set[Hashable] = set()  # to compute in full
        self._moved: set[Hashable] = set()  # waiting in a queue that changed: to refresh
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.computed = 0  # views computed in full so far (tests and benchmarks read it)
        self.refreshed = 0  # views refreshed from their queue

    # ------------------------------------------------------------ sockets
    def watch(
        self, key: Hashable, org_id: str, customer_id: str, compute: Compute, send: Send
    ) -> _Watcher:
        """Show the view `key` (computed by `compute`, the same for every socket with that
        key) on one socket; `send` gets each changed view, the first at once."""
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = _View(key, org_id, customer_id, compute)
            self._by_customer.setdefault((org_id, customer_id), set()).add(key)
            self._mark({key})
        watcher = _Watcher(send)
        view.watchers.add(watcher)
        if view.state is not None and view.state.view is not None:
            self._spawn(self._send(watcher, view.state.view))
        elif view.state is None:
            self._mark({key})
        self._ensure_running()
        return watcher

    def unwatch(self, key: Hashable, watcher: _Watcher) -> None:
        view = self._views.get(key)
        if view is None:
            return
        view.watchers.discard(watcher)
        if not view.watchers:
            self._drop(view)

    def _drop(self, view: _View) -> None:
        self._views.pop(view.key, None)
        self._dirty.discard(view.key)
        self._moved.discard(view.key)
        self._unindex(self._by_customer, (view.org_id, view.customer_id), view.key)
        for queue in view.queues:
            self._unindex(self._by_queue, queue, view.key)
        if not self._views and self._task is not None:
            self._task.cancel()  # nobody is watching: no loop left behind
            self._task = None

    @staticmethod
    def _unindex(index: dict[Any, set[Hashable]], at: Any, key: Hashable) -> None:
        keys = index.get(at)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[at]

    # ------------------------------------------------------------ events
    def on_event(self, event: DomainEvent) -> None:
        """Mark the views an event may move (cheap: index look-ups, no I/O)."""
        if isinstance(event, QueueChanged):
            keys = self._by_queue.get((event.org_id, event.queue_id), ())
            if keys:
                self._moved.update(keys)
                self._wake.set()
        elif moves_wait(event):
            customer_id = getattr(event, "customer_id", None)
            if customer_id:
                self._mark(self._by_customer.get((event.org_id, customer_id), ()))

    def _mark(self, keys: Any) -> None:
        if keys:
            self._dirty.update(keys)
            self._wake.set()

    # ------------------------------------------------------------ the loop
    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            # it serves every organisation's views, whichever socket started it: each
            # computation below says whose view it is (docs/organisations.md)
            with no_org():
                self._task = asyncio.get_running_loop().create_task(self._run(), name="wait-hub")

    async def _run(self) -> None:
        while self._views:
            now = time.monotonic()
            dues = [v.due for v in self._views.values() if v.timed]
            timeout = max(min(dues) - now, 0.0) if dues else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await asyncio.sleep(BATCH_S)  # what happens meanwhile joins this round
            self._wake.clear()
            now = time.monotonic()
            full, self._dirty = self._dirty, set()
            due = {k for k, v in self._views.items() if v.timed and v.due <= now}
            moved, self._moved = (self._moved | due) - full, set()
            full |= await self._refresh_moved(moved)
            await self._recompute_all(full)

    async def _refresh_moved(self, keys: set[Hashable]) -> set[Hashable]:
        """Refresh the waiting views whose queue moved, per organisation in one go;
        returns those to compute in full."""
        by_org: dict[str, dict[Hashable, CustomerWaitOut]] = {}
        full: set[Hashable] = set()
        refresh = self._refresh
        for key in keys:
            view = self._views.get(key)
            if view is None:
                continue
            shown = view.state.view if view.state is not None else None
            if refresh is None or view.retry or shown is None or not shown.contact_id:
                full.add(key)
            else:
                by_org.setdefault(view.org_id, {})[key] = shown
        for org_id, shown_views in by_org.items():
            if refresh is None:
                break
            try:
                with org_scope(org_id):
                    refreshed = await refresh(org_id, shown_views)
            except Exception:  # computed in full instead, one by one
                log.warning("live.wait_refresh_failed", exc_info=True)
                full.update(shown_views)
                continue
            for key, new in refreshed.items():
                view = self._views.get(key)
                if view is None or view.state is None:
                    continue
                if new is None:
                    full.add(key)
                    continue
                self.refreshed += 1
                view.state = WaitState(new, view.state.queue_ids)
                view.due = time.monotonic() + REFRESH_S
                await self._publish(view, new)
        return full

    async def _recompute_all(self, keys: set[Hashable]) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(key: Hashable) -> None:
            async with limit:
                await self._recompute(key)

        await asyncio.gather(*(one(k) for k in keys))

    async def _recompute(self, key: Hashable) -> None:
        view = self._views.get(key)
        if view is None:
            return
        try:
            with org_scope(view.org_id):
                state = await view.compute()
        except Exception as exc:  # one failing view must not stop the others
            # overload (SQLAlchemyError) or a contact gone: keep the sockets, retry later
            if isinstance(exc, SQLAlchemyError):
                log.warning("live.wait_failed", exc_info=True)
            else:
                log.exception("live.wait_failed")
            view.due, view.retry = time.monotonic() + REFRESH_S, True
            return
        self.computed += 1
        if self._views.get(key) is not view:
            return  # every socket left meanwhile
        view.state, view.retry = state, False
        queues = frozenset((view.org_id, q) for q in state.queue_ids) if state.view else frozenset()
        for queue in view.queues - queues:
            self._unindex(self._by_queue, queue, key)
        for queue in queues - view.queues:
            self._by_queue.setdefault(queue, set()).add(key)
        view.queues = queues
        view.due = time.monotonic() + REFRESH_S
        await self._publish(view, state.view)

    async def _publish(self, view: _View, shown: CustomerWaitOut | None) -> None:
        for watcher in tuple(view.watchers):
            if watcher.last is _UNSENT and shown is None:
                watcher.last = None  # nothing to wait for: the first view is not sent
            elif watcher.last != shown:
                watcher.last = shown
                # not awaited here: one slow socket must not hold back everyone's waits
                self._spawn(self._send(watcher, shown))

    async def _send(self, watcher: _Watcher, view: CustomerWaitOut | None) -> None:
        watcher.last = view
        with contextlib.suppress(Exception):  # a closed socket: its handler unwatches it
            await asyncio.wait_for(watcher.send(view), SEND_TIMEOUT_S)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        _background.add(task)
        task.add_done_callback(_background.discard)


_background: set[asyncio.Future[None]] = set()


class CustomerStreams:
    """One bus subscription for every customer socket of this process: each event goes to
    the sockets of its own customer (an index by organisation and customer), and to the
    wait hub; the cost of an event does not grow with the number of connected visitors."""

    def __init__(self, ctx: Context) -> None:
        self.waits = WaitHub(lambda org_id, views: refresh_views(ctx, org_id, views))
        self._sockets: dict[tuple[str, str], set[Subscription]] = {}
        self._subscription = ctx.bus.subscribe(self._route)

    def _route(self, event: DomainEvent) -> bool:
        """The bus's predicate, used as its dispatch: routes the event, queues nothing."""
        self.waits.on_event(event)
        customer_id = getattr(event, "customer_id", None)
        if customer_id:
            for subscription in tuple(self._sockets.get((event.org_id, customer_id), ())):
                subscription.offer(event)
        return False

    def subscribe(self, org_id: str, customer_id: str) -> Subscription:
        """The events of one customer, for one socket (closed by its reader on overflow)."""
        subscription = Subscription(_always)
        self._sockets.setdefault((org_id, customer_id), set()).add(subscription)
        return subscription

    def unsubscribe(self, org_id: str, customer_id: str, subscription: Subscription) -> None:
        subs = self._sockets.get((org_id, customer_id))
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._sockets[(org_id, customer_id)]

    def move(
        self, org_id: str, old_customer: str, new_customer: str, subscription: Subscription
    ) -> None:
        """The visitor turned out to be another customer (an identify merged them)."""
        if old_customer != new_customer:
            self.unsubscribe(org_id, old_customer, subscription)
            self._sockets.setdefault((org_id, new_customer), set()).add(subscription)


def _always(_event: DomainEvent) -> bool:
    return True


_streams: weakref.WeakKeyDictionary[Context, CustomerStreams] = weakref.WeakKeyDictionary()


def customer_streams(ctx: Context) -> CustomerStreams:
    """This process's customer streams (created on first use, one per context)."""
    streams = _streams.get(ctx)
    if streams is None:
        streams = _streams[ctx] = CustomerStreams(ctx)
    return streams
