"""Wrap-up (after-contact work): a queue's `wrapup_s` keeps the agent's slot busy after
they resolve, until Done or the durable timer; the KPI counters count it in AHT. On
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import Running, World, login, make_world
from tests.integration.test_routing_flow import eventually, pending_offer, principal, visitor_writes
from threadline.agents.models import Agent
from threadline.agents.services import do_set_presence
from threadline.analytics import aggregates, kpi
from threadline.analytics.models import contact_intervals
from threadline.context import Context
from threadline.errors import Conflict, NotAllowed
from threadline.events.models import EventRecord
from threadline.routing.models import Contact, Queue
from threadline.workers.models import Timer


async def _one_chat_rui(ctx: Context, world: World, wrapup_s: int) -> None:
    """Rui alone, with one chat slot, on a General queue with this wrap-up time."""
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.org_id == world.org_id).values(wrapup_s=wrapup_s)
        )
        await uow.session.execute(
            update(Agent).where(Agent.id == world.agents["rui"].id).values(capacity={"chat": 1})
        )
    await do_set_presence(ctx, world.org_id, world.agents["rui"].id, "available")


async def _served(ctx: Context, world: World, visitor: str) -> str:
    thread_id = await visitor_writes(ctx, world, visitor, "hello")
    offer = await eventually(lambda: pending_offer(ctx, thread_id))
    assert offer.agent_id == world.agents["rui"].id
    await ctx.routing.accept(principal(world, "rui"), offer.id)
    return thread_id


async def _no_offer_for(ctx: Context, thread_id: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    assert await pending_offer(ctx, thread_id) is None


async def _contact(ctx: Context, thread_id: str) -> Contact:
    async with ctx.db.sessions() as session:
        contact = await session.scalar(
            select(Contact).where(Contact.thread_id == thread_id).order_by(Contact.enqueued_at)
        )
    assert contact is not None
    return contact


async def _counted(ctx: Context, world: World) -> dict[str, float]:
    for name in ctx.handlers.consumers:
        while await ctx.consumers.run_once(name):
            pass
    columns = ("handled", "talk_s", "wrapup_s", "busy_s")
    async with ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(
                    *(func.coalesce(func.sum(contact_intervals.c[n]), 0.0) for n in columns)
                ).where(contact_intervals.c.org_id == world.org_id)
            )
        ).one()
    return dict(zip(columns, (float(v) for v in row), strict=True))


async def test_done_ends_the_wrap_up_then_the_next_offer_comes(ctx: Context) -> None:
    world = await make_world(ctx)
    await _one_chat_rui(ctx, world, wrapup_s=600)
    first = await _served(ctx, world, "w1")
    await ctx.routing.resolve(principal(world, "rui"), first, "card_activation")
    resolved = await _contact(ctx, first)
    assert resolved.status == "resolved" and resolved.wrapup_started_at is not None
    assert resolved.wrapup_ended_at is None

    second = await visitor_writes(ctx, world, "w2", "anyone?")
    await _no_offer_for(ctx, second, 0.6)  # the slot is in wrap-up
    before = await _counted(ctx, world)
    assert before["handled"] == 0  # counted once the wrap-up ends, with it

    with pytest.raises(NotAllowed):  # only the agent (or a supervisor) ends it
        await ctx.routing.end_wrapup(principal(world, "olga"), first)
    await asyncio.sleep(0.3)
    await ctx.routing.end_wrapup(principal(world, "rui"), first)
    offer = await eventually(lambda: pending_offer(ctx, second))
    assert offer.agent_id == world.agents["rui"].id
    with pytest.raises(Conflict):
        await ctx.routing.end_wrapup(principal(world, "rui"), first)

    ended = await _contact(ctx, first)
    assert ended.wrapup_ended_at is not None and ended.wrapup_started_at is not None
    wrapup = (ended.wrapup_ended_at - ended.wrapup_started_at).total_seconds()
    assert wrapup >= 0.9
    async with ctx.db.sessions() as session:
        timer = await session.scalar(select(Timer).where(Timer.ref_id == ended.id))
        types = set(await session.scalars(select(EventRecord.type)))
    assert timer is not None and timer.cancelled  # Done cancels the durable timer
    assert {"agent.wrapup_started", "agent.wrapup_ended"} <= types

    counted = await _counted(ctx, world)
    assert counted["handled"] == 1
    assert counted["wrapup_s"] == pytest.approx(wrapup, abs=1e-3)
    # talk: from the "assigned" entry to the "resolved" one (kpi.build_facts)
    talk = counted["talk_s"]
    assert ended.ended_at is not None and ended.accepted_at is not None
    assert talk == pytest.approx((ended.ended_at - ended.accepted_at).total_seconds(), abs=0.5)
    assert counted["busy_s"] == pytest.approx(talk + wrapup, abs=1e-3)  # wrap-up is busy time
    async with ctx.db.sessions() as session:
        sums = (
            await session.execute(
                select(*(func.sum(contact_intervals.c[n]) for n in kpi.CONTACT_COUNTERS)).where(
                    contact_intervals.c.org_id == world.org_id
                )
            )
        ).one()
    figures = kpi.kpis(kpi.Counters.of(dict(zip(kpi.CONTACT_COUNTERS, sums, strict=True))))
    assert figures["aht_s"] == pytest.approx(talk + wrapup, abs=1e-3)
    # a rebuild from the raw history counts the same
    await aggregates.rebuild(ctx, world.org_id)
    assert await _counted(ctx, world) == pytest.approx(counted)


async def test_the_wrap_up_times_out_on_its_durable_timer(ctx: Context) -> None:
    world = await make_world(ctx)
    await _one_chat_rui(ctx, world, wrapup_s=1)
    first = await _served(ctx, world, "t1")
    await ctx.routing.resolve(principal(world, "rui"), first, "billing")
    second = await visitor_writes(ctx, world, "t2", "me next")
    await _no_offer_for(ctx, second, 0.3)
    offer = await eventually(lambda: pending_offer(ctx, second), timeout=6)
    assert offer.agent_id == world.agents["rui"].id
    ended = await _contact(ctx, first)
    assert ended.wrapup_started_at is not None and ended.wrapup_ended_at is not None
    # ended at its limit, however late the timer fired
    assert ended.wrapup_ended_at - ended.wrapup_started_at <= timedelta(seconds=1)
    counted = await _counted(ctx, world)
    assert counted["wrapup_s"] == pytest.approx(1.0, abs=0.05)


async def test_without_wrap_up_the_slot_frees_at_once(ctx: Context) -> None:
    world = await make_world(ctx)
    await _one_chat_rui(ctx, world, wrapup_s=0)
    first = await _served(ctx, world, "n1")
    second = await visitor_writes(ctx, world, "n2", "waiting")
    await _no_offer_for(ctx, second, 0.3)  # the one chat slot is taken
    contact = await ctx.routing.resolve(principal(world, "rui"), first, "billing")
    assert contact.wrapup_started_at is None
    await eventually(lambda: pending_offer(ctx, second))
    with pytest.raises(Conflict):
        await ctx.routing.end_wrapup(principal(world, "rui"), first)


async def test_admin_sets_wrapup_and_the_dashboard_shows_it(server: Running, world: World) -> None:
    queue = world.queues["general"]
    admin = await login(server, "admin@example.com")
    body = {"name": "General", "required_skills": ["general"], "wrapup_s": -1}
    refused = await admin.put(f"/api/v1/queues/{queue.id}", json=body)
    assert refused.status_code == 422
    assert "wrapup_s" in refused.text
    saved = await admin.put(f"/api/v1/queues/{queue.id}", json={**body, "wrapup_s": 90})
    assert saved.status_code == 200 and saved.json()["wrapup_s"] == 90
    await admin.aclose()

    ctx = server.ctx
    await _one_chat_rui(ctx, world, wrapup_s=90)
    thread_id = await _served(ctx, world, "d1")
    rui = await login(server, "rui@example.com")
    supervisor = await login(server, "nikos@example.com")

    async def rui_on_the_board() -> dict[str, object]:
        board = (await supervisor.get("/api/v1/dashboard")).json()
        return dict(next(a for a in board["agents"] if a["id"] == world.agents["rui"].id))

    resolved = await rui.post(f"/api/v1/threads/{thread_id}/resolve", json={"reason": "x"})
    assert resolved.status_code == 200 and resolved.json()["wrapup_started_at"]
    row = await rui_on_the_board()
    assert row["in_wrapup"] == 1 and row["wrapup_since"] and row["in_service"] == 0
    done = await rui.post(f"/api/v1/threads/{thread_id}/wrapup/done")
    assert done.status_code == 200 and done.json()["wrapup_ended_at"]
    again = await rui.post(f"/api/v1/threads/{thread_id}/wrapup/done")
    assert again.status_code == 409
    row = await rui_on_the_board()
    assert row["in_wrapup"] == 0 and row["wrapup_since"] is None
    await rui.aclose()
    await supervisor.aclose()
