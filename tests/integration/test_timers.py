"""The durable timer worker: a batch per transaction, each timer's effect committed
exactly once, a failing handler isolated (its batch is fired again one timer per
transaction) and retried later; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import World, eventually, make_world
from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.orgs.models import AuditEntry
from threadline.workers import timers
from threadline.workers.models import Timer


async def test_each_due_timer_fires_once_and_a_failing_one_stays_apart(ctx: Context) -> None:
    world: World = await make_world(ctx)
    worker: timers.TimerWorker = ctx.timers
    seen: list[str] = []

    async def good(uow: UnitOfWork, timer: Timer) -> None:
        seen.append(timer.ref_id)
        # the handler's own write commits with the timer's firing
        uow.session.add(AuditEntry(org_id=world.org_id, action="test.fired", target=timer.ref_id))

    async def bad(uow: UnitOfWork, timer: Timer) -> None:
        uow.session.add(AuditEntry(org_id=world.org_id, action="test.bad", target=timer.ref_id))
        await uow.session.flush()
        uow.publish({"type": "test.never", "org_id": world.org_id})
        raise RuntimeError("poisoned")

    worker.register("test_good", good)
    worker.register("test_bad", bad)
    past = utcnow() - timedelta(seconds=1)
    async with ctx.uow() as uow:
        for i in range(250):  # more than one batch
            timers.schedule(uow.session, world.org_id, "test_good", f"g{i}", past)
            if i % 50 == 0:
                timers.schedule(uow.session, world.org_id, "test_bad", f"b{i}", past)
        timers.schedule(
            uow.session, world.org_id, "test_good", "later", utcnow() + timedelta(hours=1)
        )
    worker.wake()  # the running worker fires them, a batch per transaction

    async def all_fired() -> bool:
        # committed, not only run: a handler that ran in a batch rolled back (a neighbour
        # failed) commits later, when its part of the batch is fired again
        async with ctx.db.sessions() as session:
            done = set(
                await session.scalars(
                    select(AuditEntry.target).where(AuditEntry.action == "test.fired")
                )
            )
        return done >= {f"g{i}" for i in range(250)}

    await eventually(all_fired, timeout=30)
    await asyncio.sleep(0.2)  # a duplicate would show up by now
    # a handler may run again when its batch rolled back (a neighbour failed), but what it
    # commits, commits once; "later" is not due
    assert "later" not in seen
    async with ctx.db.sessions() as session:
        audits = list(await session.execute(select(AuditEntry.action, AuditEntry.target)))
        bad_timers = list(await session.scalars(select(Timer).where(Timer.kind == "test_bad")))
    fired = [target for action, target in audits if action == "test.fired"]
    assert sorted(fired) == sorted(f"g{i}" for i in range(250))
    assert not [a for a, _ in audits if a == "test.bad"]
    assert len(bad_timers) == 5
    for timer in bad_timers:  # not fired, postponed with a growing delay
        assert timer.fired_at is None and timer.attempts >= 1
        assert timer.due_at >= past + timedelta(seconds=2)
