"""The seam: typed domain events, handlers in or after the transaction, and durable
consumers reading the event log from their stored position (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from tests.conftest import eventually
from threadline.app import build_context, running
from threadline.config import Settings
from threadline.context import Context
from threadline.db import UnitOfWork
from threadline.events import log as event_log
from threadline.events.domain import (
    AgentChanged,
    ContactEvent,
    DomainEvent,
    PresenceChanged,
    QueueChanged,
    encode,
)
from threadline.events.handlers import Consumer
from threadline.events.models import EventConsumer, EventRecord
from threadline.orgs.services import do_create_org

pytestmark = pytest.mark.asyncio


async def wait_for(condition: Callable[[], bool], timeout: float = 8) -> None:
    async def check() -> bool:
        return condition()

    await eventually(check, timeout)


class Probe:
    """A consumer that remembers, after each commit, the events it handled."""

    def __init__(self, fail_on: set[str] | None = None, always_fail: set[str] | None = None):
        self.seen: list[str] = []
        self.fail_on = set(fail_on or ())  # fail once on these event ids
        self.always_fail = set(always_fail or ())

    async def __call__(self, uow: UnitOfWork, event: DomainEvent) -> None:
        if event.id in self.always_fail:
            raise RuntimeError("a poisoned event")
        if event.id in self.fail_on:
            self.fail_on.discard(event.id)
            raise RuntimeError("a passing failure")
        uow.after_commit(self._remember(event.id))

    def _remember(self, event_id: str):  # type: ignore[no-untyped-def]
        async def remember() -> None:
            self.seen.append(event_id)

        return remember


@pytest.fixture
async def org_id(settings: Settings) -> AsyncIterator[str]:
    ctx = build_context(settings)
    org = await do_create_org(ctx, f"org-{uuid.uuid4().hex[:6]}", "Events Ltd")
    await ctx.db.dispose()
    yield org.id


def _context(settings: Settings, probe: Probe | None, name: str = "probe") -> Context:
    ctx = build_context(settings)
    if probe is not None:
        ctx.handlers.consumer(name, probe, types=[AgentChanged])
    return ctx


async def _emit(ctx: Context, org_id: str, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        event = AgentChanged(org_id=org_id, agent_id=str(uuid.uuid4()))
        async with ctx.uow() as uow:
            uow.emit(event)
            uow.emit(QueueChanged(org_id=org_id, queue_id="q"))  # live only: never logged
        ids.append(event.id)
    return ids


async def test_events_round_trip_through_encode_and_the_log(
    settings: Settings, org_id: str
) -> None:
    ctx = _context(settings, None)
    event = PresenceChanged(
        org_id=org_id, agent_id="a1", presence="away", at=event_log.utcnow(), reason="missed_offer"
    )
    async with ctx.uow() as uow:
        uow.emit(event)
    async with ctx.db.sessions() as session:
        record = await session.scalar(select(EventRecord).where(EventRecord.id == event.id))
    assert record is not None and record.type == "agent.presence"
    assert record.data == encode(event)
    await ctx.db.dispose()


async def test_handlers_run_once_in_or_after_the_transaction(
    settings: Settings, org_id: str
) -> None:
    ctx = _context(settings, None)
    calls: list[tuple[str, bool, int]] = []

    async def logged(uow_or_none: UnitOfWork | None) -> int:
        async with ctx.db.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(EventRecord)) or 0)

    async def inside(uow: UnitOfWork, event: AgentChanged) -> None:
        calls.append(("in", uow.session.in_transaction(), await logged(uow)))
        if event.agent_id == "refuse":
            raise ValueError("refused by a handler that is part of the write")

    async def after(event: AgentChanged) -> None:
        calls.append(("after", False, await logged(None)))

    ctx.handlers.in_transaction(AgentChanged, inside)
    ctx.handlers.after_commit(AgentChanged, after)
    async with ctx.uow() as uow:
        uow.emit(AgentChanged(org_id=org_id, agent_id="a1"))
    # inside: in the transaction, before the log row is visible to others; after: committed
    assert calls == [("in", True, 0), ("after", False, 1)]

    calls.clear()
    with pytest.raises(ValueError):
        async with ctx.uow() as uow:
            uow.emit(AgentChanged(org_id=org_id, agent_id="refuse"))
    assert [c[0] for c in calls] == ["in"]  # no after-commit: nothing was committed
    assert await logged(None) == 1  # and the refused write's event is not in the log
    await ctx.db.dispose()


async def test_a_stopped_consumer_catches_up_with_none_missed_and_none_twice(
    settings: Settings, org_id: str
) -> None:
    probe = Probe()
    ctx = _context(settings, probe)
    emitted: list[str] = []
    async with running(ctx):
        emitted += await _emit(ctx, org_id, 20)
        await wait_for(lambda: len(probe.seen) == 20, timeout=10)
        # long enough that the consumer is stopped inside it, however fast the writes are
        # (a stop lets the batch in hand, up to 200 events, finish)
        burst = asyncio.create_task(_emit(ctx, org_id, 600))
        await wait_for(lambda: len(probe.seen) >= 40, timeout=10)
        await ctx.consumers.stop()  # the consumer goes down in the middle of the burst
        emitted += await burst
    stopped_at = len(probe.seen)
    assert stopped_at < len(emitted)

    # a new process (same database, same consumer name) picks up from the stored position;
    # the first event it reads fails once: the batch is rolled back and retried
    assert probe.seen == emitted[:stopped_at]
    probe.fail_on = {emitted[stopped_at + 3]}
    again = _context(settings, probe)
    async with running(again):
        await wait_for(lambda: len(probe.seen) == len(emitted), timeout=20)
        await asyncio.sleep(0.3)  # nothing more arrives
    assert probe.seen == emitted
    assert not probe.fail_on
    await ctx.db.dispose()


async def test_consumers_on_two_nodes_share_the_log_exactly_once(
    settings: Settings, org_id: str
) -> None:
    """Two processes run the same consumer against one database while four writers emit:
    together they handle every event once (on PostgreSQL the consumer's row is claimed with
    SKIP LOCKED; on SQLite the single writer serialises them)."""
    probe = Probe()
    nodes = [_context(settings, probe), _context(settings, probe)]
    async with running(nodes[0]), running(nodes[1]):
        writers = [_emit(nodes[i % 2], org_id, 40) for i in range(4)]
        emitted = [e for batch in await asyncio.gather(*writers) for e in batch]
        await wait_for(lambda: len(probe.seen) >= len(emitted), timeout=30)
        await asyncio.sleep(0.5)
    counts = Counter(probe.seen)
    assert set(counts) == set(emitted)
    assert max(counts.values()) == 1


async def test_log_positions_follow_commit_order(settings: Settings, org_id: str) -> None:
    """Concurrent writers: a reader that saw position N never finds a smaller one later."""
    ctx = _context(settings, None)
    stop = asyncio.Event()
    late: list[int] = []

    async def reader() -> None:
        highest = 0
        seen: set[int] = set()
        while not stop.is_set():
            async with ctx.db.sessions() as session:
                positions = list(await session.scalars(select(EventRecord.position)))
            for position in positions:
                if position not in seen and position < highest:
                    late.append(position)
                seen.add(position)
            highest = max(positions, default=0)
            await asyncio.sleep(0)

    watching = asyncio.create_task(reader())
    await asyncio.gather(*(_emit(ctx, org_id, 30) for _ in range(6)))
    stop.set()
    await watching
    assert late == []
    await ctx.db.dispose()


async def test_a_poisoned_event_is_set_aside_and_the_consumer_goes_on(
    settings: Settings, org_id: str
) -> None:
    ctx = _context(settings, None)
    ids = await _emit(ctx, org_id, 5)
    probe = Probe(always_fail={ids[1]})
    ctx.handlers.consumer("probe", probe, types=[AgentChanged])
    await ctx.consumers.ensure_positions()
    for _ in range(event_log.MAX_FAILURES + 3):
        with contextlib.suppress(RuntimeError):
            await ctx.consumers.run_once("probe")
    assert probe.seen == [ids[0], ids[2], ids[3], ids[4]]
    async with ctx.db.sessions() as session:
        state = await session.get(EventConsumer, "probe")
    assert state is not None and ids[1] in (state.last_error or "")
    await ctx.db.dispose()


async def test_handled_events_are_pruned_after_the_retention(
    settings: Settings, org_id: str
) -> None:
    probe = Probe()
    ctx = _context(settings, probe)
    await _emit(ctx, org_id, 3)
    await ctx.consumers.ensure_positions()
    assert await ctx.consumers.prune() == 0  # not yet handled
    for name in ctx.handlers.consumers:  # every consumer, not only ours, has handled them
        while await ctx.consumers.run_once(name):
            pass
    assert await ctx.consumers.prune() == 0  # handled, but younger than the retention
    ctx.consumers._retention = event_log.timedelta(0)
    assert await ctx.consumers.prune() >= 3
    await ctx.db.dispose()


async def test_two_nodes_starting_together_share_one_position(
    settings: Settings, org_id: str
) -> None:
    nodes = [_context(settings, Probe()), _context(settings, Probe())]
    await asyncio.gather(*(node.consumers.ensure_positions() for node in nodes))
    async with nodes[0].db.sessions() as session:
        names = list(await session.scalars(select(EventConsumer.name)))
    assert "probe" in names and len(names) == len(set(names))
    for node in nodes:
        await node.db.dispose()


async def test_a_consumer_reads_and_decodes_only_the_types_it_wants_in_windows(
    settings: Settings, org_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small windows and batches, so that a few events cross several of each
    monkeypatch.setattr(event_log, "SCAN", 4)
    monkeypatch.setattr(event_log, "BATCH", 2)
    decoded: list[str] = []
    real_decode = event_log.decode

    def counting_decode(data: dict[str, object]) -> DomainEvent:
        decoded.append(str(data["type"]))
        return real_decode(data)

    monkeypatch.setattr(event_log, "decode", counting_decode)
    ctx = _context(settings, None)
    wanted: list[str] = []
    for i in range(13):  # runs of other events longer than a window, and wanted ones close
        if i in (0, 6, 7, 8, 12):
            event: DomainEvent = PresenceChanged(
                org_id=org_id, agent_id=f"a{i}", presence="away", at=event_log.utcnow()
            )
            wanted.append(event.id)
        else:
            event = AgentChanged(org_id=org_id, agent_id=f"a{i}")
        async with ctx.uow() as uow:
            uow.emit(event)
    probe = Probe()
    ctx.handlers.consumer("picky", probe, types=[PresenceChanged])
    await ctx.consumers.ensure_positions()
    moved = []
    while n := await ctx.consumers.run_once("picky"):
        moved.append(n)
    # each once, in log order (the log may hold other tests' events before these)
    assert len(probe.seen) == len(set(probe.seen))
    assert [e for e in probe.seen if e in wanted] == wanted
    # only the wanted type was read and decoded, once per event handled
    assert set(decoded) == {"agent.presence"} and len(decoded) == len(probe.seen)
    assert sum(moved) >= 13 and len(moved) >= 4  # several windows and batches
    async with ctx.db.sessions() as session:
        state = await session.get(EventConsumer, "picky")
        top = await session.scalar(select(func.max(EventRecord.position)))
    assert state is not None and state.position == top  # past the trailing other events

    # a later wanted event, and nothing read twice
    late = PresenceChanged(org_id=org_id, agent_id="late", presence="away", at=event_log.utcnow())
    async with ctx.uow() as uow:
        uow.emit(late)
    while await ctx.consumers.run_once("picky"):
        pass
    assert probe.seen[-1] == late.id and len(probe.seen) == len(set(probe.seen))
    # a family of events names each of its members
    names = ctx.consumers._wanted_names(Consumer("family", probe, frozenset({ContactEvent})))
    assert names is not None and "contact.resolved" in names and "agent.changed" not in names
    await ctx.db.dispose()


async def test_a_consumer_lingers_for_a_burst_but_not_over_an_urgent_event(
    settings: Settings, org_id: str
) -> None:
    """Each batch is a write transaction: a burst is read as one, unless an event someone
    waits on (the bot's chats) comes, which is read at once."""
    seen: list[tuple[float, str]] = []
    batches: list[int] = []

    async def handle(uow: UnitOfWork, event: AgentChanged) -> None:
        seen.append((asyncio.get_running_loop().time(), event.agent_id))

    async def prepare(uow: UnitOfWork, events: list[AgentChanged]) -> None:
        batches.append(len(events))

    ctx = build_context(settings)
    ctx.handlers.consumer(
        "patient",
        handle,
        types=[AgentChanged],
        prepare=prepare,
        linger_s=4.0,
        urgent=lambda e: e.agent_id.startswith("urgent"),
    )
    async with running(ctx):
        await asyncio.sleep(0.3)  # its first (empty) batch is behind it
        start = asyncio.get_running_loop().time()
        for n in range(10):
            async with ctx.uow() as uow:
                uow.emit(AgentChanged(org_id=org_id, agent_id=f"calm-{n}"))
        async with ctx.uow() as uow:
            uow.emit(AgentChanged(org_id=org_id, agent_id="urgent-1"))
        await wait_for(lambda: len(seen) == 11, timeout=10)
    assert [a for _t, a in seen] == [f"calm-{n}" for n in range(10)] + ["urgent-1"]
    assert seen[-1][0] - start < 2.5  # not after the 4 s linger
    assert len(batches) <= 3  # the burst and its urgent tail, not one batch per commit
    await ctx.db.dispose()
