"""What routing costs the database per chat visitor: the statements of one offer (made
after the visitor's first message commits) and of its acceptance, counted on the real
engine (the hot path of bench/visitors.py)."""

from __future__ import annotations

from sqlalchemy import select

from tests.conftest import make_world
from tests.integration.test_chat_statements import statements
from tests.integration.test_routing_flow import (
    available,
    pending_offer,
    principal,
    visitor_writes,
)
from threadline.context import Context
from threadline.routing.models import Contact, Offer
from threadline.threads.models import Thread
from threadline.workers.models import Timer


async def test_an_offer_and_its_acceptance_are_few_statements(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "rui")
    with statements(ctx) as seen:  # the message, then the routing's offer after its commit
        thread_id = await visitor_writes(ctx, world, "v-statements", "hello")
    offer = await pending_offer(ctx, thread_id)
    assert offer is not None and offer.agent_id == world.agents["rui"].id
    # after the message's own event-log append: the routing's read of the waiting
    # contact (on SQLite through the read-only connection, not counted here), the offer's
    # one read (the contact, its queue, customer and last words), its three rows written
    # by one flush, the event log
    first_log = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO event_log"))
    offering = [s.split()[0] for s in seen[first_log + 1 :] if s != "BEGIN IMMEDIATE"]
    reads = 1 if ctx.db.dialect == "sqlite" else 2
    assert offering == ["SELECT"] * reads + ["UPDATE", "INSERT", "INSERT", "INSERT"], seen
    with statements(ctx) as accepting:
        contact = await ctx.routing.accept(principal(world, "rui"), offer.id)
    assert len([s for s in accepting if s != "BEGIN IMMEDIATE"]) <= 9, accepting
    assert contact.status == "assigned"
    async with ctx.db.sessions() as session:
        stored = await session.get(Offer, offer.id)
        thread = await session.get(Thread, thread_id)
        timer = await session.scalar(select(Timer).where(Timer.ref_id == offer.id))
        row = await session.get(Contact, contact.id)
    assert stored is not None and stored.status == "accepted"
    assert thread is not None and thread.assigned_agent_id == world.agents["rui"].id
    assert timer is not None and timer.cancelled and timer.fired_at is None
    assert row is not None and row.status == "assigned"
