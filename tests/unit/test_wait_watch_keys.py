"""The wait watch (journey/live.py) on the indexed bus: filed under its customer and the
queues it waits in, and filed again when either changes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from threadline.events.bus import MemoryBus, customer_key, queue_key
from threadline.events.domain import QueueChanged
from threadline.journey.live import WaitWatch


async def test_a_wait_watch_follows_its_customer_and_queues() -> None:
    """The chat widget's wait: filed under its customer (and, once known, the queues it
    waits in); after an identify merged the visitor, under the customer they became."""
    bus = MemoryBus()
    ctx: Any = SimpleNamespace(bus=bus)
    state = {"customer_id": "cu-1"}
    watch = WaitWatch(ctx, "org-a", lambda: state["customer_id"])
    sub = watch._subscription
    assert sub.keys == {customer_key("org-a", "cu-1")}
    watch._queues = frozenset({"qu-1"})
    watch.follow()
    assert sub.keys == {customer_key("org-a", "cu-1"), queue_key("org-a", "qu-1")}
    state["customer_id"] = "cu-2"
    watch.follow()
    assert sub.keys == {customer_key("org-a", "cu-2"), queue_key("org-a", "qu-1")}
    await bus.publish(
        [
            QueueChanged(org_id="org-a", queue_id="qu-1"),
            QueueChanged(org_id="org-a", queue_id="qu-2"),
            QueueChanged(org_id="org-b", queue_id="qu-1"),
        ]
    )
    got = []
    while not sub.queue.empty():
        got.append(sub.queue.get_nowait())
    assert [e.queue_id for e in got] == ["qu-1"]  # type: ignore[attr-defined]
    watch.close()
    assert bus._index == {}
