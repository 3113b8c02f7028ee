"""With the Redis bus, rate limits live in Redis: two Threadline nodes count one client
together, so a limit holds whichever node answers. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as redis

from tests.conftest import PASSWORD, Running, make_world
from tests.fakes.http_server import free_port, serving
from threadline.app import create_app
from threadline.config import Settings

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """Redis keys of this test's own; deleted afterwards."""
    name = f"threadline:test-limits:{uuid.uuid4().hex}"
    yield name
    client = redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def nodes(settings: Settings, prefix: str) -> AsyncIterator[list[Running]]:
    """Two Threadline nodes on one database and one Redis."""
    shared = settings.model_copy(
        update={
            "bus_url": REDIS_URL,
            "rate_limit_key_prefix": prefix,
            "rate_limits": {"widget_session": "4/minute"},
            "login_lockout_s": 30,
        }
    )
    apps = [create_app(shared.model_copy(update={"base_url": "http://node"})) for _ in range(2)]
    async with (
        serving(apps[0], port=free_port(), lifespan="on", proxy_headers=False) as first,
        serving(apps[1], port=free_port(), lifespan="on", proxy_headers=False) as second,
    ):
        yield [Running(first, apps[0].state.ctx), Running(second, apps[1].state.ctx)]


async def test_two_nodes_share_one_limit(nodes: list[Running]) -> None:
    world = await make_world(nodes[0].ctx)
    url = f"/api/v1/widget/{world.widget.key}/session"
    clients = [node.client() for node in nodes]
    try:
        for client in clients * 2:  # 2 sessions on each node: 4, the limit
            assert (await client.post(url, json={})).status_code == 200
        for client in clients:
            refused = await client.post(url, json={})
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
    finally:
        for client in clients:
            await client.aclose()


async def test_a_login_lockout_holds_on_every_node(nodes: list[Running]) -> None:
    await make_world(nodes[0].ctx)
    clients = [node.client() for node in nodes]
    try:
        for n in range(5):  # wrong passwords, alternately on each node
            wrong = {"email": "rui@example.com", "password": f"guess {n}"}
            answer = await clients[n % 2].post("/api/v1/auth/login", json=wrong)
            assert answer.status_code == 401
        right = {"email": "rui@example.com", "password": PASSWORD}
        for client in clients:
            locked: httpx.Response = await client.post("/api/v1/auth/login", json=right)
            assert locked.status_code == 429, locked.text
    finally:
        for client in clients:
            await client.aclose()
