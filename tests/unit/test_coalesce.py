"""Live "look again" signals are coalesced per key and window: the first at once, the latest
of a burst at the window's end, others untouched (events/coalesce.py)."""

from __future__ import annotations

import asyncio

import pytest

from threadline.events.bus import MemoryBus
from threadline.events.coalesce import Coalescer
from threadline.events.domain import DomainEvent, QueueChanged, ThreadChanged
from threadline.events.handlers import Handlers

pytestmark = pytest.mark.asyncio


def moved(thread_id: str, status: str, org_id: str = "o1") -> ThreadChanged:
    return ThreadChanged(
        org_id=org_id,
        thread_id=thread_id,
        status=status,
        assigned_agent_id=None,
        updated_at=status,
    )


async def test_a_burst_is_its_first_and_its_latest_signal() -> None:
    published: list[DomainEvent] = []

    async def publish(events: list[DomainEvent]) -> None:
        published.extend(events)

    coalescer = Coalescer(publish)
    window = ThreadChanged.coalesce_s
    queue = QueueChanged(org_id="o1", queue_id="q")
    now = coalescer.admit([moved("t1", "a"), queue, moved("t2", "a"), moved("t1", "b")])
    assert [(e.type, getattr(e, "thread_id", None)) for e in now] == [
        ("thread.changed", "t1"),
        ("queue.changed", None),
        ("thread.changed", "t2"),
    ]  # t1's second change is held
    assert coalescer.admit([moved("t1", "c")]) == []  # held: t1's window is open
    assert coalescer.admit([moved("t1", "x", org_id="o2")]) != []  # another organisation's
    await asyncio.sleep(window * 1.6)
    assert [(e.thread_id, e.status) for e in published if isinstance(e, ThreadChanged)] == [
        ("t1", "c")
    ]  # the latest of t1's burst, once; t2 had nothing more to say
    # the held signal opened the next window: one more change waits for its end
    assert coalescer.admit([moved("t1", "d")]) == []
    await asyncio.sleep(window * 1.6)
    assert [e.status for e in published if isinstance(e, ThreadChanged)] == ["c", "d"]
    # quiet long enough: the next change goes at once again
    await asyncio.sleep(window * 1.6)
    assert [e.status for e in coalescer.admit([moved("t1", "e")])] == ["e"]


async def test_the_desktops_bus_hears_a_busy_thread_once_per_window() -> None:
    bus = MemoryBus()
    heard: list[DomainEvent] = []
    bus.subscribe(lambda e: True, sink=heard.append)
    handlers = Handlers(bus)
    for n in range(20):
        await handlers.committed([moved("t1", str(n))])
    await asyncio.sleep(ThreadChanged.coalesce_s * 1.6)
    assert [e.status for e in heard if isinstance(e, ThreadChanged)] == ["0", "19"]
