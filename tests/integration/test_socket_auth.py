"""No credential in a URL or a log line (issue 8, item 5).

`threadline serve` runs as a person runs it, its output (uvicorn's access log included)
captured; visitors, app customers and API clients authenticate their sockets by the first
frame; then every URL a careless client or a stranger could send with a credential in it
is requested, and no credential may appear in the log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import PASSWORD, TEST_SECRET, World, make_world
from tests.fakes.http_server import free_port
from threadline.app import build_context
from threadline.config import Settings
from threadline.logging import REDACTED

THREADLINE = Path(sys.executable).parent / "threadline"


@pytest.fixture
async def world_db(settings: Settings) -> World:
    """A small organisation in the database the served process will use."""
    ctx = build_context(settings)
    try:
        return await make_world(ctx)
    finally:
        await ctx.db.dispose()


@pytest.fixture
def served(settings: Settings, world_db: World, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`threadline serve` on a free port, INFO logs (the access log) going to a file."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "THREADLINE_DATABASE_URL": settings.database_url,
        "THREADLINE_SECRET_KEY": TEST_SECRET,
        "THREADLINE_BASE_URL": base_url,
        "THREADLINE_LOG_LEVEL": "INFO",
        "THREADLINE_EMAIL_ATTACHMENTS_DIR": str(tmp_path / "files"),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(THREADLINE), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            _wait_until_up(base_url, process)
            yield base_url, log
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


@asynccontextmanager
async def _socket(url: str, first: dict[str, Any] | None) -> AsyncIterator[Any]:
    async with websockets.connect(url) as ws:
        if first is not None:
            await ws.send(json.dumps(first))
        yield ws


async def _close_code(url: str, first: dict[str, Any] | None = None) -> int | None:
    async with _socket(url, first) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code


async def test_no_token_reaches_the_access_log(served: tuple[str, Path], world_db: World) -> None:
    base_url, log = served
    ws_url = base_url.replace("http://", "ws://")
    widget = f"{ws_url}/api/v1/widget/{world_db.widget.key}/ws"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        visitor = await http.post(f"/api/v1/widget/{world_db.widget.key}/session", json={})
        visitor_token = visitor.json()["visitor_token"]
        login = await http.post(
            "/api/v1/auth/login", json={"email": "rui@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        api_token = (await http.post("/api/v1/auth/tokens", json={"name": "crm"})).json()["token"]
        session_cookie = http.cookies["tl_session"]

        # the clients' way: the token in the first frame
        async with _socket(widget, {"type": "auth", "token": visitor_token}) as ws:
            await ws.send(json.dumps({"type": "message", "client_id": "c1", "text": "hi"}))
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            while frame["type"] != "ack":
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        async with _socket(f"{ws_url}/api/v1/stream", {"type": "auth", "token": api_token}) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"

        # an old or careless client puts them in the URL: refused, and not logged either
        assert await _close_code(f"{widget}?token={visitor_token}") == 4401
        assert await _close_code(f"{ws_url}/api/v1/stream?token={api_token}") == 4401
        strays = [
            f"/api/v1/auth/me?access_token={api_token}",
            f"/api/v1/widget/{world_db.widget.key}/wait?visitor_token={visitor_token}",
            f"/healthz?session={session_cookie}",
            f"/healthz?next=/desktop&state={visitor_token}",  # any name, a signed value
            f"/callback/{visitor_token}",  # capability links: the path is the credential
            f"/media/{visitor_token}/statement.pdf",
            f"/api/v1/public/callbacks/{visitor_token}",
        ]
        for path in strays:
            await http.get(path)
    await asyncio.sleep(0.5)  # let the access log flush
    text = log.read_text(errors="replace")

    assert "GET /healthz" in text and "WebSocket /api/v1/stream" in text, text[-2000:]
    assert REDACTED in text
    for secret in (visitor_token, api_token, session_cookie):
        assert secret not in text, f"a credential reached the log:\n{text}"
        # nor any recognisable part of it (a signed token's signature, an API token's body)
        assert secret.rsplit(".", 1)[-1] not in text
        assert secret.removeprefix("tl_")[:20] not in text
