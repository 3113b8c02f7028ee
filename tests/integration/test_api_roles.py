"""Who may call what: every API operation needs credentials, admin and supervisor
operations check the role, bearer tokens work until revoked, and sockets refuse strangers."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from tests.conftest import PASSWORD, Running, World, authed_socket, login
from tests.integration.test_openapi import PUBLIC, fill_path, operations, served_document
from threadline.agents.models import Agent

ADMIN_ONLY = [
    ("post", "/api/v1/agents", {"email": "new@example.com", "name": "New", "password": "x" * 12}),
    ("patch", "/api/v1/agents/{agent_id}", {"role": "admin"}),
    ("post", "/api/v1/queues", {"name": "Loans", "required_skills": ["loans"]}),
    ("put", "/api/v1/queues/{queue_id}", {"name": "Renamed"}),
]
SUPERVISOR_ONLY = [
    "/api/v1/queues/stats",
    "/api/v1/contacts",
    "/api/v1/dashboard",
    "/api/v1/supervision/conversations",
]


def assert_problem(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body


def _ids(world: World) -> dict[str, str]:
    return {
        "agent_id": world.agents["olga"].id,
        "queue_id": world.queues["general"].id,
        "key": world.widget.key,
    }


async def test_every_operation_needs_credentials(server: Running, world: World) -> None:
    doc = await served_document(server)
    names = {"agent_id", "queue_id", "key"}
    placeholders = _ids(world) | {
        name: str(uuid.uuid4()) for _, path, _ in operations(doc) for name in _params(path, names)
    }
    checked = 0
    async with server.client() as anonymous:
        for method, path, _operation in operations(doc):
            if (method, path) in PUBLIC:
                continue
            url = fill_path(path, placeholders)
            response = await anonymous.request(method, url, json={})
            assert_problem(response, 401, "not_authenticated")
            forged = await anonymous.request(
                method, url, json={}, headers={"Cookie": "tl_session=forged.cookie.value"}
            )
            assert_problem(forged, 401, "not_authenticated")
            bad_bearer = await anonymous.request(
                method, url, json={}, headers={"Authorization": "Bearer tl_not-a-real-token"}
            )
            assert_problem(bad_bearer, 401, "not_authenticated")
            checked += 1
    assert checked >= 25  # the walk really covered the API


def _params(path: str, known: set[str]) -> list[str]:
    import re

    return [name for name in re.findall(r"\{(\w+)\}", path) if name not in known]


@pytest.mark.parametrize("who", ["olga", "nikos"])
async def test_admin_operations_refuse_agents_and_supervisors(
    server: Running, world: World, who: str
) -> None:
    client = await login(server, f"{who}@example.com")
    ids = _ids(world)
    for method, path, body in ADMIN_ONLY:
        response = await client.request(method, fill_path(path, ids), json=body)
        assert_problem(response, 403, "forbidden")
    await client.aclose()
    async with server.ctx.db.sessions() as db:  # and nothing was changed
        olga = await db.get(Agent, world.agents["olga"].id)
        assert olga is not None and olga.role == "agent"
        assert await db.scalar(select(func.count()).select_from(Agent)) == 4
    admin = await login(server, "admin@example.com")
    for method, path, body in ADMIN_ONLY:
        response = await admin.request(method, fill_path(path, ids), json=body)
        assert response.status_code in (200, 201), (method, path, response.text)
    await admin.aclose()


async def test_supervisor_operations(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    supervisor = await login(server, "nikos@example.com")
    admin = await login(server, "admin@example.com")
    for path in SUPERVISOR_ONLY:
        assert_problem(await agent.get(path), 403, "forbidden")
        for client in (supervisor, admin):
            response = await client.get(path)
            assert response.status_code == 200, response.text
            assert isinstance(response.json(), (list, dict))  # a list, or the dashboard
    stats = (await supervisor.get("/api/v1/queues/stats")).json()
    assert {s["name"] for s in stats} == {"General", "Cards"}
    for client in (agent, supervisor, admin):
        await client.aclose()


async def test_presence_of_another_agent_needs_a_supervisor(server: Running, world: World) -> None:
    rui = await login(server, "rui@example.com")
    olga_id = world.agents["olga"].id
    refused = await rui.put(f"/api/v1/agents/{olga_id}/presence", json={"presence": "available"})
    assert_problem(refused, 403, "forbidden")
    own = await rui.put(
        f"/api/v1/agents/{world.agents['rui'].id}/presence", json={"presence": "away"}
    )
    assert own.status_code == 200 and own.json()["presence"] == "away"
    supervisor = await login(server, "nikos@example.com")
    allowed = await supervisor.put(
        f"/api/v1/agents/{olga_id}/presence", json={"presence": "available"}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["presence"] == "available"
    olga = (await rui.get(f"/api/v1/agents/{olga_id}")).json()
    assert olga["presence"] == "available"
    await rui.aclose()
    await supervisor.aclose()


async def test_bearer_tokens_work_until_revoked(server: Running, world: World) -> None:
    rui = await login(server, "rui@example.com")
    created = await rui.post("/api/v1/auth/tokens", json={"name": "crm sync"})
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["token"].startswith("tl_") and token["name"] == "crm sync"
    bearer = {"Authorization": f"Bearer {token['token']}"}
    async with server.client(headers=bearer) as api:
        me = await api.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["agent_id"] == world.agents["rui"].id
        assert (await api.get("/api/v1/threads")).status_code == 200
        # the token carries rui's role, no more
        assert_problem(await api.get("/api/v1/contacts"), 403, "forbidden")
        # the desktop stream accepts the token too
        async with authed_socket(f"{server.ws_url}/api/v1/stream", token["token"]) as desk:
            hello = await asyncio.wait_for(desk.recv(), 5)
            assert '"hello"' in hello
        # somebody else cannot revoke it
        olga = await login(server, "olga@example.com")
        assert_problem(await olga.delete(f"/api/v1/auth/tokens/{token['id']}"), 404)
        await olga.aclose()
        assert (await api.get("/api/v1/auth/me")).status_code == 200
        revoked = await rui.delete(f"/api/v1/auth/tokens/{token['id']}")
        assert revoked.status_code == 204
        assert_problem(await api.get("/api/v1/auth/me"), 401, "not_authenticated")
    async with server.client(headers={"Authorization": f"Basic {token['token']}"}) as basic:
        assert_problem(await basic.get("/api/v1/auth/me"), 401, "not_authenticated")
    await rui.aclose()


async def test_deactivated_agent_loses_access(server: Running, world: World) -> None:
    olga = await login(server, "olga@example.com")
    token = (await olga.post("/api/v1/auth/tokens", json={"name": "t"})).json()["token"]
    admin = await login(server, "admin@example.com")
    deactivated = await admin.patch(
        f"/api/v1/agents/{world.agents['olga'].id}", json={"active": False}
    )
    assert deactivated.status_code == 200, deactivated.text
    assert_problem(await olga.get("/api/v1/auth/me"), 401)
    async with server.client(headers={"Authorization": f"Bearer {token}"}) as api:
        assert_problem(await api.get("/api/v1/auth/me"), 401)
    async with server.client() as anonymous:
        again = await anonymous.post(
            "/api/v1/auth/login", json={"email": "olga@example.com", "password": PASSWORD}
        )
    assert_problem(again, 401)
    await olga.aclose()
    await admin.aclose()


async def test_login_does_not_reveal_which_emails_exist(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        wrong_password = await anonymous.post(
            "/api/v1/auth/login", json={"email": "rui@example.com", "password": "not it"}
        )
        unknown_email = await anonymous.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "not it"}
        )
        assert_problem(wrong_password, 401, "not_authenticated")
        assert_problem(unknown_email, 401, "not_authenticated")
        assert wrong_password.json() == unknown_email.json()
        assert "tl_session" not in anonymous.cookies
        # the right password, in another case and with spaces around the email, works
        ok = await anonymous.post(
            "/api/v1/auth/login", json={"email": " Rui@Example.com ", "password": PASSWORD}
        )
        assert ok.status_code == 200 and ok.json()["role"] == "agent"
        assert anonymous.cookies.get("tl_session")
        # logout forgets the session
        assert (await anonymous.post("/api/v1/auth/logout")).status_code == 204
        assert_problem(await anonymous.get("/api/v1/auth/me"), 401)


def _auth(token: str) -> str:
    return json.dumps({"type": "auth", "token": token})


async def _close_code(url: str, first: str | None = None, **kwargs: Any) -> int | None:
    """Connect, send `first` (a frame), and read until the server closes; the close code
    it sent."""
    try:
        async with websockets.connect(url, **kwargs) as ws:
            if first is not None:
                await ws.send(first)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code
    except websockets.InvalidStatus as exc:  # refused during the handshake
        raise AssertionError(f"handshake refused with HTTP {exc.response.status_code}") from exc


async def test_desktop_stream_refuses_strangers(server: Running, world: World) -> None:
    stream = f"{server.ws_url}/api/v1/stream"
    assert await _close_code(stream, '{"type": "watch", "thread_id": "t"}') == 4401
    assert await _close_code(stream, _auth("tl_forged")) == 4401
    assert await _close_code(f"{stream}?token=tl_forged") == 4401  # never in the URL
    assert (
        await _close_code(
            f"{server.ws_url}/api/v1/stream", additional_headers={"Cookie": "tl_session=forged"}
        )
        == 4401
    )


async def test_widget_socket_refuses_forged_tokens(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        session = (
            await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        ).json()
    base = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    assert await _close_code(base, '{"type": "resume", "after_seq": 0}') == 4401
    assert await _close_code(base, _auth("forged")) == 4401
    tampered = session["visitor_token"][:-2] + (
        "AA" if session["visitor_token"][-2:] != "AA" else "BB"
    )
    assert await _close_code(base, _auth(tampered)) == 4401
    # a real token for another widget does not open this one
    other = f"{server.ws_url}/api/v1/widget/no-such-widget/ws"
    assert await _close_code(other, _auth(session["visitor_token"])) == 4401
    # a real token in the URL is refused too: it has been logged on the way in
    assert await _close_code(f"{base}?token={session['visitor_token']}") == 4401
    # and the real token in the first frame does open it
    async with authed_socket(base, session["visitor_token"]) as ws:
        await ws.send('{"type": "resume", "after_seq": 0}')
        await ws.send('{"type": "nonsense"}')
        assert '"unknown_type"' in await asyncio.wait_for(ws.recv(), 5)
