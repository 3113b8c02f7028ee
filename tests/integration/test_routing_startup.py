"""Start-up rebuilds routing from storage in a few set queries (not one per waiting
contact): every waiting contact comes back with what routing needs (skills, exclusions,
the queue's overflow, the customer's last agent), at its place in line, and the first
agent to come in takes them in order; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from sqlalchemy import select, update

from tests.conftest import World, make_world
from tests.conftest import eventually as shared_eventually
from threadline.agents.services import do_set_presence
from threadline.app import build_context, running
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.routing.models import Contact, Offer, Queue

eventually = partial(shared_eventually, timeout=10)


async def _visitor_writes(ctx: Context, world: World, visitor: str) -> str:
    ingested = await do_ingest(
        ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value=visitor,
            body="where is my card?",
            client_msg_id=f"{visitor}-1",
            language="en",
        ),
    )
    return ingested.thread.id


async def _waiting(ctx: Context) -> list[Contact]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(Contact).where(Contact.status == "queued").order_by(Contact.enqueued_at)
            )
        )


async def _offered(ctx: Context, agent_id: str) -> list[str] | None:
    async with ctx.db.sessions() as session:
        offered = list(
            await session.scalars(
                select(Offer.contact_id).where(
                    Offer.agent_id == agent_id, Offer.status == "pending"
                )
            )
        )
    return offered if len(offered) == 2 else None


async def test_start_up_restores_every_waiting_contact_in_order(settings: Settings) -> None:
    first = build_context(settings)
    async with running(first):
        world = await make_world(first)
        for i in range(5):  # nobody is available: they all wait, oldest first
            await _visitor_writes(first, world, f"visitor-{i}")
        waiting = await _waiting(first)
        assert len(waiting) == 5
        olga, rui = world.agents["olga"], world.agents["rui"]
        async with first.uow() as uow:  # what the restart must read back from storage
            await uow.session.execute(
                update(Contact)
                .where(Contact.id == waiting[0].id)
                .values(excluded_agents=[olga.id])  # she missed it: never offered to her again
            )
            await uow.session.execute(
                update(Queue)
                .where(Queue.id == world.queues["general"].id)
                .values(overflow_after_s=600, overflow_skills=["general", "cards"])
            )
            await uow.session.execute(  # a queue with no overflow (a JSON null)
                update(Contact)
                .where(Contact.id == waiting[3].id)
                .values(queue_id=world.queues["cards"].id, required_skills=["cards"])
            )
            await uow.session.execute(
                update(Customer)
                .where(Customer.id == waiting[4].customer_id)
                .values(last_agent_id=rui.id, last_served_at=utcnow() - timedelta(minutes=1))
            )

    second = build_context(settings)
    async with running(second):
        router = second.routing.router(world.org_id)
        assert router.waiting() == 5
        async with second.db.sessions() as session:
            for contact in await _waiting(second):  # the set read agrees with a row's own
                expected = await second.routing._spec(session, contact)
                assert router.waiting_contact(contact.id) == expected
        restored = [router.waiting_contact(c.id) for c in waiting]
        assert all(spec is not None for spec in restored)
        assert restored[0].excluded_agents == frozenset({olga.id})  # type: ignore[union-attr]
        assert restored[1].excluded_agents == frozenset()  # type: ignore[union-attr]
        assert restored[2].overflow_skills == frozenset({"general", "cards"})  # type: ignore[union-attr]
        assert restored[3].required_skills == frozenset({"cards"})  # type: ignore[union-attr]
        assert restored[3].overflow_skills is None  # type: ignore[union-attr]
        assert restored[4].last_agent_id == rui.id  # type: ignore[union-attr]
        assert restored[4].sticky_until is not None  # type: ignore[union-attr]
        places = [await second.routing.estimate(world.org_id, c.id) for c in waiting]
        assert [p.position for p in places if p is not None] == [1, 2, 3, 1, 4]

        # Olga (two chats) comes in: the two oldest she may take, not the one she missed
        await do_set_presence(second, world.org_id, olga.id, "available")
        offered = await eventually(lambda: _offered(second, olga.id))
        assert sorted(offered) == sorted([waiting[1].id, waiting[2].id])
