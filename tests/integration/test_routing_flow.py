"""Routing through storage: offers, reject, timeout (durable timer), restart, transfer,
sticky and language routing; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TypeVar

from sqlalchemy import select, update

from tests.conftest import World, make_world
from tests.conftest import eventually as shared_eventually
from threadline.agents.services import do_set_presence
from threadline.app import build_context, running
from threadline.auth.roles import Principal
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.routing.models import Contact, Offer, Queue
from threadline.threads.models import ThreadEvent

T = TypeVar("T")


eventually = partial(shared_eventually, timeout=5)


def principal(world: World, key: str) -> Principal:
    agent = world.agents[key]
    return Principal(agent.id, world.org_id, agent.role, agent.name)


async def visitor_writes(
    ctx: Context, world: World, visitor: str, text: str, language: str | None = None
) -> str:
    ingested = await do_ingest(
        ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value=visitor,
            body=text,
            client_msg_id=f"{visitor}-{text}",
            language=language,
        ),
    )
    return ingested.thread.id


async def pending_offer(ctx: Context, thread_id: str) -> Offer | None:
    async with ctx.db.sessions() as session:
        return await session.scalar(
            select(Offer)
            .join(Contact, Contact.id == Offer.contact_id)
            .where(Contact.thread_id == thread_id, Offer.status == "pending")
        )


async def offers_of(ctx: Context, thread_id: str) -> list[tuple[str, str]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Offer.agent_id, Offer.status)
            .join(Contact, Contact.id == Offer.contact_id)
            .where(Contact.thread_id == thread_id)
            .order_by(Offer.created_at)
        )
        return [(a, s) for a, s in rows]


async def available(ctx: Context, world: World, *keys: str) -> None:
    for key in keys:
        await do_set_presence(ctx, world.org_id, world.agents[key].id, "available")


async def test_reject_moves_the_offer_to_the_next_agent(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "rui", "olga")
    thread_id = await visitor_writes(ctx, world, "v1", "hello")
    first = await eventually(lambda: pending_offer(ctx, thread_id))
    first_key = next(k for k, a in world.agents.items() if a.id == first.agent_id)
    await ctx.routing.reject(principal(world, first_key), first.id)
    second = await eventually(lambda: pending_offer(ctx, thread_id))
    assert second.agent_id != first.agent_id
    assert await offers_of(ctx, thread_id) == [
        (first.agent_id, "rejected"),
        (second.agent_id, "pending"),
    ]


async def test_offer_times_out_to_next_agent_and_sets_first_away(ctx: Context) -> None:
    world = await make_world(ctx)
    async with ctx.uow() as uow:
        await uow.session.execute(update(Queue).values(offer_timeout_s=1))
    await available(ctx, world, "rui", "olga")
    thread_id = await visitor_writes(ctx, world, "v2", "anyone?")
    first = await eventually(lambda: pending_offer(ctx, thread_id))
    second = await eventually(
        lambda: _pending_other_than(ctx, thread_id, first.agent_id), timeout=6
    )
    assert second.agent_id != first.agent_id
    async with ctx.db.sessions() as session:
        from threadline.agents.models import Agent

        assert (await session.get(Agent, first.agent_id)).presence == "away"
    assert (await offers_of(ctx, thread_id))[0] == (first.agent_id, "timed_out")


async def _pending_other_than(ctx: Context, thread_id: str, agent_id: str) -> Offer | None:
    offer = await pending_offer(ctx, thread_id)
    return offer if offer and offer.agent_id != agent_id else None


async def test_offer_timer_survives_a_restart_and_fires_once(settings: Settings) -> None:
    first = build_context(settings)
    async with running(first):
        world = await make_world(first)
        async with first.uow() as uow:
            await uow.session.execute(update(Queue).values(offer_timeout_s=1))
        await available(first, world, "rui")
        thread_id = await visitor_writes(first, world, "v3", "still there?")
        offer = await eventually(lambda: pending_offer(first, thread_id))
    # The process is gone before the offer expires; a new one takes over.
    await asyncio.sleep(1.2)
    second = build_context(settings)
    async with running(second):
        statuses = await eventually(lambda: _timed_out(second, thread_id), timeout=5)
        await asyncio.sleep(0.5)  # give a duplicate firing the chance to show
        assert statuses == await offers_of(second, thread_id)
    assert statuses == [(offer.agent_id, "timed_out")]  # rui is away now: nobody else to offer


async def _timed_out(ctx: Context, thread_id: str) -> list[tuple[str, str]] | None:
    offers = await offers_of(ctx, thread_id)
    return offers if offers and offers[0][1] == "timed_out" else None


async def test_transfer_to_queue_reaches_a_skilled_agent(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "olga")
    thread_id = await visitor_writes(ctx, world, "v4", "my card")
    offer = await eventually(lambda: pending_offer(ctx, thread_id))
    assert offer.agent_id == world.agents["olga"].id
    await ctx.routing.accept(principal(world, "olga"), offer.id)
    await available(ctx, world, "rui")
    await ctx.routing.transfer(
        principal(world, "olga"),
        thread_id,
        queue_id=world.queues["cards"].id,
        agent_id=None,
        note="card issue",
    )
    moved = await eventually(lambda: pending_offer(ctx, thread_id))
    assert moved.agent_id == world.agents["rui"].id  # only Rui has the cards skill
    async with ctx.db.sessions() as session:
        kinds = list(
            await session.scalars(
                select(ThreadEvent.kind)
                .where(ThreadEvent.thread_id == thread_id)
                .order_by(ThreadEvent.seq)
            )
        )
    assert kinds == ["message", "queued", "assigned", "note", "transferred"]


async def test_direct_transfer_to_an_agent(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "olga")
    thread_id = await visitor_writes(ctx, world, "v5", "hi")
    offer = await eventually(lambda: pending_offer(ctx, thread_id))
    await ctx.routing.accept(principal(world, "olga"), offer.id)
    await available(ctx, world, "nikos")
    await ctx.routing.transfer(
        principal(world, "olga"),
        thread_id,
        queue_id=None,
        agent_id=world.agents["nikos"].id,
        note=None,
    )
    direct = await eventually(lambda: pending_offer(ctx, thread_id))
    assert direct.agent_id == world.agents["nikos"].id
    assert ctx.routing.router(world.org_id).agent_load(world.agents["nikos"].id)["chat"] == 1
    assert ctx.routing.router(world.org_id).agent_load(world.agents["olga"].id).get("chat", 0) == 0


async def test_returning_customer_goes_to_their_last_agent(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "rui", "olga")
    thread_id = await visitor_writes(ctx, world, "v6", "first time")
    offer = await eventually(lambda: pending_offer(ctx, thread_id))
    served_by = next(k for k, a in world.agents.items() if a.id == offer.agent_id)
    await ctx.routing.accept(principal(world, served_by), offer.id)
    await ctx.routing.resolve(principal(world, served_by), thread_id, "other")
    async with ctx.db.sessions() as session:
        customer = await session.scalar(
            select(Customer)
            .join(Contact, Contact.customer_id == Customer.id)
            .where(Contact.thread_id == thread_id)
        )
        assert customer.last_agent_id == offer.agent_id
    # The other agent has now been idle longer, yet the customer returns to the same agent.
    again = await visitor_writes(ctx, world, "v6", "me again")
    assert again == thread_id  # one customer, one thread
    sticky = await eventually(lambda: pending_offer(ctx, thread_id))
    assert sticky.agent_id == offer.agent_id and sticky.sticky


async def test_language_is_a_routing_skill(ctx: Context) -> None:
    world = await make_world(ctx)
    await available(ctx, world, "olga", "rui")
    thread_id = await visitor_writes(ctx, world, "v7", "здравствуйте", language="ru")
    offer = await eventually(lambda: pending_offer(ctx, thread_id))
    assert offer.agent_id == world.agents["olga"].id
    # A language nobody speaks does not strand the customer.
    other = await visitor_writes(ctx, world, "v8", "hej", language="sv")
    assert await eventually(lambda: pending_offer(ctx, other))


async def test_a_missed_contact_comes_back_to_the_only_agent(settings: Settings) -> None:
    """Passing an agent over is temporary: in a team of one, the contact is not stranded."""
    quick = settings.model_copy(update={"reoffer_after_s": 1.0})
    ctx = build_context(quick)
    async with running(ctx):
        world = await make_world(ctx)
        await available(ctx, world, "rui")
        thread_id = await visitor_writes(ctx, world, "v9", "anyone?")
        first = await eventually(lambda: pending_offer(ctx, thread_id))
        await ctx.routing.reject(principal(world, "rui"), first.id)
        second = await eventually(
            lambda: _pending_other_than_offer(ctx, thread_id, first.id), timeout=6
        )
        assert second.agent_id == world.agents["rui"].id
        assert await offers_of(ctx, thread_id) == [
            (world.agents["rui"].id, "rejected"),
            (world.agents["rui"].id, "pending"),
        ]


async def _pending_other_than_offer(ctx: Context, thread_id: str, offer_id: str) -> Offer | None:
    offer = await pending_offer(ctx, thread_id)
    return offer if offer and offer.id != offer_id else None
