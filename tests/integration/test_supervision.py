"""Supervision over real HTTP and WebSocket (SQLite and PostgreSQL): live conversations
listed and opened read-only, whisper (the agent sees it live; other agents and the customer
never do), join, take-over, reassign, presence forced by a supervisor; every action audited
and refused to agents and to another organisation's supervisors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection

from tests.conftest import Running, World, authed_socket, eventually, login, take_thread
from tests.integration.test_api_roles import assert_problem
from tests.integration.test_reports import _other_org_supervisor
from threadline.channels.models import OutboxMessage
from threadline.orgs.models import AuditEntry
from threadline.routing.models import Contact, Offer


async def frames_until(
    ws: ClientConnection, wanted: Any, timeout: float = 15
) -> list[dict[str, Any]]:
    """Every frame received up to and including the first for which `wanted(frame)` holds."""
    seen: list[dict[str, Any]] = []

    async def loop() -> list[dict[str, Any]]:
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame)
            if wanted(frame):
                return seen

    return await asyncio.wait_for(loop(), timeout)


async def quiet(ws: ClientConnection, seconds: float = 0.4) -> list[dict[str, Any]]:
    """The frames that arrive within `seconds`."""
    seen: list[dict[str, Any]] = []
    try:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), seconds)))
    except TimeoutError:
        return seen


@asynccontextmanager
async def desk(server: Running, client: httpx.AsyncClient) -> AsyncIterator[ClientConnection]:
    """The desktop stream of a signed-in client (its session cookie)."""
    cookie = client.cookies.get("tl_session")
    async with websockets.connect(
        f"{server.ws_url}/api/v1/stream", additional_headers={"Cookie": f"tl_session={cookie}"}
    ) as ws:
        await frames_until(ws, lambda f: f["type"] == "hello")
        yield ws


@asynccontextmanager
async def visitor_chat(
    server: Running, world: World, text: str
) -> AsyncIterator[tuple[ClientConnection, str, httpx.AsyncClient]]:
    """A visitor on the widget who wrote `text`, taken by Rui; yields the visitor's socket,
    the thread and Rui's client."""
    async with server.client() as anonymous:
        session = (
            await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        ).json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "v-1", "text": text}))
        ack = await frames_until(visitor, lambda f: f["type"] == "ack")
        thread_id = session.get("thread_id") or await _thread_of(server, world)
        assert ack
        rui = await take_thread(server, "rui@example.com", thread_id)
        try:
            yield visitor, thread_id, rui
        finally:
            await rui.aclose()


async def _thread_of(server: Running, world: World) -> str:
    async def probe() -> str | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(select(Contact.thread_id).where(Contact.org_id == world.org_id))

    return await eventually(probe)


async def audited(server: Running, action: str, target: str) -> list[AuditEntry]:
    async with server.ctx.db.sessions() as db:
        rows = await db.scalars(
            select(AuditEntry).where(AuditEntry.action == action, AuditEntry.target == target)
        )
        return list(rows)


async def test_list_open_and_whisper_reach_only_the_agent(server: Running, world: World) -> None:
    async with visitor_chat(server, world, "my card did not arrive") as (visitor, thread_id, rui):
        nikos = await login(server, "nikos@example.com")
        olga = await login(server, "olga@example.com")
        listed = await nikos.get("/api/v1/supervision/conversations")
        assert listed.status_code == 200, listed.text
        [live] = [c for c in listed.json() if c["thread_id"] == thread_id]
        assert live["agent_name"] == "Rui" and live["status"] == "assigned"
        assert live["queue_name"] == "General" and live["participants"] == []
        by_queue = await nikos.get(
            "/api/v1/supervision/conversations", params={"queue_id": world.queues["cards"].id}
        )
        assert by_queue.json() == []
        by_agent = await nikos.get(
            "/api/v1/supervision/conversations", params={"agent_id": world.agents["rui"].id}
        )
        assert [c["thread_id"] for c in by_agent.json()] == [thread_id]

        opened = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/monitor")
        assert opened.status_code == 200, opened.text
        assert opened.json()["events"][0]["body"] == "my card did not arrive"
        assert len(await audited(server, "supervision.monitor", thread_id)) == 1

        async with (
            desk(server, rui) as rui_desk,
            desk(server, olga) as olga_desk,
            desk(server, nikos) as nikos_desk,
        ):
            for ws in (olga_desk, nikos_desk):  # both watch the thread
                await ws.send(json.dumps({"type": "watch", "thread_id": thread_id}))
            await asyncio.sleep(0.2)
            sent = await nikos.post(
                f"/api/v1/supervision/threads/{thread_id}/whisper",
                json={"body": "Offer her the express card"},
            )
            assert sent.status_code == 201, sent.text
            assert sent.json()["kind"] == "whisper"
            got = await frames_until(rui_desk, lambda f: f["type"] == "thread.whispered")
            assert got[-1]["body"] == "Offer her the express card"
            assert got[-1]["supervisor_name"] == "Nikos"
            await frames_until(
                rui_desk, lambda f: f["type"] == "timeline" and f["event"]["kind"] == "whisper"
            )
            await frames_until(
                nikos_desk, lambda f: f["type"] == "timeline" and f["event"]["kind"] == "whisper"
            )
            # Olga watches the thread yet is shown nothing of the whisper
            reply = await rui.post(
                f"/api/v1/threads/{thread_id}/messages", json={"body": "Let me check"}
            )
            assert reply.status_code == 201
            olga_saw = await frames_until(
                olga_desk, lambda f: f["type"] == "timeline" and f["event"]["kind"] == "message"
            )
            assert not [f for f in olga_saw if "whisper" in json.dumps(f)]
        # the customer: the widget's socket got Rui's reply and never the whisper
        customer_saw = await frames_until(
            visitor, lambda f: f["type"] == "event" and f["event"].get("body") == "Let me check"
        )
        assert "Offer her the express card" not in json.dumps(customer_saw)
        assert "Offer her the express card" not in json.dumps(await quiet(visitor))
        # ... nor on reading the timeline again; nor did any provider send get queued for it
        olga_reads = (await olga.get(f"/api/v1/threads/{thread_id}/events")).json()
        assert "whisper" not in [e["kind"] for e in olga_reads]
        rui_reads = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
        assert "whisper" in [e["kind"] for e in rui_reads]
        async with server.ctx.db.sessions() as db:
            queued = await db.scalars(
                select(OutboxMessage.event_id).where(OutboxMessage.thread_id == thread_id)
            )
            assert sent.json()["id"] not in list(queued)
        async with server.client() as anonymous:
            again = await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        assert "express card" not in again.text
        [entry] = await audited(server, "supervision.whisper", thread_id)
        assert entry.actor_agent_id == world.agents["nikos"].id
        assert entry.data["agent_id"] == world.agents["rui"].id
        await nikos.aclose()
        await olga.aclose()


async def test_join_then_take_over(server: Running, world: World) -> None:
    async with visitor_chat(server, world, "I was charged twice") as (visitor, thread_id, rui):
        nikos = await login(server, "nikos@example.com")
        async with desk(server, rui) as rui_desk:
            joined = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/join")
            assert joined.status_code == 200, joined.text
            told = await frames_until(rui_desk, lambda f: f["type"] == "thread.joined")
            assert told[-1]["supervisor_name"] == "Nikos"
        assert [p["name"] for p in joined.json()["participants"]] == ["Nikos"]
        again = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/join")
        assert len(again.json()["participants"]) == 1  # joining twice changes nothing
        said = await nikos.post(
            f"/api/v1/threads/{thread_id}/messages", json={"body": "Hello, I am Nikos"}
        )
        assert said.status_code == 201, said.text
        await frames_until(
            visitor,
            lambda f: f["type"] == "event" and f["event"].get("body") == "Hello, I am Nikos",
        )
        # the agent stays on it
        still = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Hi"})
        assert still.status_code == 201

        async with desk(server, rui) as rui_desk:
            taken = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/take-over")
            assert taken.status_code == 200, taken.text
            assert taken.json()["agent_id"] == world.agents["nikos"].id
            told = await frames_until(rui_desk, lambda f: f["type"] == "contact.taken_over")
            assert told[-1]["supervisor_name"] == "Nikos"
            assert told[-1]["agent_id"] == world.agents["rui"].id
        router = server.ctx.routing.router(world.org_id)
        assert router.agent_load(world.agents["rui"].id).get("chat", 0) == 0
        assert router.agent_load(world.agents["nikos"].id)["chat"] == 1
        refused = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "x"})
        assert_problem(refused, 403, "forbidden")
        writes = await nikos.post(
            f"/api/v1/threads/{thread_id}/messages", json={"body": "I have refunded you"}
        )
        assert writes.status_code == 201
        twice = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/take-over")
        assert_problem(twice, 409)
        left = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/leave")
        assert left.status_code == 200 and left.json()["participants"] == []
        assert_problem(await nikos.post(f"/api/v1/supervision/threads/{thread_id}/leave"), 409)
        assert len(await audited(server, "supervision.join", thread_id)) == 1
        assert len(await audited(server, "supervision.leave", thread_id)) == 1
        [took] = await audited(server, "supervision.take_over", thread_id)
        assert took.data["agent_id"] == world.agents["rui"].id
        resolved = await nikos.post(
            f"/api/v1/threads/{thread_id}/resolve", json={"reason": "refund"}
        )
        assert resolved.status_code == 200, resolved.text
        assert router.agent_load(world.agents["nikos"].id).get("chat", 0) == 0
        await nikos.aclose()


async def test_reassign_offers_the_contact_to_the_agent(server: Running, world: World) -> None:
    async with visitor_chat(server, world, "hello") as (_visitor, thread_id, _rui):
        nikos = await login(server, "nikos@example.com")
        olga_id = world.agents["olga"].id
        busy = await nikos.post(
            f"/api/v1/supervision/threads/{thread_id}/reassign", json={"agent_id": olga_id}
        )
        assert_problem(busy, 409)  # Olga is offline: routing refuses
        await nikos.put(f"/api/v1/agents/{olga_id}/presence", json={"presence": "available"})
        moved = await nikos.post(
            f"/api/v1/supervision/threads/{thread_id}/reassign", json={"agent_id": olga_id}
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "offered" and moved.json()["agent_id"] == olga_id
        async with server.ctx.db.sessions() as db:
            offer = await db.scalar(select(Offer).where(Offer.status == "pending"))
            assert offer is not None and offer.agent_id == olga_id
        [entry] = await audited(server, "supervision.reassign", thread_id)
        assert entry.data["agent_id"] == olga_id
        unknown = await nikos.post(
            f"/api/v1/supervision/threads/{thread_id}/reassign", json={"agent_id": "nobody"}
        )
        assert_problem(unknown, 404)
        await nikos.aclose()


async def test_presence_forced_by_a_supervisor_is_audited_and_live(
    server: Running, world: World
) -> None:
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    nikos = await login(server, "nikos@example.com")
    rui_id = world.agents["rui"].id
    async with desk(server, rui) as rui_desk:
        forced = await nikos.put(f"/api/v1/agents/{rui_id}/presence", json={"presence": "offline"})
        assert forced.status_code == 200, forced.text
        seen = await frames_until(
            rui_desk, lambda f: f["type"] == "agent.presence" and f["agent_id"] == rui_id
        )
        assert seen[-1]["presence"] == "offline" and seen[-1]["reason"] == "supervisor"
    [entry] = await audited(server, "agent.presence", rui_id)
    assert entry.actor_agent_id == world.agents["nikos"].id
    assert entry.data == {"before": "available", "after": "offline"}
    # an agent's own change is not a supervisor's: not audited, no reason
    await rui.put("/api/v1/agents/me/presence", json={"presence": "away"})
    assert len(await audited(server, "agent.presence", rui_id)) == 1
    await rui.aclose()
    await nikos.aclose()


ACTIONS = [
    ("post", "monitor", None),
    ("post", "whisper", {"body": "psst"}),
    ("post", "join", None),
    ("post", "leave", None),
    ("post", "take-over", None),
    ("post", "reassign", {"agent_id": "x"}),
]


async def test_agents_and_other_organisations_are_refused(server: Running, world: World) -> None:
    async with visitor_chat(server, world, "hi") as (_visitor, thread_id, rui):
        olga = await login(server, "olga@example.com")
        other = await _other_org_supervisor(server)
        for client in (rui, olga):
            assert_problem(await client.get("/api/v1/supervision/conversations"), 403, "forbidden")
            for method, action, body in ACTIONS:
                url = f"/api/v1/supervision/threads/{thread_id}/{action}"
                assert_problem(await client.request(method, url, json=body), 403, "forbidden")
        assert (await other.get("/api/v1/supervision/conversations")).json() == []
        for method, action, body in ACTIONS:
            url = f"/api/v1/supervision/threads/{thread_id}/{action}"
            assert_problem(await other.request(method, url, json=body), 404)
        rui_id = world.agents["rui"].id
        assert_problem(
            await other.put(f"/api/v1/agents/{rui_id}/presence", json={"presence": "offline"}),
            404,
        )
        async with server.ctx.db.sessions() as db:
            contact = await db.scalar(select(Contact).where(Contact.thread_id == thread_id))
            assert contact is not None and contact.agent_id == rui_id  # nothing moved
            assert not list(
                await db.scalars(
                    select(AuditEntry.action).where(AuditEntry.action.like("supervision.%"))
                )
            )
        nikos = await login(server, "nikos@example.com")
        empty = await nikos.post(
            f"/api/v1/supervision/threads/{thread_id}/whisper", json={"body": ""}
        )
        await nikos.aclose()
        assert_problem(empty, 422)
        await olga.aclose()
        await other.aclose()


async def test_a_call_is_not_taken_over(server: Running, world: World) -> None:
    """A call's audio stays on the agent's leg: taking over only the contact would leave the
    caller talking to the agent while the supervisor holds it."""
    async with visitor_chat(server, world, "hi") as (_visitor, thread_id, _rui):
        async with server.ctx.uow() as uow:  # the same contact, as if it were a phone call
            contact = await uow.session.scalar(
                select(Contact).where(Contact.thread_id == thread_id)
            )
            assert contact is not None
            contact.channel = "voice"
        nikos = await login(server, "nikos@example.com")
        refused = await nikos.post(f"/api/v1/supervision/threads/{thread_id}/take-over")
        assert_problem(refused, 409)
        assert "call" in refused.json()["message"]
        assert not await audited(server, "supervision.take_over", thread_id)
        await nikos.aclose()
