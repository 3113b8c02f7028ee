"""Callbacks through storage and the API: the live wait and the offer, keep my place,
booked windows with forecast room, reschedule and cancel by the customer's link, and the
durable timers that open a booked callback when its window comes; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import Running, World, count, eventually, login
from tests.integration.test_routing_flow import visitor_writes
from threadline.callbacks.models import Callback
from threadline.callbacks.services import CALLBACK_DUE, manage_token
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.routing.models import Contact, Queue
from threadline.threads.models import ThreadEvent
from threadline.workers.models import Timer

ALL_DAY = {
    day: [["00:00", "24:00", 3]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
POLICY = {
    "enabled": True,
    "offer_after_s": 0,
    "window_minutes": 30,
    "book_days": 2,
    "min_notice_minutes": 0,
    "plan": ALL_DAY,
}


@pytest.fixture
async def agent(server: Running, world: World) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, "rui@example.com")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def anonymous(server: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as client:
        yield client


async def _set_policy(server: Running, queue_id: str, policy: dict[str, object]) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.id == queue_id).values(callback_policy=policy)
        )


async def _contact_of(server: Running, thread_id: str) -> Contact:
    async def probe() -> Contact | None:
        async with server.ctx.db.sessions() as session:
            return await session.scalar(select(Contact).where(Contact.thread_id == thread_id))

    return await eventually(probe)


async def _waiting(server: Running, world: World, visitor: str) -> Contact:
    thread_id = await visitor_writes(server.ctx, world, visitor, "my card did not arrive")
    contact = await _contact_of(server, thread_id)

    async def placed() -> bool:
        return await server.ctx.routing.estimate(world.org_id, contact.id) is not None

    await eventually(placed)
    return contact


async def test_a_waiting_contact_sees_its_place_and_keeps_it_as_a_callback(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await _set_policy(server, world.queues["general"].id, POLICY)
    first = await _waiting(server, world, "v-first")
    second = await _waiting(server, world, "v-second")

    wait = (await agent.get(f"/api/v1/contacts/{second.id}/wait")).json()
    assert wait["position"] == 2 and wait["status"] == "queued"
    assert wait["callback_offer"] == {
        "keep_place": True,
        "booking": True,
        "queue_id": world.queues["general"].id,
    }
    assert wait["high_s"] is None  # nobody is available: "more than"

    made = await agent.post(
        f"/api/v1/contacts/{first.id}/callback", json={"phone": "+351 912 345 678"}
    )
    assert made.status_code == 201, made.text
    callback = made.json()
    assert callback["status"] == "waiting" and callback["kind"] == "keep_place"
    assert callback["phone"] == "+351912345678"
    # asked twice (a double tap): one callback
    again = await agent.post(f"/api/v1/contacts/{first.id}/callback", json={})
    assert again.json()["id"] == callback["id"]

    async with server.ctx.db.sessions() as session:
        held = await session.get(Contact, first.id)
        customer = await session.get(Customer, first.customer_id)
    assert held is not None and held.channel == "voice" and held.status == "queued"
    assert held.enqueued_at == first.enqueued_at  # the place in line is kept
    assert customer is not None and customer.phone == "+351912345678"

    # it keeps its place ahead of the second one, now as a voice contact
    async def moved() -> bool:
        estimate = await server.ctx.routing.estimate(world.org_id, first.id)
        return (
            estimate is not None
            and server.ctx.routing.router(world.org_id).waiting_contact(first.id).channel == "voice"
        )

    await eventually(moved)
    events = await count(
        server,
        ThreadEvent,
        ThreadEvent.thread_id == first.thread_id,
        ThreadEvent.kind == "callback",
    )
    assert events == 1
    # the customer's link shows it, masked
    token = manage_token(server.ctx, callback["id"])
    view = (await anonymous.get(f"/api/v1/public/callbacks/{token}")).json()
    assert view["status"] == "waiting" and view["phone"].endswith("78")
    assert "912345" not in view["phone"]
    # and cancels it: the held place is given up
    cancelled = await anonymous.post(f"/api/v1/public/callbacks/{token}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    async with server.ctx.db.sessions() as session:
        gone = await session.get(Contact, first.id)
    assert gone is not None and gone.status == "abandoned"
    assert await server.ctx.routing.estimate(world.org_id, first.id) is None


async def test_keep_my_place_needs_a_queue_that_offers_it_and_a_number(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    contact = await _waiting(server, world, "v-nope")
    refused = await agent.post(
        f"/api/v1/contacts/{contact.id}/callback", json={"phone": "+351912345670"}
    )
    assert refused.status_code == 409 and "does not offer callbacks" in refused.text
    await _set_policy(server, world.queues["general"].id, POLICY)
    no_number = await agent.post(f"/api/v1/contacts/{contact.id}/callback", json={})
    assert no_number.status_code == 422 and "phone number" in no_number.text
    bad = await agent.post(f"/api/v1/contacts/{contact.id}/callback", json={"phone": "call me"})
    assert bad.status_code == 422
    assert await count(server, Callback) == 0


async def _windows(client: httpx.AsyncClient, queue_id: str) -> list[dict[str, object]]:
    response = await client.get(f"/api/v1/queues/{queue_id}/callback-windows")
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_booked_windows_are_offered_only_where_the_plan_has_room(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    queue_id = world.queues["general"].id
    assert await _windows(agent, queue_id) == []  # no policy: no windows
    # one agent planned, five-minute calls: a 30-minute window holds only a few callbacks
    tight = {**POLICY, "plan": {d: [["00:00", "24:00", 1]] for d in ALL_DAY}}
    await _set_policy(server, queue_id, tight)
    found = await _windows(agent, queue_id)
    assert found and all(w["room"] >= 1 for w in found)
    first = found[0]
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name="Dmitri", language="ru", phone="+35191000000")
        uow.session.add(customer)
    room = int(first["room"])  # type: ignore[call-overload]
    made = []
    for _ in range(room):
        response = await agent.post(
            "/api/v1/callbacks",
            json={
                "customer_id": customer.id,
                "queue_id": queue_id,
                "window_start": first["start"],
                "phone": "+351 910 000 000",
                "reason": "lost_card",
                "context": {"answers": {"card": "debit"}},
            },
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    full = await agent.post(
        "/api/v1/callbacks",
        json={"customer_id": customer.id, "queue_id": queue_id, "window_start": first["start"]},
    )
    assert full.status_code == 409 and "not available" in full.text
    assert first["start"] not in [w["start"] for w in await _windows(agent, queue_id)]
    assert await count(server, Timer, Timer.kind == CALLBACK_DUE) == room

    # the customer moves one to another window by their link, then cancels another
    token = manage_token(server.ctx, made[0]["id"])
    other = (await anonymous.get(f"/api/v1/public/callbacks/{token}/windows")).json()[0]
    moved = await anonymous.post(
        f"/api/v1/public/callbacks/{token}/reschedule", json={"window_start": other["start"]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["window_start"].startswith(other["start"][:16])
    assert (
        await count(server, Timer, Timer.kind == CALLBACK_DUE, Timer.cancelled.is_(False)) == room
    )
    forged = await anonymous.post("/api/v1/public/callbacks/not-a-token/cancel")
    assert forged.status_code == 404


async def test_a_booked_window_opens_a_contact_ahead_of_the_line_once(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    queue_id = world.queues["general"].id
    await _set_policy(server, queue_id, POLICY)
    waiting = await _waiting(server, world, "v-ordinary")
    found = await _windows(agent, queue_id)
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name="Dmitri", phone="+35191000001")
        uow.session.add(customer)
    booked = await agent.post(
        "/api/v1/callbacks",
        json={
            "customer_id": customer.id,
            "queue_id": queue_id,
            "window_start": found[0]["start"],
            "reason": "lost_card",
            "context": {"answers": {"card": "debit"}},
        },
    )
    assert booked.status_code == 201, booked.text
    callback_id = booked.json()["id"]
    # the window comes (brought forward, as a clock would)
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Timer)
            .where(Timer.ref_id == callback_id)
            .values(due_at=utcnow() - timedelta(seconds=1))
        )
    server.ctx.extras["timers"].wake()

    async def opened() -> Callback | None:
        async with server.ctx.db.sessions() as session:
            row = await session.get(Callback, callback_id)
        return row if row is not None and row.status == "waiting" else None

    callback = await eventually(opened)
    async with server.ctx.db.sessions() as session:
        contact = await session.get(Contact, callback.contact_id)
    assert contact is not None and contact.channel == "voice" and contact.status == "queued"
    assert contact.reason == "lost_card" and contact.context["answers"] == {"card": "debit"}
    assert contact.context["callback_id"] == callback_id

    async def ahead() -> bool:
        estimate = await server.ctx.routing.estimate(world.org_id, contact.id)
        return estimate is not None

    await eventually(ahead)
    # booked callbacks go before ordinary contacts of the same skills (a different
    # channel here, so each is first of its own line); its priority is the promise
    assert contact.priority > waiting.priority
    assert (
        await count(server, Contact, Contact.context["callback_id"].as_string() == callback_id) == 1
    )
