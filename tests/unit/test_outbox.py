"""The desktop's outbox (realtime/outbox.py): sent from the dispatch when the socket can
take it; a socket whose client does not read delays no other, keeps its order, and is
closed once a whole backlog behind."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from threadline.events.bus import MemoryBus
from threadline.events.domain import PresenceChanged, QueueChanged, SessionEnded
from threadline.realtime.outbox import Outbox

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


class FakeSocket:
    """Records what is sent; while `gate` is clear, a send waits (a client not reading),
    as uvicorn's send waits for its transport to drain."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.gate = asyncio.Event()
        self.gate.set()
        self.suspended = 0

    async def send_text(self, text: str) -> None:
        if not self.gate.is_set():
            self.suspended += 1
            await self.gate.wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")

    def types(self) -> list[str]:
        return [
            json.loads(text)["type"] + ":" + json.loads(text).get("queue_id", "")
            for text in self.sent
        ]


def _queue(n: int) -> QueueChanged:
    return QueueChanged(org_id="org-a", queue_id=f"q{n}")


def _outbox(socket: FakeSocket, ends: bool = True, limit: int = 1000) -> Outbox:
    box = Outbox(socket, lambda _e: ends, limit)  # type: ignore[arg-type]
    box.release()
    return box


async def test_an_idle_socket_is_written_during_the_dispatch() -> None:
    bus = MemoryBus()
    sockets = [FakeSocket() for _ in range(3)]
    for socket in sockets:
        bus.subscribe(lambda e: True, [("org", "org-a", "queue.changed")], _outbox(socket).deliver)
    await bus.publish([_queue(1)])
    # no await in between: sent by the publish itself, one text for all
    assert [len(s.sent) for s in sockets] == [1, 1, 1]
    assert sockets[0].sent[0] is sockets[1].sent[0] is sockets[2].sent[0]


async def test_a_socket_that_does_not_read_delays_no_other_and_keeps_its_order() -> None:
    bus = MemoryBus()
    slow, fast = FakeSocket(), FakeSocket()
    slow.gate.clear()
    slow_box = _outbox(slow)
    for box in (slow_box, _outbox(fast)):
        bus.subscribe(lambda e: True, None, box.deliver)
    for n in range(5):
        await bus.publish([_queue(n)])
    assert len(fast.sent) == 5  # at once, while the slow one waits
    assert slow.sent == [] and slow.suspended == 1
    slow.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert slow.types() == fast.types() == [f"queue.changed:q{n}" for n in range(5)]
    await bus.publish([_queue(5)])  # idle again: straight from the dispatch
    assert len(slow.sent) == 6
    await slow_box.close()


async def test_a_socket_a_whole_backlog_behind_is_closed_4408() -> None:
    socket = FakeSocket()
    socket.gate.clear()
    box = _outbox(socket, limit=3)
    for n in range(10):
        box.deliver(_queue(n))
    assert box.overflowed
    socket.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert socket.closed == (4408, "too slow; reconnect")
    assert len(socket.sent) == 1  # the send that was waiting; the backlog is dropped
    box.deliver(_queue(11))
    assert len(socket.sent) == 1


async def test_a_session_end_closes_4401_after_what_came_before() -> None:
    socket = FakeSocket()
    box = _outbox(socket)
    box.deliver(PresenceChanged(org_id="org-a", agent_id="a", presence="away", at=AT))
    box.deliver(SessionEnded(org_id="org-a", agent_id="a", session_ids=["s"]))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(socket.sent) == 1
    assert socket.closed == (4401, "session ended; log in again")
    box.deliver(_queue(1))
    assert len(socket.sent) == 1


async def test_a_session_end_that_is_not_this_sockets_changes_nothing() -> None:
    socket = FakeSocket()
    box = _outbox(socket, ends=False)
    box.deliver(SessionEnded(org_id="org-a", agent_id="a", session_ids=["other"]))
    for _ in range(5):
        await asyncio.sleep(0)
    box.deliver(_queue(1))
    assert socket.closed is None and len(socket.sent) == 1


async def test_nothing_is_sent_before_the_hello_and_then_in_order() -> None:
    socket = FakeSocket()
    box = Outbox(socket, lambda _e: True)  # type: ignore[arg-type]
    box.deliver(_queue(1))
    box.deliver(_queue(2))
    assert socket.sent == []
    await socket.send_text('{"type":"hello"}')
    box.release()
    box.deliver(_queue(3))  # behind the two held ones, not before them
    for _ in range(10):
        await asyncio.sleep(0)
    assert socket.types() == ["hello:", "queue.changed:q1", "queue.changed:q2", "queue.changed:q3"]


async def test_a_failing_send_stops_the_outbox_and_not_the_dispatch() -> None:
    class Gone(FakeSocket):
        async def send_text(self, text: str) -> None:
            raise RuntimeError('Cannot call "send" once a close message has been sent.')

    bus = MemoryBus()
    gone, fine = Gone(), FakeSocket()
    gone_box = _outbox(gone)
    bus.subscribe(lambda e: True, None, gone_box.deliver)
    bus.subscribe(lambda e: True, None, _outbox(fine).deliver)
    await bus.publish([_queue(1), _queue(2)])
    assert gone_box.done
    assert len(fine.sent) == 2


async def test_closing_cancels_a_waiting_send() -> None:
    socket = FakeSocket()
    socket.gate.clear()
    box = _outbox(socket)
    box.deliver(_queue(1))
    await asyncio.sleep(0)
    await box.close()
    socket.gate.set()
    await asyncio.sleep(0)
    assert socket.sent == []
    tasks: Any = [t for t in asyncio.all_tasks() if "drain" in repr(t)]
    assert tasks == []
