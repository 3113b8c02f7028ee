"""Presence that tells the truth: an agent whose every desktop has closed goes offline after
the grace period (reason `no_desktop`), so no offer goes to a ghost; a reload within the grace
changes nothing; an agent who never opened a desktop (an API integration) is left alone.
A real server on SQLite and PostgreSQL, real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import Running, World, authed_socket, eventually, login
from threadline.agents.models import Agent
from threadline.config import Settings

GRACE_S = 1.2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"presence_grace_s": GRACE_S})


@pytest.fixture
async def rui(server: Running, world: World) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    client = await login(server, "rui@example.com")
    token = (await client.post("/api/v1/auth/tokens", json={"name": "desk"})).json()["token"]
    put = await client.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert put.status_code == 200, put.text
    yield client, token
    await client.aclose()


async def presence(server: Running, agent_id: str) -> str:
    async with server.ctx.db.sessions() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        return agent.presence


async def hello(ws: object) -> None:
    frame = json.loads(await ws.recv())  # type: ignore[attr-defined]
    assert frame["type"] == "hello"


async def test_every_tab_closed_goes_offline_after_the_grace(
    server: Running, world: World, rui: tuple[httpx.AsyncClient, str]
) -> None:
    client, token = rui
    agent_id = world.agents["rui"].id
    stream = f"{server.ws_url}/api/v1/stream"
    async with authed_socket(stream, token) as first, authed_socket(stream, token) as second:
        await hello(first)
        await hello(second)
        await second.close()  # one tab of two closed: still a desktop open
        await asyncio.sleep(GRACE_S * 2)
        assert await presence(server, agent_id) == "available"
    # the last tab closed: offline within about the grace, with the reason on the stream
    async with authed_socket(stream, (await _supervisor_token(server))) as watcher:
        await hello(watcher)

        async def offline_frame() -> dict[str, object] | None:
            frame = json.loads(await watcher.recv())
            ok = frame.get("type") == "agent.presence" and frame.get("agent_id") == agent_id
            return frame if ok else None

        frame = await eventually(offline_frame, timeout=GRACE_S * 6)
    assert frame["presence"] == "offline" and frame["reason"] == "no_desktop"
    assert await presence(server, agent_id) == "offline"
    shown = (await client.get(f"/api/v1/agents/{agent_id}")).json()
    assert shown["presence"] == "offline"


async def test_a_reload_within_the_grace_changes_nothing(
    server: Running, world: World, rui: tuple[httpx.AsyncClient, str]
) -> None:
    _, token = rui
    stream = f"{server.ws_url}/api/v1/stream"
    for _ in range(4):  # a page reloaded again and again, each time well within the grace
        async with authed_socket(stream, token) as ws:
            await hello(ws)
            await asyncio.sleep(GRACE_S / 2)
        await asyncio.sleep(GRACE_S / 4)
    assert await presence(server, world.agents["rui"].id) == "available"


async def test_an_agent_who_never_opened_a_desktop_is_left_alone(
    server: Running, world: World
) -> None:
    olga = await login(server, "olga@example.com")
    try:
        await olga.put("/api/v1/agents/me/presence", json={"presence": "available"})
        await asyncio.sleep(GRACE_S * 3)
        assert await presence(server, world.agents["olga"].id) == "available"
    finally:
        await olga.aclose()


async def _supervisor_token(server: Running) -> str:
    nikos = await login(server, "nikos@example.com")
    try:
        return str((await nikos.post("/api/v1/auth/tokens", json={"name": "w"})).json()["token"])
    finally:
        await nikos.aclose()
