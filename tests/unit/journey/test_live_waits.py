"""Live waits: one view per customer, refreshed from its queue when the queue moves, sent
only to the sockets of customers who wait in it, and only when it changed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
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


# ---------------------------------------------------------------- gated views (the widget's)
def contact_event(kind: type[Any], customer: str, contact: str, queue: str = "q1") -> Any:
    facts = {
        "org_id": ORG,
        "contact_id": contact,
        "thread_id": f"t-{customer}",
        "customer_id": customer,
        "queue_id": queue,
        "channel": "chat",
    }
    if kind is live.ContactQueued:
        return kind(**facts)
    if kind is live.ContactOffered:
        return kind(**facts, agent_id="agent", offer_id="offer")
    if kind is live.ContactAccepted:
        return kind(**facts, agent_id="agent", agent_name="Ann", offer_id="offer", waited_s=3.0)
    if kind is live.ContactTransferred:
        return kind(**facts, from_agent_id="agent", to_agent_id=None, to_queue_id=queue)
    raise AssertionError(kind)


class Seeded:
    """Who waits when the first socket opens (what `waiting_now` reads), counting reads."""

    def __init__(self, contacts: list[tuple[str, str, str, str]]) -> None:
        self.contacts = contacts
        self.reads = 0

    async def __call__(self) -> live.Waiting:
        self.reads += 1
        return list(self.contacts), []


class FrameSocket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_frame(self, frame: str) -> None:
        self.frames.append(frame)


async def test_a_gated_socket_of_a_customer_who_waits_for_nothing_reads_nothing() -> None:
    ana = Customer("ana", "q1")
    nobody = Customer("cy", None)
    refresher = Refresher({"ana": ana, "cy": nobody})
    seed = Seeded([(ORG, "ana", "contact-ana", "q1")])
    hub = WaitHub(refresher, seed)
    sockets = {name: FrameSocket() for name in ("ana", "ana-tab", "cy")}
    for name, socket in sockets.items():
        key = name.split("-")[0]
        customer = ana if key == "ana" else nobody
        hub.watch(key, ORG, key, customer.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert seed.reads == 1  # once for the process, not per socket
    assert nobody.computed == 0 and sockets["cy"].frames == []
    assert ana.computed == 0  # filled by its queue's refresh, not computed on its own
    assert refresher.calls == [{"ana"}]
    frame = (
        '{"type":"wait","wait":'
        + CustomerWaitOut(contact_id="contact-ana", status="queued", position=1).model_dump_json()
        + "}"
    )
    assert sockets["ana"].frames == sockets["ana-tab"].frames == [frame]
    hub.on_event(entry("cy", "assigned"))  # a timeline entry: routing's events say it all
    await settle()
    assert nobody.computed == 0 and hub.computed == 0


async def test_a_gated_wait_follows_routing_events_without_computations() -> None:
    cy = Customer("cy", None)
    refresher = Refresher({"cy": cy})
    hub = WaitHub(refresher, Seeded([]))
    socket = FrameSocket()
    hub.watch("cy", ORG, "cy", cy.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert socket.frames == [] and refresher.calls == []
    cy.queue = "q1"  # their first message opened a contact: it waits in q1
    hub.on_event(contact_event(live.ContactQueued, "cy", "contact-cy"))
    hub.on_event(queue_changed("q1"))
    await settle()
    assert refresher.calls == [{"cy"}]  # one batched refresh for the queue's round
    assert [json.loads(f)["wait"]["position"] for f in socket.frames] == [1]
    cy.position = 2
    hub.on_event(queue_changed("q2"))  # another queue: nothing
    hub.on_event(queue_changed("q1"))
    await settle()
    assert [json.loads(f)["wait"]["position"] for f in socket.frames] == [1, 2]
    hub.on_event(contact_event(live.ContactAccepted, "cy", "contact-cy"))  # answered
    await settle()
    assert json.loads(socket.frames[-1]) == {"type": "wait", "wait": None}
    hub.on_event(queue_changed("q1"))  # no longer waiting in q1
    await settle()
    assert len(refresher.calls) == 2 and cy.computed == 0 and hub.computed == 0


async def test_events_that_arrive_while_the_seed_is_read_are_not_lost() -> None:
    ben = Customer("ben", "q1")
    refresher = Refresher({"ben": ben})
    hub: WaitHub

    async def seed() -> live.Waiting:
        # read before ben's contact was answered; the answer arrives during the read
        hub.on_event(contact_event(live.ContactAccepted, "ben", "contact-ben"))
        return [(ORG, "ben", "contact-ben", "q1")], []

    hub = WaitHub(refresher, seed)
    socket = FrameSocket()
    hub.watch("ben", ORG, "ben", ben.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert hub.index.contacts == {} and refresher.calls == [] and socket.frames == []


async def test_a_gated_customer_with_a_callback_is_computed_in_full() -> None:
    dee = Customer("dee", "q1")
    hub = WaitHub(Refresher({"dee": dee}), Seeded([]))
    socket = FrameSocket()
    hub.watch("dee", ORG, "dee", dee.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert dee.computed == 0
    hub.on_event(
        CallbackChanged(
            org_id=ORG,
            callback_id="cb",
            thread_id="t",
            customer_id="dee",
            status="scheduled",
            action="booked",
        )
    )
    await settle()
    assert dee.computed == 1 and len(socket.frames) == 1


async def test_a_gated_wait_moves_with_its_contact_to_another_queue() -> None:
    eve = Customer("eve", "q1")
    refresher = Refresher({"eve": eve})
    hub = WaitHub(refresher, Seeded([(ORG, "eve", "contact-eve", "q1")]))
    hub.watch("eve", ORG, "eve", eve.compute, send_frame=FrameSocket().send_frame, gated=True)
    await settle()
    hub.on_event(contact_event(live.ContactTransferred, "eve", "contact-eve", "q2"))
    await settle()
    refresher.calls.clear()
    hub.on_event(queue_changed("q1"))  # the queue it left: nothing
    await settle()
    assert refresher.calls == []
    hub.on_event(queue_changed("q2"))
    await settle()
    assert refresher.calls == [{"eve"}]


async def test_a_wait_that_ended_without_an_event_leaves_the_index_after_one_computation() -> None:
    fay = Customer("fay", None)  # storage: not waiting; the seed said otherwise (a lost event)
    refresher = Refresher({"fay": fay})
    hub = WaitHub(refresher, Seeded([(ORG, "fay", "contact-fay", "q1")]))
    socket = FrameSocket()
    watcher = hub.watch("fay", ORG, "fay", fay.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert fay.computed == 1 and socket.frames == []  # the refresh said "in full"
    assert hub.index.contacts == {}
    hub.unwatch("fay", watcher)
    hub.watch("fay", ORG, "fay", fay.compute, send_frame=socket.send_frame, gated=True)
    await settle()
    assert fay.computed == 1  # her next socket reads nothing
