"""Live waits: one view per customer, refreshed from its queue when the queue moves, sent
only to the sockets of customers who wait in it, and only when it changed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Hashable
from typing import Any

import pytest

from threadline.db import current_org, no_org, org_scope
from threadline.events.bus import MemoryBus
from threadline.events.domain import CallbackChanged, QueueChanged, TimelineEntryAdded
from threadline.journey import live
from threadline.journey.live import CustomerStreams, WaitHub
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import WaitState

ORG = "org-1"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "BATCH_S", 0.02)


class Customer:
    """A customer's wait as the database would tell it, counting its full computations."""

    def __init__(self, name: str, queue: str | None, position: int = 1) -> None:
        self.name, self.queue, self.position = name, queue, position
        self.computed = 0

    def view(self) -> CustomerWaitOut | None:
        if self.queue is None:
            return None
        return CustomerWaitOut(
            contact_id=f"contact-{self.name}", status="queued", position=self.position
        )

    async def compute(self) -> WaitState:
        self.computed += 1
        return WaitState(self.view(), frozenset({self.queue} if self.queue else ()))


class Refresher:
    """The batched refresh: records each call (one per organisation per round)."""

    def __init__(self, customers: dict[Hashable, Customer]) -> None:
        self.customers = customers
        self.calls: list[set[Hashable]] = []

    async def __call__(
        self, org_id: str, views: dict[Hashable, CustomerWaitOut]
    ) -> dict[Hashable, CustomerWaitOut | None]:
        self.calls.append(set(views))
        return {key: self.customers[key].view() for key in views}


class Socket:
    def __init__(self) -> None:
        self.frames: list[CustomerWaitOut | None] = []

    async def send(self, view: CustomerWaitOut | None) -> None:
        self.frames.append(view)


async def settle() -> None:
    await asyncio.sleep(live.BATCH_S * 5)


def queue_changed(queue: str) -> QueueChanged:
    return QueueChanged(org_id=ORG, queue_id=queue)


def entry(customer: str, kind: str) -> TimelineEntryAdded:
    return TimelineEntryAdded(
        org_id=ORG,
        thread_id="t",
        customer_id=customer,
        agent_id=None,
        internal=False,
        event={"kind": kind},
    )


async def _world() -> tuple[WaitHub, dict[Hashable, Customer], Refresher, dict[str, Socket]]:
    customers: dict[Hashable, Customer] = {
        "ana": Customer("ana", "q1"),
        "ben": Customer("ben", "q2"),
        "cy": Customer("cy", None),  # chatting with an agent: waits for nothing
    }
    refresher = Refresher(customers)
    hub = WaitHub(refresher)
    sockets = {name: Socket() for name in ("ana", "ana-phone", "ben", "cy")}
    for name, socket in sockets.items():
        key = name.split("-")[0]
        hub.watch(key, ORG, str(key), customers[key].compute, socket.send)
    await settle()
    return hub, customers, refresher, sockets


async def test_one_computation_per_customer_and_nothing_sent_to_who_waits_for_nothing() -> None:
    hub, customers, _, sockets = await _world()
    assert customers["ana"].computed == 1  # two sockets, one computation
    assert [f.position for f in sockets["ana"].frames if f] == [1]
    assert [f.position for f in sockets["ana-phone"].frames if f] == [1]
    assert sockets["cy"].frames == []  # not waiting: no frame at all
    assert hub.computed == 3


async def test_a_queue_change_refreshes_only_its_waiting_customers_once_per_batch() -> None:
    hub, customers, refresher, sockets = await _world()
    customers["ana"].position = 2
    for _ in range(5):  # a burst of changes: one round
        hub.on_event(queue_changed("q1"))
    await settle()
    assert refresher.calls == [{"ana"}]  # not ben (another queue), not cy (not waiting)
    assert [f.position for f in sockets["ana"].frames if f] == [1, 2]
    assert [f.position for f in sockets["ana-phone"].frames if f] == [1, 2]
    assert sockets["ben"].frames[-1] is not None and len(sockets["ben"].frames) == 1
    assert sockets["cy"].frames == []
    assert {c.computed for c in customers.values()} == {1}  # refreshed, not recomputed


async def test_an_unchanged_view_is_not_sent_again() -> None:
    hub, _, refresher, sockets = await _world()
    hub.on_event(queue_changed("q1"))
    await settle()
    assert refresher.calls == [{"ana"}]
    assert len(sockets["ana"].frames) == 1


async def test_a_contact_that_stops_waiting_is_computed_in_full_and_leaves_the_queue() -> None:
    hub, customers, refresher, sockets = await _world()
    customers["ana"].queue = None  # answered: the refresh says "compute it in full"
    hub.on_event(queue_changed("q1"))
    await settle()
    assert customers["ana"].computed == 2
    assert sockets["ana"].frames[-1] is None  # the wait is over: told once
    hub.on_event(queue_changed("q1"))  # no longer indexed under q1
    await settle()
    assert refresher.calls == [{"ana"}]


async def test_own_events_that_may_move_a_wait_recompute_it_but_chat_messages_do_not() -> None:
    hub, customers, _, sockets = await _world()
    hub.on_event(entry("cy", "message"))
    await settle()
    assert customers["cy"].computed == 1
    customers["cy"].queue = "q1"  # transferred back to a queue
    hub.on_event(entry("cy", "transferred"))
    await settle()
    assert customers["cy"].computed == 2
    assert [f.position for f in sockets["cy"].frames if f] == [1]
    hub.on_event(
        CallbackChanged(
            org_id=ORG,
            callback_id="cb",
            thread_id="t",
            customer_id="ben",
            status="requested",
            action="kept",
        )
    )
    await settle()
    assert customers["ben"].computed == 2


async def test_the_last_socket_leaving_forgets_the_view() -> None:
    hub = WaitHub()
    customer = Customer("ana", "q1")
    socket = Socket()
    watcher = hub.watch("ana", ORG, "ana", customer.compute, socket.send)
    await settle()
    hub.unwatch("ana", watcher)
    hub.on_event(queue_changed("q1"))
    await settle()
    assert customer.computed == 1


class _CountingBus(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.subscribed = 0

    def subscribe(self, predicate: Any) -> Any:
        self.subscribed += 1
        return super().subscribe(predicate)


class _Ctx:
    def __init__(self) -> None:
        self.bus = _CountingBus()


async def test_customer_streams_route_events_by_customer_through_one_subscription() -> None:
    ctx: Any = _Ctx()
    streams = CustomerStreams(ctx)
    ana = streams.subscribe(ORG, "ana")
    ben = streams.subscribe(ORG, "ben")
    assert ctx.bus.subscribed == 1  # one for the whole process, not one per socket
    await ctx.bus.publish([entry("ana", "message"), entry("ben", "message")])
    await ctx.bus.publish([dataclasses.replace(entry("ana", "message"), org_id="o2")])
    assert ana.queue.qsize() == 1 and ben.queue.qsize() == 1
    assert (await ana.queue.get()).customer_id == "ana"
    streams.move(ORG, "ana", "ben", ana)  # an identify merged ana into ben
    await ctx.bus.publish([entry("ben", "message")])
    assert ana.queue.qsize() == 1 and ben.queue.qsize() == 2
    streams.unsubscribe(ORG, "ben", ana)
    await ctx.bus.publish([entry("ben", "message")])
    assert ana.queue.qsize() == 1


async def test_a_view_that_fails_does_not_stop_the_others() -> None:
    hub, customers, _, sockets = await _world()

    async def broken() -> WaitState:
        raise LookupError("its contact is gone")

    hub.watch("gone", ORG, "gone", broken, Socket().send)
    customers["cy"].queue = "q1"
    hub.on_event(entry("cy", "transferred"))
    await settle()
    assert [f.position for f in sockets["cy"].frames if f] == [1]


async def test_each_view_is_computed_for_its_own_organisation_whoever_started_the_hub() -> None:
    """The hub's loop is started by the first socket (a request of one organisation) and
    serves every organisation: each computation and refresh runs for its view's own
    organisation, never for the one that happened to start the loop."""
    seen: dict[str, list[str | None]] = {"compute": [], "refresh": []}

    async def compute() -> WaitState:
        seen["compute"].append(current_org())
        view = CustomerWaitOut(contact_id=f"c-{current_org()}", status="queued", position=1)
        return WaitState(view, frozenset({"q1"}))

    async def refresh(
        org_id: str, views: dict[Hashable, CustomerWaitOut]
    ) -> dict[Hashable, CustomerWaitOut | None]:
        seen["refresh"].append(current_org())
        return dict(views)

    hub = WaitHub(refresh)
    with no_org():
        with org_scope("org-a"):  # the first socket's request starts the loop
            hub.watch("a", "org-a", "ana", compute, Socket().send)
        with org_scope("org-b"):
            hub.watch("b", "org-b", "boris", compute, Socket().send)
        await settle()
        hub.on_event(QueueChanged(org_id="org-b", queue_id="q1"))
        await settle()
    assert sorted(seen["compute"], key=str) == ["org-a", "org-b"]
    assert seen["refresh"] == ["org-b"]
