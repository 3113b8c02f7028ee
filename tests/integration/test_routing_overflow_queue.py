"""Overflow to a named queue (routing/services.py): once a contact has waited the queue's
overflow_after_s it is offered to the agents of the queue it overflows to (that queue's
required skills), while it stays the contact of the queue it entered; start-up rebuilds the
overflow from storage; the admin's loops, self-targets, unknown queues and half-set
overflows are refused with a 422 naming the field. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from sqlalchemy import select

from tests.conftest import PASSWORD, Running, World, login, make_world
from tests.conftest import eventually as shared_eventually
from threadline.agents.models import Agent
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent, do_set_presence
from threadline.app import build_context, running
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.config import Settings
from threadline.context import Context
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact, Offer, Queue
from threadline.routing.schemas import QueueIn
from threadline.routing.services import do_create_queue, do_update_queue

eventually = partial(shared_eventually, timeout=15)


async def _tier2(ctx: Context, world: World, *, after_s: int) -> tuple[Queue, Agent]:
    """Billing-Tier2 (skill billing_t2) with Tina, its only agent (offline); General
    overflows to it after `after_s`."""
    tier2 = await do_create_queue(
        ctx, world.org_id, QueueIn(name="Billing-Tier2", required_skills=["billing_t2"])
    )
    general = QueueIn(
        name="General",
        required_skills=["general"],
        overflow_after_s=after_s,
        overflow_queue_id=tier2.id,
    )
    await do_update_queue(ctx, world.org_id, world.queues["general"].id, general)
    tina = await do_create_agent(
        ctx,
        world.org_id,
        AgentCreate(
            email="tina@example.com",
            name="Tina",
            password=PASSWORD,
            role="agent",
            skills={"billing_t2": 3},
            languages=["en"],
            capacity={"chat": 2},
        ),
    )
    return tier2, tina


async def _visitor_writes(ctx: Context, world: World) -> Contact:
    ingested = await do_ingest(
        ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value="visitor-1",
            body="my invoice is wrong",
            client_msg_id="visitor-1-1",
            language="en",
        ),
    )
    async with ctx.db.sessions() as session:
        contact = await session.scalar(
            select(Contact).where(Contact.thread_id == ingested.thread.id)
        )
    assert contact is not None and contact.status == "queued"
    return contact


async def _offers_to(ctx: Context, agent_id: str) -> list[str]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(Offer.contact_id).where(
                    Offer.agent_id == agent_id, Offer.status == "pending"
                )
            )
        )


async def test_a_waiting_contact_overflows_to_the_named_queues_agent(settings: Settings) -> None:
    ctx = build_context(settings)
    async with running(ctx):
        world = await make_world(ctx)
        _, tina = await _tier2(ctx, world, after_s=3)
        await do_set_presence(ctx, world.org_id, tina.id, "available")
        contact = await _visitor_writes(ctx, world)
        await asyncio.sleep(1)  # before the overflow: not hers (she lacks "general")
        assert await _offers_to(ctx, tina.id) == []

        async def _offered() -> list[str] | None:
            return await _offers_to(ctx, tina.id) or None

        assert await eventually(_offered) == [contact.id]
        async with ctx.db.sessions() as session:
            offered = await session.get_one(Contact, contact.id)
        # it stays General's contact: reports count it where it entered
        assert offered.queue_id == world.queues["general"].id and offered.agent_id == tina.id


async def test_the_overflow_applies_after_a_restart(settings: Settings) -> None:
    first = build_context(settings)
    async with running(first):
        world = await make_world(first)
        _, tina = await _tier2(first, world, after_s=1)
        contact = await _visitor_writes(first, world)

    second = build_context(settings)
    async with running(second):
        router = second.routing.router(world.org_id)
        restored = router.waiting_contact(contact.id)
        assert restored is not None and restored.overflow_skills == frozenset({"billing_t2"})
        async with second.db.sessions() as session:
            stored = await session.get_one(Contact, contact.id)
            assert restored == await second.routing._spec(session, stored)
        await do_set_presence(second, world.org_id, tina.id, "available")

        async def _offered() -> list[str] | None:
            return await _offers_to(second, tina.id) or None

        assert await eventually(_offered) == [contact.id]


async def test_loops_self_targets_and_unknown_queues_are_refused(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    general, cards = world.queues["general"], world.queues["cards"]
    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    theirs = await do_create_queue(server.ctx, other.id, QueueIn(name="Theirs"))

    async def put(queue: Queue, **overflow: Any) -> Any:
        body = {"name": queue.name, "required_skills": queue.required_skills, **overflow}
        return await admin.put(f"/api/v1/queues/{queue.id}", json=body)

    def refused(response: Any, field: str, reason: str) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["details"] == {"field": field, "reason": reason}

    refused(
        await put(general, overflow_after_s=60, overflow_queue_id=general.id),
        "overflow_queue_id",
        "self",
    )
    refused(
        await put(general, overflow_after_s=60, overflow_queue_id="nope"),
        "overflow_queue_id",
        "unknown",
    )
    refused(
        await put(general, overflow_after_s=60, overflow_queue_id=theirs.id),
        "overflow_queue_id",
        "unknown",
    )
    refused(await put(general, overflow_queue_id=cards.id), "overflow_after_s", "wait")
    refused(
        await put(general, overflow_after_s=60, overflow_queue_id=cards.id, overflow_skills=["x"]),
        "overflow_skills",
        "both",
    )
    fine = await put(general, overflow_after_s=60, overflow_queue_id=cards.id)
    assert fine.status_code == 200, fine.text
    assert fine.json()["overflow_queue_id"] == cards.id
    # Cards -> General -> Cards would go round for ever
    refused(
        await put(cards, overflow_after_s=60, overflow_queue_id=general.id),
        "overflow_queue_id",
        "loop",
    )
    new = await admin.post(
        "/api/v1/queues",
        json={"name": "Loans", "overflow_after_s": 30, "overflow_queue_id": general.id},
    )
    assert new.status_code == 201, new.text
    refused(
        await put(cards, overflow_after_s=60, overflow_queue_id=new.json()["id"]),
        "overflow_queue_id",
        "loop",
    )
    async with server.ctx.db.sessions() as session:
        stored = await session.get_one(Queue, cards.id)
    assert stored.overflow_queue_id is None
    await admin.aclose()
