"""Agent sessions live on the server: logout, deactivation and a new password end them, and
the cookie is Secure whenever the public URL is https. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import websockets
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.conftest import (
    PASSWORD,
    TEST_SECRET,
    Running,
    World,
    authed_socket,
    login,
    make_world,
)
from tests.fakes.http_server import free_port, serving
from threadline.app import create_app
from threadline.auth.dependencies import SESSION_COOKIE
from threadline.auth.models import AgentSession
from threadline.auth.services import SESSION_SALT
from threadline.config import Settings
from threadline.db import utcnow


def _with_cookie(server: Running, cookie: str) -> httpx.AsyncClient:
    """A client that presents a copy of a session cookie (as a thief would)."""
    return server.client(headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})


async def _status_with(server: Running, cookie: str, path: str = "/api/v1/auth/me") -> int:
    async with _with_cookie(server, cookie) as client:
        return (await client.get(path)).status_code


async def test_logout_ends_the_session_on_the_server(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    cookie = agent.cookies[SESSION_COOKIE]
    assert await _status_with(server, cookie) == 200
    other = await login(server, "rui@example.com")  # the same agent on another computer

    out = await agent.post("/api/v1/auth/logout")
    assert out.status_code == 204
    assert SESSION_COOKIE not in agent.cookies

    assert await _status_with(server, cookie) == 401  # the copied cookie opens nothing
    async with _with_cookie(server, cookie) as client:
        page = await client.get("/desktop", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
    assert (await other.get("/api/v1/auth/me")).status_code == 200  # only this session ended
    async with server.ctx.db.sessions() as db:
        rows = (await db.scalars(select(AgentSession))).all()
    assert sorted(row.revoked_at is None for row in rows) == [False, True]
    assert all(cookie not in row.id and len(row.id) == 64 for row in rows)  # stored hashed
    await agent.aclose()
    await other.aclose()


async def test_logout_without_a_session_is_harmless(server: Running, world: World) -> None:
    async with server.client() as client:
        assert (await client.post("/api/v1/auth/logout")).status_code == 204
    async with _with_cookie(server, "not-a-signed-value") as client:
        assert (await client.post("/api/v1/auth/logout")).status_code == 204


async def test_deactivation_revokes_every_session(server: Running, world: World) -> None:
    first = await login(server, "olga@example.com")
    second = await login(server, "olga@example.com")
    cookies = [first.cookies[SESSION_COOKIE], second.cookies[SESSION_COOKIE]]
    admin = await login(server, "admin@example.com")
    olga = world.agents["olga"].id

    off = await admin.patch(f"/api/v1/agents/{olga}", json={"active": False})
    assert off.status_code == 200, off.text
    assert [await _status_with(server, c) for c in cookies] == [401, 401]

    # back at work: the old sessions stay ended, a new login works
    on = await admin.patch(f"/api/v1/agents/{olga}", json={"active": True})
    assert on.status_code == 200, on.text
    assert [await _status_with(server, c) for c in cookies] == [401, 401]
    again = await login(server, "olga@example.com")
    assert (await again.get("/api/v1/auth/me")).status_code == 200
    for client in (first, second, admin, again):
        await client.aclose()


async def test_a_new_password_ends_the_other_sessions(server: Running, world: World) -> None:
    here = await login(server, "rui@example.com")
    thief = await login(server, "rui@example.com")
    stolen = thief.cookies[SESSION_COOKIE]

    wrong = await here.post(
        "/api/v1/auth/password",
        json={"current_password": "not it", "new_password": "a much better secret"},
    )
    assert wrong.status_code == 403 and wrong.json()["message"] == "the current password is wrong"
    assert (await thief.get("/api/v1/auth/me")).status_code == 200  # nothing changed yet
    changed = await here.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a much better secret"},
    )
    assert changed.status_code == 200, changed.text

    assert await _status_with(server, stolen) == 401
    assert (await here.get("/api/v1/auth/me")).status_code == 200  # a fresh cookie here
    async with server.client() as client:
        old = {"email": "rui@example.com", "password": PASSWORD}
        assert (await client.post("/api/v1/auth/login", json=old)).status_code == 401
        new = {"email": "rui@example.com", "password": "a much better secret"}
        assert (await client.post("/api/v1/auth/login", json=new)).status_code == 200
    await here.aclose()
    await thief.aclose()


async def test_an_expired_or_unknown_session_is_refused(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    cookie = agent.cookies[SESSION_COOKIE]
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(AgentSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await _status_with(server, cookie) == 401

    # A validly signed cookie that names an agent, as cookies did before sessions were
    # stored, opens nothing: only a stored session does.
    signer = URLSafeTimedSerializer(TEST_SECRET, salt=SESSION_SALT)
    rui = world.agents["rui"]
    assert await _status_with(server, signer.dumps({"a": rui.id, "o": rui.org_id})) == 401
    assert await _status_with(server, signer.dumps("a-secret-never-issued")) == 401
    await agent.aclose()


async def test_last_seen_is_kept_without_a_write_per_request(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    long_ago = utcnow() - timedelta(hours=1)
    async with server.ctx.uow() as uow:
        await uow.session.execute(update(AgentSession).values(last_seen_at=long_ago))
    assert (await agent.get("/api/v1/auth/me")).status_code == 200
    async with server.ctx.db.sessions() as db:
        seen = await db.scalar(select(AgentSession.last_seen_at))
    assert seen is not None and seen > long_ago + timedelta(minutes=59)
    await agent.aclose()


def _cookie_attributes(response: httpx.Response) -> set[str]:
    header = response.headers["set-cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=")
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


@pytest.fixture
async def https_server(settings: Settings) -> AsyncIterator[Running]:
    """Threadline whose public URL is https (TLS ended by a proxy in front of it)."""
    https = settings.model_copy(update={"base_url": "https://contact.example.com"})
    app = create_app(https)
    async with serving(app, port=free_port(), ws="websockets-sansio", lifespan="on") as url:
        yield Running(url, app.state.ctx)


async def _login_response(running: Running) -> httpx.Response:
    async with running.client() as client:
        response = await client.post(
            "/api/v1/auth/login", json={"email": "rui@example.com", "password": PASSWORD}
        )
    assert response.status_code == 200, response.text
    return response


async def test_the_cookie_is_secure_when_the_base_url_is_https(
    https_server: Running,
) -> None:
    await make_world(https_server.ctx)
    response = await _login_response(https_server)
    assert {"secure", "httponly", "samesite", "path", "max-age"} <= _cookie_attributes(response)
    assert "samesite=lax" in response.headers["set-cookie"].lower()


async def test_the_cookie_is_not_secure_on_plain_http(server: Running, world: World) -> None:
    response = await _login_response(server)
    attributes = _cookie_attributes(response)
    assert "secure" not in attributes and "httponly" in attributes


async def _closed_with(ws: ClientConnection) -> int | None:
    """Read frames until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=5)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def _stream_with_cookie(server: Running, cookie: str) -> ClientConnection:
    ws = await websockets.connect(
        f"{server.ws_url}/api/v1/stream",
        additional_headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
        origin=Origin(server.base_url),
    )
    assert json.loads(await ws.recv())["type"] == "hello"
    return ws


async def test_an_ended_session_closes_the_desktops_it_opened(
    server: Running, world: World
) -> None:
    """Logout closes this session's live stream at once (not at the next reconnect); the same
    agent's other computer stays live; deactivation closes every stream of the agent, API
    token ones too."""
    here = await login(server, "rui@example.com")
    there = await login(server, "rui@example.com")
    token = (await here.post("/api/v1/auth/tokens", json={"name": "wallboard"})).json()["token"]
    mine = await _stream_with_cookie(server, here.cookies[SESSION_COOKIE])
    other = await _stream_with_cookie(server, there.cookies[SESSION_COOKIE])
    async with authed_socket(f"{server.ws_url}/api/v1/stream", token) as by_token:
        assert json.loads(await by_token.recv())["type"] == "hello"

        assert (await here.post("/api/v1/auth/logout")).status_code == 204
        assert await _closed_with(mine) == 4401
        await other.ping()  # still open

        admin = await login(server, "admin@example.com")
        rui = world.agents["rui"].id
        off = await admin.patch(f"/api/v1/agents/{rui}", json={"active": False})
        assert off.status_code == 200, off.text
        assert await _closed_with(other) == 4401
        assert await _closed_with(by_token) == 4401
    for client in (here, there, admin):
        await client.aclose()
