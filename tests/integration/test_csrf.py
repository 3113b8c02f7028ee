"""Cross-origin requests (issue 8, item 2): a page of another origin, even another port of
this very host, cannot use an agent's session cookie to write (upload, reply, log in) or to
open the desktop and supervisor stream. Our own pages, bearer tokens, non-browser clients,
the customer-facing APIs and provider webhooks keep working."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import PASSWORD, Running, World, login, take_thread
from tests.integration.test_routing_flow import visitor_writes
from threadline.config import Settings

FOREIGN = "http://127.0.0.1:1"  # another port of the same host: the same *site*
EVIL = "https://evil.example"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"email_attachments_dir": tmp_path / "files"})


def refused(response: httpx.Response) -> str:
    """The reason of a cross-origin refusal (asserting it is one)."""
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "cross_origin", body
    assert response.headers["x-content-type-options"] == "nosniff"
    return str(body["message"])


async def _agent_with_thread(server: Running, world: World) -> tuple[httpx.AsyncClient, str]:
    thread_id = await visitor_writes(server.ctx, world, "v-csrf", "my card is lost")
    return await take_thread(server, "rui@example.com", thread_id), thread_id


def _upload() -> dict[str, Any]:
    return {"files": {"file": ("note.txt", b"hello", "text/plain")}}


async def test_a_foreign_page_cannot_upload_or_reply_with_the_agents_cookie(
    server: Running, world: World
) -> None:
    rui, thread_id = await _agent_with_thread(server, world)
    upload = f"/api/v1/threads/{thread_id}/attachments"
    reply = f"/api/v1/threads/{thread_id}/messages"
    text = {"body": "hello", "client_msg_id": "x1"}
    try:
        # the attack of the issue: a page on another port of this host
        reason = refused(await rui.post(upload, headers={"Origin": FOREIGN}, **_upload()))
        assert FOREIGN in reason
        refused(await rui.post(reply, json=text, headers={"Origin": EVIL}))
        # a modern browser says where the request comes from, whatever the Origin
        for site in ("same-site", "cross-site"):
            headers = {"Sec-Fetch-Site": site, "Origin": FOREIGN}
            assert site in refused(await rui.post(reply, json=text, headers=headers))
        refused(
            await rui.put(
                "/api/v1/agents/me/presence", json={"presence": "away"}, headers={"Origin": "null"}
            )
        )
        refused(await rui.post("/api/v1/auth/logout", headers={"Origin": EVIL}))
        # nothing was written
        timeline = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
        assert not [e for e in timeline if e["kind"] == "message" and e["author_type"] == "agent"]

        # our own pages: the Origin of the base URL, or the browser's own same-origin verdict
        own = {"Origin": server.base_url}
        assert (await rui.post(upload, headers=own, **_upload())).status_code == 201
        same = {"Sec-Fetch-Site": "same-origin", "Origin": server.base_url}
        sent = await rui.post(reply, json=text, headers=same)
        assert sent.status_code == 201, sent.text
        # a client that is not a browser sends neither header (curl, scripts, these tests)
        assert (await rui.post(upload, **_upload())).status_code == 201
        # reading is never refused: GET changes nothing
        events = await rui.get(f"/api/v1/threads/{thread_id}/events", headers={"Origin": EVIL})
        assert events.status_code == 200
    finally:
        await rui.aclose()


async def test_bearer_tokens_and_public_apis_work_from_any_origin(
    server: Running, world: World
) -> None:
    rui, thread_id = await _agent_with_thread(server, world)
    token = (await rui.post("/api/v1/auth/tokens", json={"name": "crm"})).json()["token"]
    # a bearer token is no ambient credential: a cookie riding along is not what is used
    bearer = {"Authorization": f"Bearer {token}", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    sent = await rui.post(
        f"/api/v1/threads/{thread_id}/notes", json={"body": "from the CRM"}, headers=bearer
    )
    assert sent.status_code == 201, sent.text
    # the widget is called from customers' sites; an agent's cookie beside it changes nothing
    cross = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    session = await rui.post(f"/api/v1/widget/{world.widget.key}/session", json={}, headers=cross)
    assert session.status_code == 200, session.text
    assert session.headers["access-control-allow-origin"] == "*"
    await rui.aclose()


async def test_login_from_a_foreign_page_is_refused(server: Running, world: World) -> None:
    """Login CSRF: a foreign page must not sign a victim into an account it chose."""
    credentials = {"email": "rui@example.com", "password": PASSWORD}
    async with server.client() as browser:
        reason = refused(
            await browser.post("/api/v1/auth/login", json=credentials, headers={"Origin": EVIL})
        )
        assert "Origin" in reason
        assert "tl_session" not in browser.cookies
        ok = await browser.post(
            "/api/v1/auth/login", json=credentials, headers={"Origin": server.base_url}
        )
        assert ok.status_code == 200, ok.text


async def _stream_frame(url: str, **kwargs: Any) -> dict[str, Any]:
    async with websockets.connect(url, **kwargs) as ws:
        return dict(json.loads(await asyncio.wait_for(ws.recv(), 5)))


async def test_the_stream_refuses_a_cookie_from_a_foreign_page(
    server: Running, world: World
) -> None:
    """The supervisor's live stream: a foreign page's socket is refused at the handshake
    (HTTP 403 with a reason), before a single event is sent."""
    nikos = await login(server, "nikos@example.com")
    cookie = {"Cookie": f"tl_session={nikos.cookies['tl_session']}"}
    stream = f"{server.ws_url}/api/v1/stream"
    try:
        for origin in (FOREIGN, EVIL, "null"):
            with pytest.raises(websockets.InvalidStatus) as denied:
                await _stream_frame(stream, additional_headers=cookie, origin=origin)  # type: ignore[arg-type]
            response = denied.value.response
            assert response.status_code == 403
            problem = json.loads(response.body or b"{}")
            assert problem["code"] == "cross_origin" and origin in problem["message"]
        # our own page, and a client that is no browser (no Origin), are served
        hello = await _stream_frame(stream, additional_headers=cookie, origin=server.base_url)  # type: ignore[arg-type]
        assert hello["type"] == "hello" and hello["role"] == "supervisor"
        assert (await _stream_frame(stream, additional_headers=cookie))["type"] == "hello"
    finally:
        await nikos.aclose()
