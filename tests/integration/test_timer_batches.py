"""The timer worker under load: one query claims a batch, several workers share the due
timers without firing one twice, a worker that dies mid-batch leaves its timers to be
fired exactly once by the next, and neither a failing timer nor timers of a kind this node
does not handle hold the others back; the worker wakes when the next timer is due, not at
its polling interval. SQLite and PostgreSQL.

Each test drives its own TimerWorker with a kind only it handles, so the context's running
worker (which claims only the kinds it has handlers for) leaves these timers alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text

from tests.conftest import World, eventually, make_world
from threadline.config import Settings
from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.orgs.models import AuditEntry
from threadline.workers import timers
from threadline.workers.models import Timer


async def _schedule(ctx: Context, org_id: str, kind: str, refs: list[str], due_in_s: float) -> None:
    due = utcnow() + timedelta(seconds=due_in_s)
    async with ctx.uow() as uow:
        for i, ref in enumerate(refs):  # distinct due times: the claim takes the oldest first
            timers.schedule(uow.session, org_id, kind, ref, due + timedelta(microseconds=i))


async def _effects(ctx: Context, action: str) -> Counter[str]:
    """The committed effects, by timer reference: each must appear exactly once."""
    async with ctx.db.sessions() as session:
        return Counter(
            await session.scalars(select(AuditEntry.target).where(AuditEntry.action == action))
        )


async def _timers(ctx: Context, kind: str) -> list[Timer]:
    async with ctx.db.sessions() as session:
        return list(await session.scalars(select(Timer).where(Timer.kind == kind)))


def _effect(world: World, action: str, timer: Timer) -> AuditEntry:
    return AuditEntry(org_id=world.org_id, action=action, target=timer.ref_id)


async def test_due_timers_fire_in_batches_each_once(ctx: Context) -> None:
    world = await make_world(ctx)
    worker = timers.TimerWorker(ctx, poll_s=30, lanes=1)  # the batches' sizes in order
    batches: Counter[int] = Counter()
    alive: list[UnitOfWork] = []  # held, so no two transactions share an id()

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        if id(uow) not in batches:
            alive.append(uow)
        batches[id(uow)] += 1
        uow.session.add(_effect(world, "t.batch", timer))

    worker.register("t_batch", fire)
    refs = [f"r{i}" for i in range(timers.BATCH + timers.BACKLOG_BATCH + 50)]
    await _schedule(ctx, world.org_id, "t_batch", refs, -1)
    await _schedule(ctx, world.org_id, "t_batch", ["later"], 3600)

    assert await worker.fire_due() == len(refs)
    # a transaction per batch, not one per timer: BATCH first, then (a backlog) bigger ones
    assert sorted(batches.values()) == [50, timers.BATCH, timers.BACKLOG_BATCH]
    assert await _effects(ctx, "t.batch") == Counter(refs)
    stored = {t.ref_id: t for t in await _timers(ctx, "t_batch")}
    assert all(stored[r].fired_at is not None and stored[r].attempts == 1 for r in refs)
    assert stored["later"].fired_at is None
    assert await worker.fire_due() == 0  # nothing due is left, nothing fires again


async def test_workers_side_by_side_never_fire_a_timer_twice(ctx: Context) -> None:
    """Two workers (two nodes) claim at the same moment: SKIP LOCKED on PostgreSQL gives
    each its own timers, SQLite's single writer takes them in turn."""
    world = await make_world(ctx)
    workers = [timers.TimerWorker(ctx, poll_s=30) for _ in range(2)]

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(_effect(world, "t.shared", timer))
        await asyncio.sleep(0)  # let the other worker claim meanwhile

    for worker in workers:
        worker.register("t_shared", fire)
    refs = [f"s{i}" for i in range(400)]
    await _schedule(ctx, world.org_id, "t_shared", refs, -1)

    fired = await asyncio.gather(*(w.fire_due() for w in workers))
    assert sum(fired) == 400
    assert await _effects(ctx, "t.shared") == Counter(refs)
    assert all(t.attempts == 1 for t in await _timers(ctx, "t_shared"))


async def test_a_worker_dying_mid_batch_leaves_its_timers_to_fire_exactly_once(
    ctx: Context,
) -> None:
    """The claim is held by the firing transaction: a worker that dies with a batch half
    done (its effects written, nothing committed) loses it with its connection, and the
    next worker fires every timer once; nothing of the dead one's work remains."""
    world = await make_world(ctx)
    claimed, never = asyncio.Event(), asyncio.Event()
    backend_pid: list[int] = []

    async def hang(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(_effect(world, "t.crash", timer))
        await uow.session.flush()  # the effect is written, in a transaction never committed
        if not claimed.is_set():
            if uow.row_locks:
                backend_pid.append(int(await uow.session.scalar(text("SELECT pg_backend_pid()"))))
            claimed.set()
            await never.wait()

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(_effect(world, "t.crash", timer))

    dying = timers.TimerWorker(ctx, poll_s=30)
    dying.register("t_crash", hang)
    survivor = timers.TimerWorker(ctx, poll_s=30)
    survivor.register("t_crash", fire)
    refs = [f"c{i}" for i in range(50)]
    await _schedule(ctx, world.org_id, "t_crash", refs, -1)

    task = asyncio.create_task(dying.fire_due())
    await asyncio.wait_for(claimed.wait(), 10)
    if backend_pid:
        # PostgreSQL: the batch is held, another worker skips it rather than wait
        assert await survivor.fire_due() == 0
        async with ctx.db.sessions() as session:  # the process dies: its connection drops
            await session.execute(text(f"SELECT pg_terminate_backend({backend_pid[0]})"))
    else:
        # SQLite: the one writer's transaction ends uncommitted, as when the process dies
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    total = 0

    async def all_fired() -> bool:  # the dead backend's locks go when it has exited
        nonlocal total
        total += await survivor.fire_due()
        return total >= 50

    await eventually(all_fired)
    assert total == 50
    assert await _effects(ctx, "t.crash") == Counter(refs)
    stored = await _timers(ctx, "t_crash")
    assert all(t.fired_at is not None and t.attempts == 1 for t in stored)
    assert await survivor.fire_due() == 0
    if backend_pid:
        # the frozen worker wakes on a dead connection: its batch fails, and fired one by
        # one again, every timer is found fired already
        never.set()
        assert await asyncio.wait_for(task, 20) == 0
        assert await _effects(ctx, "t.crash") == Counter(refs)


async def test_a_failing_timer_and_unhandled_kinds_do_not_hold_back_the_rest(
    ctx: Context,
) -> None:
    """The oldest due timers are a poisoned one and more of a kind this node has no handler
    for than a batch holds: the good ones still fire in the same round, the poisoned one is
    postponed (retried later, alone), the unhandled ones wait for a node that handles them."""
    world = await make_world(ctx)
    worker = timers.TimerWorker(ctx, poll_s=30)

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(_effect(world, "t.good", timer))

    async def poisoned(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(_effect(world, "t.poisoned", timer))
        raise RuntimeError("poisoned")

    worker.register("t_good", fire)
    worker.register("t_poisoned", poisoned)
    await _schedule(ctx, world.org_id, "t_elsewhere", [f"e{i}" for i in range(150)], -30)
    await _schedule(ctx, world.org_id, "t_poisoned", ["p"], -20)
    good = [f"g{i}" for i in range(150)]
    await _schedule(ctx, world.org_id, "t_good", good, -10)

    started = utcnow()
    assert await worker.fire_due() == 150
    assert await _effects(ctx, "t.good") == Counter(good)
    # postponed with a growing delay (on a slow machine it may be due again within the
    # round, and fail again), never fired, nothing of it committed
    [bad] = await _timers(ctx, "t_poisoned")
    assert bad.fired_at is None and bad.attempts >= 1 and bad.due_at > started
    assert not await _effects(ctx, "t.poisoned")
    assert all(t.fired_at is None for t in await _timers(ctx, "t_elsewhere"))
    assert await worker.fire_due() == 0
    assert await _effects(ctx, "t.good") == Counter(good)


async def test_the_worker_wakes_when_the_next_timer_is_due_not_at_its_poll(ctx: Context) -> None:
    """With a polling interval far longer than the test, a timer due in a moment fires when
    it is due, and one written while the worker sleeps fires once it is woken."""
    world = await make_world(ctx)
    worker = timers.TimerWorker(ctx, poll_s=600)
    fired: dict[str, float] = {}

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        fired[timer.ref_id] = asyncio.get_running_loop().time()

    worker.register("t_wake", fire)
    await _schedule(ctx, world.org_id, "t_wake", ["soon"], 0.5)
    await worker.start()
    try:
        await eventually(lambda: _async(fired.get("soon")), timeout=10)
        await asyncio.sleep(0.2)  # asleep now, for up to the poll interval
        await _schedule(ctx, world.org_id, "t_wake", ["written"], -1)
        worker.wake()
        await eventually(lambda: _async(fired.get("written")), timeout=10)
    finally:
        await worker.stop()
    [soon] = [t for t in await _timers(ctx, "t_wake") if t.ref_id == "soon"]
    assert soon.fired_at is not None and soon.fired_at >= soon.due_at


async def _async(value: float | None) -> float | None:
    return value


# A node in its own process: it claims the due timers of kind t_kill9, writes the first
# one's effect (flushed, not committed), touches the marker file and hangs there.
_DYING_NODE = """
import asyncio, sys
from pathlib import Path
from threadline.app import build_context
from threadline.config import Settings
from threadline.db import across_orgs
from threadline.orgs.models import AuditEntry
from threadline.workers.timers import TimerWorker

async def main(url: str, marker: str) -> None:
    ctx = build_context(Settings(database_url=url, secret_key="x" * 40, _env_file=None))
    worker = TimerWorker(ctx, poll_s=30)

    async def hang(uow, timer):
        uow.session.add(AuditEntry(org_id=timer.org_id, action="t.kill9", target=timer.ref_id))
        await uow.session.flush()
        Path(marker).touch()
        await asyncio.Event().wait()

    worker.register("t_kill9", hang)
    with across_orgs():
        await worker.fire_due()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_node_killed_with_sigkill_mid_batch_loses_its_claim_to_the_next(
    ctx: Context, settings: Settings, tmp_path: Path
) -> None:
    """kill -9 of a real process holding a claimed batch: its uncommitted firing vanishes
    with its connection (PostgreSQL) or its write lock (SQLite), and another node fires
    every timer of the batch exactly once; while it lived, the batch was not another's."""
    world = await make_world(ctx)
    refs = [f"k{i}" for i in range(50)]
    await _schedule(ctx, world.org_id, "t_kill9", refs, -1)
    survivor = timers.TimerWorker(ctx, poll_s=30)
    survivor.register("t_kill9", lambda uow, timer: _add(uow, _effect(world, "t.kill9", timer)))
    marker = tmp_path / "claimed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    node = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DYING_NODE, settings.database_url, str(marker), env=env
    )
    try:
        await eventually(lambda: _async(marker.exists() or None), timeout=120)
        if ctx.db.dialect != "sqlite":  # held by the live node: skipped, not waited for
            assert await survivor.fire_due() == 0
    finally:
        node.send_signal(signal.SIGKILL)
        await asyncio.wait_for(node.wait(), 30)
    assert node.returncode == -signal.SIGKILL
    total = 0

    async def all_fired() -> bool:
        nonlocal total
        total += await survivor.fire_due()
        return total >= len(refs)

    await eventually(all_fired, timeout=30)
    assert total == len(refs)
    assert await _effects(ctx, "t.kill9") == Counter(refs)
    assert all(t.fired_at is not None and t.attempts == 1 for t in await _timers(ctx, "t_kill9"))
    assert await survivor.fire_due() == 0


async def _add(uow: UnitOfWork, row: AuditEntry) -> None:
    uow.session.add(row)
