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
* changes are coalesced for BATCH_S, then each marked view is computed once, serialised
  once, and sent to the sockets whose last view differs;
* a waiting view drifts with time alone: it is recomputed every REFRESH_S; a customer who
  waits for nothing costs nothing until their next event.

The chat widget's views are *gated* by `WaitingIndex`: who waits (a queued or offered
contact, an open callback), read once when the first socket opens and then kept from
routing's and callbacks' domain events. A gated view is computed only while its customer
waits: a socket of a customer who waits for nothing never triggers a read; a contact that
starts waiting joins its queue's batched refresh (no computation of its own); one that is
answered or leaves is told `null` from the event alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from threadline.context import Context, per_context
from threadline.db import across_orgs, no_org, org_scope
from threadline.events.bus import Subscription
from threadline.events.domain import (
    AgentWrapupEnded,
    AgentWrapupStarted,
    CallbackChanged,
    ContactAbandoned,
    ContactAccepted,
    ContactEnded,
    ContactEvent,
    ContactOffered,
    ContactQueued,
    ContactRefiled,
    ContactResolved,
    ContactTakenOver,
    ContactTransferred,
    DomainEvent,
    PresenceChanged,
    QueueChanged,
    TimelineEntryAdded,
)
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import OPEN_CALLBACKS, WaitState, refresh_views, waiting_now

log = structlog.get_logger(__name__)
BATCH_S = 0.5
REFRESH_S = 20.0
CONCURRENCY = 4  # views recomputed at once (each is a few reads)
SEND_TIMEOUT_S = 10.0
CUSTOMER_EVENTS = (TimelineEntryAdded, CallbackChanged)
# timeline entries that never move a wait: what is said in the thread, not where it stands
WAIT_NEUTRAL = frozenset({"message", "note", "reaction", "edit"})

# routing's events that leave a contact waiting (queued, or offered to an agent) or not
WAITS = (ContactQueued, ContactOffered, ContactTransferred, ContactRefiled)
DONE = (
    ContactAccepted,
    ContactAbandoned,
    ContactResolved,
    ContactEnded,
    ContactTakenOver,
    AgentWrapupStarted,
    AgentWrapupEnded,
)

Send = Callable[[CustomerWaitOut | None], Awaitable[None]]
SendFrame = Callable[[str], Awaitable[None]]  # the `wait` frame, serialised once per change
Compute = Callable[[], Awaitable[WaitState]]
Who = tuple[str, str]  # (organisation, customer)
# ([(org, customer, contact, queue)] waiting, oldest first; [(org, customer, callback)] open)
Waiting = tuple[list[tuple[str, str, str, str]], list[tuple[str, str, str]]]
Seed = Callable[[], Awaitable[Waiting]]
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


def wait_frame(view: CustomerWaitOut | None) -> str:
    """The socket's `wait` frame, as Starlette's send_json would write it."""
    data = {"type": "wait", "wait": view.model_dump(mode="json") if view else None}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


class WaitingIndex:
    """Who waits, per customer: their waiting contacts (with the queue) and open callbacks.

    Read once (`seed`), then kept from domain events; the events that arrive while the
    seed is read are applied after it, in order, so none is lost to the race."""

    def __init__(self) -> None:
        self.contacts: dict[Who, dict[str, str]] = {}  # contact id -> queue id, oldest first
        self.callbacks: dict[Who, set[str]] = {}
        self.seeded = False
        self.seeding = False  # the seed is being read: events are held until it is in
        self._held: list[DomainEvent] = []

    def load(self, seed: Waiting) -> None:
        contacts, callbacks = seed
        self.contacts.clear()
        self.callbacks.clear()
        for org_id, customer_id, contact_id, queue_id in contacts:
            self.contacts.setdefault((org_id, customer_id), {})[contact_id] = queue_id
        for org_id, customer_id, callback_id in callbacks:
            self.callbacks.setdefault((org_id, customer_id), set()).add(callback_id)
        self.seeded, self.seeding = True, False
        held, self._held = self._held, []
        for event in held:
            self.apply(event)

    def forget(self, who: Who, contacts: dict[str, str], callbacks: set[str]) -> None:
        """A full computation found nothing to wait for: what was indexed before it
        started is not waiting (an end the events did not tell)."""
        for contact_id in contacts:
            self._pop(self.contacts, who, contact_id)
        for callback_id in callbacks:
            self._put(self.callbacks, who, callback_id, present=False)

    @staticmethod
    def _pop(index: dict[Who, dict[str, str]], who: Who, contact_id: str) -> None:
        waiting = index.get(who)
        if waiting is not None:
            waiting.pop(contact_id, None)
            if not waiting:
                del index[who]

    def failed(self) -> None:
        self.seeding = False
        self._held.clear()

    def apply(self, event: DomainEvent) -> Who | None:
        """Note what the event changes; returns whose waiting it may have changed."""
        if not isinstance(event, ContactEvent | CallbackChanged):
            return None
        if not self.seeded:
            if self.seeding:  # it may have been read before or after this event: apply it after
                self._held.append(event)
            return None  # the seed, read later, will include it
        who = (event.org_id, event.customer_id)
        if isinstance(event, CallbackChanged):
            self._put(
                self.callbacks, who, event.callback_id, present=event.status in OPEN_CALLBACKS
            )
        elif isinstance(event, WAITS):
            contacts = self.contacts.setdefault(who, {})
            contacts.pop(event.contact_id, None)  # the latest is the newest
            contacts[event.contact_id] = event.queue_id
        elif isinstance(event, DONE):
            self._pop(self.contacts, who, event.contact_id)
        else:
            return None
        return who

    @staticmethod
    def _put(index: dict[Who, set[str]], who: Who, item: str, *, present: bool) -> None:
        items = index.setdefault(who, set())
        if present:
            items.add(item)
        else:
            items.discard(item)
        if not items:
            del index[who]


@dataclass(eq=False)
class _Watcher:
    send: Send | None
    send_frame: SendFrame | None = None
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
    gated: bool = False  # computed only while its customer waits (WaitingIndex)
    contact_id: str | None = None  # gated: the contact it waits with, when known

    @property
    def timed(self) -> bool:
        return bool(self.queues) or self.retry


class WaitHub:
    """The live waits of one process: computed once per view, pushed on change."""

    def __init__(self, refresh: Refresh | None = None, seed: Seed | None = None) -> None:
        self._refresh = refresh
        self._seed = seed
        self.index = WaitingIndex()
        if seed is None:
            self.index.seeded = True  # nothing to read: every wait starts from its events
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
        self,
        key: Hashable,
        org_id: str,
        customer_id: str,
        compute: Compute,
        send: Send | None = None,
        *,
        send_frame: SendFrame | None = None,
        gated: bool = False,
    ) -> _Watcher:
        """Show the view `key` (computed by `compute`, the same for every socket with that
        key) on one socket; `send` gets each changed view (or `send_frame` its serialised
        `wait` frame), the first at once. A `gated` view is computed only while its
        customer waits (the index says so): else nothing is read, nothing sent."""
        view = self._views.get(key)
        new = view is None
        if view is None:
            view = self._views[key] = _View(key, org_id, customer_id, compute, gated=gated)
            self._by_customer.setdefault((org_id, customer_id), set()).add(key)
        watcher = _Watcher(send, send_frame)
        view.watchers.add(watcher)
        if view.state is not None and view.state.view is not None:
            self._spawn(self._send(watcher, view.state.view, wait_frame(view.state.view)))
        elif view.gated:
            if new and self.index.seeded:
                self._settle(view)
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
        who = self.index.apply(event)
        if isinstance(event, QueueChanged):
            keys = self._by_queue.get((event.org_id, event.queue_id), ())
            if keys:
                self._moved.update(keys)
                self._wake.set()
        elif isinstance(event, PresenceChanged):
            # an agent came or went: every wait of the organisation may move (a batch)
            for (org_id, _queue), keys in self._by_queue.items():
                if org_id == event.org_id:
                    self._moved.update(keys)
                    self._wake.set()
        customer_id = getattr(event, "customer_id", None)
        if not customer_id:
            return
        keys = self._by_customer.get((event.org_id, customer_id), ())
        for key in tuple(keys):
            view = self._views[key]
            if not view.gated:
                if moves_wait(event):
                    self._mark({key})
            elif who is not None:
                self._settle(view)

    def _settle(self, view: _View) -> None:
        """What a gated view needs now that its customer's waiting is known: nothing read
        when they wait for nothing (told `null` if they were shown a wait), the queue's
        batched refresh for one waiting contact, a full computation for a callback."""
        who = (view.org_id, view.customer_id)
        contacts = self.index.contacts.get(who)
        if who in self.index.callbacks or (contacts and len(contacts) > 1):
            self._mark({view.key})
        elif contacts:
            [(contact_id, queue_id)] = contacts.items()
            if view.contact_id != contact_id:
                # a new contact: its place, range and offer come with its queue's refresh
                view.contact_id, view.state = contact_id, None
            self._requeue(view, frozenset({(view.org_id, queue_id)}))  # transferred: moved
            self._moved.add(view.key)
            self._wake.set()
        else:
            view.contact_id = None
            self._dirty.discard(view.key)
            self._moved.discard(view.key)
            self._requeue(view, frozenset())
            view.state = WaitState(None, frozenset())
            self._spawn(self._publish(view, None))

    def _requeue(self, view: _View, queues: frozenset[tuple[str, str]]) -> None:
        """File the view under exactly these queues."""
        for queue in view.queues - queues:
            self._unindex(self._by_queue, queue, view.key)
        for queue in queues - view.queues:
            self._by_queue.setdefault(queue, set()).add(view.key)
        view.queues = queues

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

    async def _seed_index(self) -> None:
        """Read who waits, once, then settle the gated views that opened meanwhile."""
        if self.index.seeded or self._seed is None:
            return
        self.index.seeding = True
        try:
            with across_orgs():  # every organisation's waits, in one read
                self.index.load(await self._seed())
        except BaseException as exc:  # retried next round; meanwhile each gated view is computed
            self.index.failed()
            if not isinstance(exc, Exception):
                raise  # cancelled: nobody is watching any more
            log.warning("live.wait_seed_failed", exc_info=True)
            self._mark({k for k, v in self._views.items() if v.gated})
            return
        for view in tuple(self._views.values()):
            if view.gated:
                self._settle(view)

    async def _run(self) -> None:
        while self._views:
            await self._seed_index()
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
            if shown is None and view.gated and view.contact_id:
                shown = CustomerWaitOut(contact_id=view.contact_id)  # new: filled in full
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
                if view is None or (view.state is None and not view.gated):
                    continue
                if new is None:
                    full.add(key)
                    continue
                self.refreshed += 1
                queue_ids = frozenset(queue for _org, queue in view.queues)
                view.state = WaitState(new, queue_ids)
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
        who = (view.org_id, view.customer_id)
        indexed = (dict(self.index.contacts.get(who, {})), set(self.index.callbacks.get(who, ())))
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
        if view.gated and state.view is None:
            self.index.forget(who, *indexed)  # what storage says ended without an event
        if self._views.get(key) is not view:
            return  # every socket left meanwhile
        view.state, view.retry = state, False
        queues = frozenset((view.org_id, q) for q in state.queue_ids) if state.view else frozenset()
        self._requeue(view, queues)
        if view.gated:
            view.contact_id = state.view.contact_id if state.view else None
        view.due = time.monotonic() + REFRESH_S
        await self._publish(view, state.view)

    async def _publish(self, view: _View, shown: CustomerWaitOut | None) -> None:
        frame: str | None = None  # serialised once, for every socket that shows the view
        for watcher in tuple(view.watchers):
            if watcher.last is _UNSENT and shown is None:
                watcher.last = None  # nothing to wait for: the first view is not sent
            elif watcher.last != shown:
                watcher.last = shown
                if frame is None:
                    frame = wait_frame(shown)
                # not awaited here: one slow socket must not hold back everyone's waits
                self._spawn(self._send(watcher, shown, frame))

    async def _send(self, watcher: _Watcher, view: CustomerWaitOut | None, frame: str) -> None:
        watcher.last = view
        with contextlib.suppress(Exception):  # a closed socket: its handler unwatches it
            if watcher.send_frame is not None:
                await asyncio.wait_for(watcher.send_frame(frame), SEND_TIMEOUT_S)
            elif watcher.send is not None:
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
        self.waits = WaitHub(
            lambda org_id, views: refresh_views(ctx, org_id, views), lambda: waiting_now(ctx)
        )
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


# this process's customer streams (created on first use, one per context)
customer_streams = per_context(CustomerStreams)
