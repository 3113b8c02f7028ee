"""The Redis Streams bus against the real Redis: two nodes on one stream see every event,
in one order; a node whose connection drops catches up from its last id; and a server
configured with a Redis bus carries a widget message to the agent desktop through Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
import websockets

from tests.conftest import Running, World, authed_socket, login
from threadline.config import Settings
from threadline.events.bus import Event, RedisStreamBus, Subscription, create_bus
from threadline.events.domain import QueueChanged, TimelineEntryAdded

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    """A stream name of this test's own; deleted afterwards."""
    name = f"threadline:test:{uuid.uuid4().hex}"
    yield name
    client = redis.from_url(REDIS_URL)
    await client.delete(name)
    await client.aclose()


@pytest.fixture
async def nodes(stream: str) -> AsyncIterator[list[tuple[RedisStreamBus, str]]]:
    """Two bus instances, as two Threadline processes would have, each with a client name
    by which the test can find (and kill) its connections."""
    started = []
    for number in range(2):
        client_name = f"tl-test-{uuid.uuid4().hex[:12]}-{number}"
        bus = RedisStreamBus(f"{REDIS_URL}?client_name={client_name}", stream=stream)
        await bus.start()
        started.append((bus, client_name))
    yield started
    for bus, _ in started:
        await bus.stop()


def _numbered(n: int, origin: str) -> Event:
    """A small event that says its number (in queue_id) and which node published it."""
    return QueueChanged(org_id=origin, queue_id=str(n))


def _n(event: Event) -> int:
    assert isinstance(event, QueueChanged)
    return int(event.queue_id)


async def _take(subscription: Subscription, count: int, timeout: float = 5) -> list[Event]:
    async def _loop() -> list[Event]:
        return [await subscription.queue.get() for _ in range(count)]

    return await asyncio.wait_for(_loop(), timeout)


async def _nothing_more(subscription: Subscription, wait: float = 0.3) -> None:
    await asyncio.sleep(wait)
    assert subscription.queue.empty(), subscription.queue.get_nowait()


async def test_an_event_reaches_subscribers_on_both_nodes_in_order(
    nodes: list[tuple[RedisStreamBus, str]],
) -> None:
    (a, _), (b, _) = nodes
    on_a, on_b = a.subscribe(lambda e: True), b.subscribe(lambda e: True)
    also_on_b = b.subscribe(lambda e: True)
    only_odd = b.subscribe(lambda e: _n(e) % 2 == 1)
    published: list[Event] = []
    for n in range(12):  # from both nodes, interleaved, in batches and one by one
        publisher = a if n % 3 else b
        events = [_numbered(n, "a" if publisher is a else "b")]
        published += events
        await publisher.publish(events)
    batch = [_numbered(n, "a") for n in range(12, 20)]
    await a.publish(batch)
    published += batch
    for subscription in (on_a, on_b, also_on_b):
        assert await _take(subscription, 20) == published
        await _nothing_more(subscription, 0.05)
    assert await _take(only_odd, 10) == [e for e in published if _n(e) % 2 == 1]
    await _nothing_more(only_odd)
    # an unsubscribed listener hears nothing more; the others still do
    b.unsubscribe(also_on_b)
    await a.publish([_numbered(20, "a")])
    assert _n((await _take(on_b, 1))[0]) == 20
    await _nothing_more(also_on_b)


async def test_events_survive_json_round_trip(nodes: list[tuple[RedisStreamBus, str]]) -> None:
    (a, _), (b, _) = nodes
    on_b = b.subscribe(lambda e: True)
    event = TimelineEntryAdded(
        org_id="o",
        thread_id="t",
        customer_id="c",
        agent_id=None,
        internal=False,
        event={"body": "Olá, Κώστας — Привет 🙂", "nested": {"seq": [1, 2]}},
    )
    await a.publish([event])
    assert await _take(on_b, 1) == [event]


async def test_a_node_started_later_hears_only_new_events(stream: str) -> None:
    first = RedisStreamBus(REDIS_URL, stream=stream)
    await first.start()
    await first.publish([_numbered(n, "old") for n in range(3)])
    late = RedisStreamBus(REDIS_URL, stream=stream)
    await late.start()
    try:
        heard = late.subscribe(lambda e: True)
        new = _numbered(3, "new")
        await first.publish([new])
        assert await _take(heard, 1) == [new]
        await _nothing_more(heard)
    finally:
        await late.stop()
        await first.stop()


async def _kill_connections(client_name: str) -> int:
    admin = redis.from_url(REDIS_URL)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == client_name:
                await admin.client_kill_filter(_id=client["id"])
                killed += 1
        return killed
    finally:
        await admin.aclose()


async def test_a_node_that_reconnects_catches_up_from_its_last_id(
    nodes: list[tuple[RedisStreamBus, str]],
) -> None:
    (a, _), (b, b_name) = nodes
    on_b = b.subscribe(lambda e: True)
    first = _numbered(0, "a")
    await a.publish([first])
    assert await _take(on_b, 1) == [first]
    for round_number in range(2):  # twice: the retry loop keeps working
        assert await _kill_connections(b_name) >= 1  # b's blocking read loses its connection
        missed = [_numbered(n, "a") for n in range(1 + 5 * round_number, 6 + 5 * round_number)]
        for event in missed:  # published while b is disconnected
            await a.publish([event])
        assert await _take(on_b, 5, timeout=10) == missed  # none lost, in order
        await _nothing_more(on_b)  # none twice


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server of this module runs with a Redis bus."""
    return settings.model_copy(update={"bus_url": REDIS_URL})


async def _recv_type(ws: Any, wanted: str, timeout: float = 10) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame

    return await asyncio.wait_for(_loop(), timeout)


async def test_widget_message_reaches_the_desktop_through_redis(
    server: Running, world: World
) -> None:
    assert isinstance(server.ctx.bus, RedisStreamBus)
    other_node = create_bus(REDIS_URL)  # another process on the same stream
    await other_node.start()
    seen_elsewhere = other_node.subscribe(lambda e: e.org_id == world.org_id)
    try:
        agent = await login(server, "rui@example.com")
        assert (
            await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
        ).status_code == 200
        session = (await agent.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
        cookie = agent.cookies.get("tl_session")
        async with (
            websockets.connect(
                f"{server.ws_url}/api/v1/stream",
                additional_headers={"Cookie": f"tl_session={cookie}"},
            ) as desk,
            authed_socket(
                f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", session["visitor_token"]
            ) as visitor,
        ):
            await _recv_type(desk, "hello")
            await visitor.send(
                json.dumps({"type": "message", "client_id": "r-1", "text": "via redis"})
            )
            offer = (await _recv_type(desk, "offer.created"))["offer"]
            assert offer["preview"] == "via redis"
            accepted = await agent.post(f"/api/v1/offers/{offer['id']}/accept")
            assert accepted.status_code == 200, accepted.text
            await _recv_type(visitor, "agent_joined")
            reply = await agent.post(
                f"/api/v1/threads/{offer['thread_id']}/messages",
                json={"body": "and back", "client_msg_id": "a-1"},
            )
            assert reply.status_code == 201
            while (frame := await _recv_type(visitor, "event"))["event"]["kind"] != "message":
                pass
            assert frame["event"]["body"] == "and back"
        # the same events went through the Redis stream: another node heard them
        kinds: list[str] = []
        while not seen_elsewhere.queue.empty():
            kinds.append(seen_elsewhere.queue.get_nowait().type)
        assert {"offer.created", "timeline", "agent.presence"} <= set(kinds), kinds
        await agent.aclose()
    finally:
        await other_node.stop()
