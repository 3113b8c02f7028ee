"""Brute force and abuse: login lockouts that grow, per account and per address; public
endpoints limited per client address; chat frames per visitor. Answers are 429 with
Retry-After and a problem body. SQLite and PostgreSQL; windows shortened so tests are fast."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD, Running, World, authed_socket
from tests.fakes.http_server import free_port, serving
from threadline.app import create_app
from threadline.config import Settings

LOCKOUT_S = 2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "login_failures_per_account": 5,
            "login_failures_per_address": 12,
            "login_failure_window_s": 60,
            "login_lockout_s": LOCKOUT_S,
            "login_lockout_max_s": 8 * LOCKOUT_S,
            "trusted_proxies": [],  # the tests' client is on loopback, a proxy by default
            "rate_limits": {
                "widget_session": "5/minute",
                "app_session": "5/minute",
                "callback_manage": "3/minute",
                "chat_message": "3/minute",
            },
        }
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Running]:
    """Served as `threadline serve` serves: uvicorn does not rewrite the client address
    from X-Forwarded-For (Settings.trusted_proxies decides)."""
    port = free_port()
    settings = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    app = create_app(settings)
    async with serving(
        app, port=port, ws="websockets-sansio", lifespan="on", proxy_headers=False
    ) as base_url:
        yield Running(base_url, app.state.ctx)


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def _assert_limited(response: httpx.Response) -> int:
    """A 429 problem with Retry-After; returns the seconds it asks to wait."""
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "rate_limited"
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert response.json()["details"]["retry_after_s"] == retry_after
    return retry_after


async def test_failed_logins_lock_the_account_with_growing_delays(
    server: Running, world: World
) -> None:
    async with server.client() as client:
        for _ in range(5):
            assert (await _login(client, "rui@example.com", "guess")).status_code == 401
        _assert_limited(await _login(client, "rui@example.com", "guess"))  # the 6th
        # the right password is refused too while locked, and nobody else is locked
        _assert_limited(await _login(client, "rui@example.com", PASSWORD))
        assert (await _login(client, "olga@example.com", PASSWORD)).status_code == 200

        await asyncio.sleep(LOCKOUT_S + 0.2)
        # the failures are still in their window: one more wrong password locks again,
        # twice as long
        assert (await _login(client, "rui@example.com", "guess")).status_code == 401
        assert _assert_limited(await _login(client, "rui@example.com", PASSWORD)) > LOCKOUT_S
        await asyncio.sleep(2 * LOCKOUT_S + 0.2)

        # the lockout over, the right password works and clears the account's count
        assert (await _login(client, "rui@example.com", PASSWORD)).status_code == 200
        for _ in range(4):
            assert (await _login(client, "rui@example.com", "guess")).status_code == 401


async def test_an_unknown_account_is_locked_alike(server: Running, world: World) -> None:
    """The lockout does not tell whether an account exists."""
    answers: dict[str, list[Any]] = {}
    async with server.client() as client:
        for email in ("rui@example.com", "nobody@example.com"):
            statuses = [(await _login(client, email, "guess")).status_code for _ in range(6)]
            locked = await _login(client, email, "guess")
            answers[email] = [statuses, locked.status_code, locked.json()["message"]]
    assert answers["rui@example.com"] == answers["nobody@example.com"]
    assert answers["nobody@example.com"][0] == [401] * 5 + [429]


async def test_failures_from_one_address_lock_it_for_every_account(
    server: Running, world: World
) -> None:
    """Spraying one password over many accounts (each under its own limit) locks the
    address; a success of the sprayer's own account on the way does not reset the count."""
    async with server.client() as client:
        for n in range(11):
            assert (await _login(client, f"user{n}@example.com", "guess")).status_code == 401
            if n == 5:
                assert (await _login(client, "nikos@example.com", PASSWORD)).status_code == 200
        assert (await _login(client, "user11@example.com", "guess")).status_code == 401  # 12th
        _assert_limited(await _login(client, "olga@example.com", PASSWORD))
        _assert_limited(await _login(client, "admin@example.com", PASSWORD))


async def test_parallel_guesses_meet_the_lock(server: Running, world: World) -> None:
    """A burst of guesses sent at once: one attempt at an account is checked at a time, so
    no more passwords than the limit are ever checked."""
    async with server.client() as client:
        answers = await asyncio.gather(
            *(_login(client, "rui@example.com", f"guess {n}") for n in range(20))
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(401) <= 5 and statuses.count(429) >= 15, statuses


async def test_a_widget_session_flood_is_refused(server: Running, world: World) -> None:
    url = f"/api/v1/widget/{world.widget.key}/session"
    async with server.client() as client:
        for _ in range(5):
            assert (await client.post(url, json={})).status_code == 200
        limited = await client.post(url, json={}, headers={"Origin": "https://shop.example"})
        _assert_limited(limited)
        # the widget runs on the company's site: it may read the refusal and when to retry
        assert limited.headers["access-control-allow-origin"] == "*"
        assert "Retry-After" in limited.headers["access-control-expose-headers"]
        # X-Forwarded-For is not believed from a peer that is not a trusted proxy
        spoofed = await client.post(url, json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        _assert_limited(spoofed)
        # malformed requests are counted too (the limit comes before the body is read)
        _assert_limited(await client.post(url, content=b"{"))
        # a key of the client's choosing opens no fresh count
        _assert_limited(await client.post("/api/v1/widget/no-such-widget/session", json={}))


async def test_an_app_session_flood_is_refused(server: Running, world: World) -> None:
    async with server.client() as client:
        answers = [
            (await client.post(f"/api/v1/app/{world.widget.key}/session", json={})).status_code
            for _ in range(6)
        ]
    assert answers[-1] == 429 and 429 not in answers[:5], answers


async def test_callback_manage_links_are_limited(server: Running, world: World) -> None:
    async with server.client() as client:
        answers = [
            await client.post("/api/v1/public/callbacks/not-a-token/cancel") for _ in range(4)
        ]
    assert 429 not in [a.status_code for a in answers[:3]], [a.text for a in answers]
    _assert_limited(answers[3])


async def _next(ws: Any, wanted: set[str]) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in wanted:
                return frame

    return await asyncio.wait_for(_loop(), 10)


async def test_chat_messages_are_limited_per_visitor(server: Running, world: World) -> None:
    async with server.client() as client:
        session = (await client.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with authed_socket(url, session["visitor_token"]) as visitor:
        answers = []
        for n in range(4):
            frame = {"type": "message", "client_id": f"m-{n}", "text": f"hello {n}"}
            await visitor.send(json.dumps(frame))
            answers.append(await _next(visitor, {"ack", "error"}))
        # typing beyond its own limit is dropped without an answer; nothing breaks
        await visitor.send(json.dumps({"type": "typing", "on": True}))
    assert [a["type"] for a in answers] == ["ack", "ack", "ack", "error"]
    assert answers[3]["code"] == "rate_limited" and answers[3]["client_id"] == "m-3"
