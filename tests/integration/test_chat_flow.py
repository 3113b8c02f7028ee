"""The foundation journey over real HTTP and WebSocket, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from sqlalchemy import func, select

from tests.conftest import Running, World, authed_socket, login
from threadline.events.domain import MessageReceived
from threadline.threads.models import ThreadEvent


async def _recv_until(ws: Any, wanted: str, timeout: float = 5) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame

    return await asyncio.wait_for(_loop(), timeout)


async def test_visitor_to_agent_and_back(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    assert (
        await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
    ).status_code == 200
    session = (
        await agent.post(f"/api/v1/widget/{world.widget.key}/session", json={"locale": "pt-PT"})
    ).json()
    assert session["language"] == "pt" and session["strings"]["send"] == "Enviar"
    cookie = agent.cookies.get("tl_session")
    async with (
        websockets.connect(
            f"{server.ws_url}/api/v1/stream", additional_headers={"Cookie": f"tl_session={cookie}"}
        ) as desk,
        authed_socket(
            f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", session["visitor_token"]
        ) as visitor,
    ):
        await _recv_until(desk, "hello")
        for _ in range(2):  # a retry with the same client id is stored once
            await visitor.send(
                json.dumps(
                    {"type": "message", "client_id": "m-1", "text": "o meu cartão não chegou"}
                )
            )
            ack = await _recv_until(visitor, "ack")
            assert ack["seq"] == 1
        offer = (await _recv_until(desk, "offer.created"))["offer"]
        assert offer["preview"] == "o meu cartão não chegou"
        accepted = await agent.post(f"/api/v1/offers/{offer['id']}/accept")
        assert accepted.status_code == 200, accepted.text
        joined = await _recv_until(visitor, "agent_joined")
        assert joined["agent"]["name"] == "Rui"
        reply = await agent.post(
            f"/api/v1/threads/{offer['thread_id']}/messages",
            json={"body": "Olá! Vou verificar.", "client_msg_id": "a-1"},
        )
        assert reply.status_code == 201
        while (frame := await _recv_until(visitor, "event"))["event"]["kind"] != "message":
            pass
        assert frame["event"]["body"] == "Olá! Vou verificar."
        resolved = await agent.post(
            f"/api/v1/threads/{offer['thread_id']}/resolve", json={"reason": "card_arrival"}
        )
        assert resolved.json()["wrapup_reason"] == "card_arrival"
    async with server.ctx.db.sessions() as db:
        kinds = (
            await db.scalars(
                select(ThreadEvent.kind)
                .where(ThreadEvent.thread_id == offer["thread_id"])
                .order_by(ThreadEvent.seq)
            )
        ).all()
        assert kinds == ["message", "queued", "assigned", "message", "resolved"]
        assert (
            await db.scalar(
                select(func.count())
                .select_from(ThreadEvent)
                .where(ThreadEvent.client_msg_id == "m-1")
            )
            == 1
        )
    await agent.aclose()


async def test_api_requires_login(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        response = await anonymous.get("/api/v1/threads")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_widget_says_when_the_queue_is_closed(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    general = world.queues["general"]
    closed_always = {"timezone": "Europe/Athens", "days": {}, "closed_dates": []}
    body = {"name": general.name, "required_skills": ["general"], "business_hours": closed_always}
    assert (await admin.put(f"/api/v1/queues/{general.id}", json=body)).status_code == 200
    session = (await admin.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    assert session["open"] is False
    assert session["opens_at"] is None  # no opening hours at all in the next two weeks
    weekdays = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    body["business_hours"] = {"timezone": "Europe/Athens", "days": weekdays}
    assert (await admin.put(f"/api/v1/queues/{general.id}", json=body)).status_code == 200
    session = (await admin.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    assert session["open"] is True
    body["business_hours"] = {"timezone": "Nowhere/Atlantis"}
    refused = await admin.put(f"/api/v1/queues/{general.id}", json=body)
    assert refused.status_code == 422 and "Atlantis" in refused.text
    await admin.aclose()


async def test_a_burst_of_new_visitors_all_get_sessions(server: Running, world: World) -> None:
    """Sessions open a few at a time (a gate): a burst of arrivals queues and every one gets
    its own visitor; a new visitor starts with no history and no wait, and a returning one
    (their token) gets theirs back."""
    url = f"/api/v1/widget/{world.widget.key}/session"
    async with server.client() as client:  # the widget's calls need no agent
        answers = await asyncio.gather(
            *(client.post(url, json={"locale": "en"}) for _ in range(12))
        )
        assert [r.status_code for r in answers] == [200] * 12
        sessions = [r.json() for r in answers]
        assert len({s["customer_id"] for s in sessions}) == 12
        assert all(s["events"] == [] and s["thread_id"] is None for s in sessions)
        assert all(s["wait"] is None for s in sessions)
        first = sessions[0]
        async with authed_socket(
            f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", first["visitor_token"]
        ) as visitor:
            await visitor.send(json.dumps({"type": "message", "client_id": "b-1", "text": "hello"}))
            await _recv_until(visitor, "ack")
        again = (await client.post(url, json={"visitor_token": first["visitor_token"]})).json()
        assert again["customer_id"] == first["customer_id"] and again["thread_id"] is not None
        assert [e["body"] for e in again["events"]] == ["hello"]


async def test_the_ack_does_not_wait_for_the_work_that_follows_the_commit(
    server: Running, world: World
) -> None:
    """The visitor's message is acknowledged once stored: routing its new contact (and any
    other after-commit handler) follows, and the ack does not wait for it."""
    released = asyncio.Event()
    held: list[str] = []

    async def slow_follow_up(event: MessageReceived) -> None:
        held.append(event.thread_id)
        await released.wait()

    server.ctx.handlers.after_commit(MessageReceived, slow_follow_up)
    async with server.client() as http:
        opened = await http.post(f"/api/v1/widget/{world.widget.key}/session", json={})
    token = opened.json()["visitor_token"]
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with authed_socket(url, token) as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "m-1", "text": "hi"}))
        ack = await _recv_until(visitor, "ack")
        assert ack["client_id"] == "m-1" and ack["seq"] == 1
        assert held and not released.is_set()  # acked while the follow-up still runs
        released.set()
        await visitor.send(json.dumps({"type": "message", "client_id": "m-1", "text": "hi"}))
        again = await _recv_until(visitor, "ack")  # a retry: acked once more, from storage
        assert again["seq"] == 1 and again["thread_id"] == ack["thread_id"]
