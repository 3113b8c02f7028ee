"""The desktop stream through the indexed bus, end to end: who receives what.

Organisation-wide news (a thread moving in the inbox too) reaches every desktop of its
organisation and no other; a thread's
entries reach the desktops watching it (of its organisation) from the watch frame to the
unwatch frame; each desktop receives one frame per event. Every check ends with a sentinel
event that every desktop of the organisation receives: what a desktop got before it is
everything it got.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import websockets

from tests.conftest import PASSWORD, Running, World, login
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.events.domain import ThreadChanged
from threadline.orgs.services import do_create_org


async def _desk(server: Running, client: httpx.AsyncClient) -> Any:
    ws = await websockets.connect(
        f"{server.ws_url}/api/v1/stream",
        additional_headers={"Cookie": f"tl_session={client.cookies['tl_session']}"},
    )
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


async def _until_sentinel(ws: Any, sentinel: str) -> list[dict[str, Any]]:
    """Every frame before the `agent.presence` frame whose presence is `sentinel`."""
    frames = []
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "agent.presence" and frame["presence"] == sentinel:
            return frames
        frames.append(frame)


async def test_who_receives_what(server: Running, world: World) -> None:
    other = await do_create_org(server.ctx, f"other-{uuid.uuid4().hex[:6]}", "Other Bank")
    await do_create_agent(
        server.ctx,
        other.id,
        AgentCreate(
            email="bea@b.example.com",
            name="Bea",
            password=PASSWORD,
            role="supervisor",
            skills={"general": 1},
            languages=["en"],
        ),
    )
    rui, olga, nikos = [await login(server, f"{k}@example.com") for k in ("rui", "olga", "nikos")]
    async with server.client() as bea:
        r = await bea.post(
            "/api/v1/auth/login", json={"email": "bea@b.example.com", "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        desks = {
            name: await _desk(server, client)
            for name, client in (("rui", rui), ("olga", olga), ("nikos", nikos), ("bea", bea))
        }
        # a visitor's thread in the first organisation
        async with server.client() as http:
            r = await http.post(f"/api/v1/widget/{world.widget.key}/session", json={})
            token = r.json()["visitor_token"]
        visitor = await websockets.connect(f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws")
        await visitor.send(json.dumps({"type": "auth", "token": token}))

        async def say(text: str) -> str:
            # past the thread's coalescing windows (a signal held at a window's end opens
            # another), so this message's thread.changed goes out at once, before the sentinel
            await asyncio.sleep(2 * ThreadChanged.coalesce_s + 0.05)
            client_id = uuid.uuid4().hex
            await visitor.send(
                json.dumps({"type": "message", "client_id": client_id, "text": text})
            )
            while True:
                frame = json.loads(await visitor.recv())
                if frame.get("type") == "ack" and frame["client_id"] == client_id:
                    return str(frame["thread_id"])

        async def sentinel(name: str) -> dict[str, list[dict[str, Any]]]:
            for client in (nikos, bea):  # one in each organisation
                r = await client.put("/api/v1/agents/me/presence", json={"presence": name})
                assert r.status_code == 200, r.text
            return {who: await _until_sentinel(ws, name) for who, ws in desks.items()}

        thread_id = await say("hello")
        await sentinel("away")  # whatever the first message caused: read past it

        # org-wide: rui's presence reaches the three desktops of his organisation, once
        r = await rui.put("/api/v1/agents/me/presence", json={"presence": "away"})
        assert r.status_code == 200
        got = await sentinel("available")
        for who in ("rui", "olga", "nikos"):
            presences = [f for f in got[who] if f["type"] == "agent.presence"]
            assert [(f["agent_id"], f["presence"]) for f in presences] == [
                (world.agents["rui"].id, "away")
            ], who
        assert got["bea"] == []  # not even the other organisation's supervisor

        # a watched thread: olga (and bea, of the other organisation, with the same id)
        for ws in (desks["olga"], desks["bea"]):
            await ws.send(json.dumps({"type": "watch", "thread_id": thread_id}))
        await sentinel("away")  # the watch frames are handled before what follows
        await say("watched")
        got = await sentinel("available")
        # every desktop of the organisation hears that the thread moved (its inbox), no other
        moved = {
            who: {f["thread_id"] for f in got[who] if f["type"] == "thread.changed"} for who in got
        }
        assert moved == {
            "rui": {thread_id},
            "olga": {thread_id},
            "nikos": {thread_id},
            "bea": set(),
        }
        got = {who: [f for f in got[who] if f["type"] != "thread.changed"] for who in got}
        timeline = [f for f in got["olga"] if f["type"] == "timeline"]
        assert [f["event"]["body"] for f in timeline] == ["watched"]
        assert got["bea"] == [] and got["rui"] == [] and got["nikos"] == []

        await desks["olga"].send(json.dumps({"type": "unwatch", "thread_id": thread_id}))
        await sentinel("away")
        await say("not watched")
        got = await sentinel("available")
        assert [f for f in got["olga"] if f["type"] == "timeline"] == []

        await visitor.close()
        for ws in desks.values():
            await ws.close()
    for client in (rui, olga, nikos):
        await client.aclose()
