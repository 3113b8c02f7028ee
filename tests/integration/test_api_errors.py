"""Bad input never yields a 500: a walk over every write operation of the served OpenAPI
document with garbage bodies, unknown ids and garbage query parameters, and malformed
WebSocket frames, which get an error frame while the socket stays usable."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import websockets

from tests.conftest import Running, World, login
from tests.integration.test_openapi import (
    body_schema,
    example_body,
    fill_path,
    is_upload,
    operations,
    resolve,
    served_document,
)

WRONG_VALUES: list[Any] = [
    None,
    True,
    -1,
    10**30,
    1.5,
    "",
    "x" * 100_000,
    "nul\x00byte",
    "🙂" * 300,
    [1, "two", None],
    {"nested": {"deeper": [1]}},
]
RAW_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"{not json"),
    ("application/json", b""),
    ("application/json", b"\xff\xfe\x00garbage"),
    ("application/json", b'{"a": ' * 5000),
    ("application/x-www-form-urlencoded", b"a=b&c=d"),
    ("text/plain", b"hello"),
]
JSON_BODIES: list[Any] = [None, [], "string", 12, [{}], {"unexpected": "field"}]


def assert_problem(response: httpx.Response, what: Any) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), what
        body = response.json()
        assert isinstance(body.get("code"), str) and body["code"], (what, body)
        assert isinstance(body.get("message"), str) and body["message"], (what, body)


async def _fixture_ids(server: Running, world: World) -> dict[str, str]:
    """Real ids for every path parameter, so that garbage reaches the services."""
    rui = await login(server, "rui@example.com")
    assert (
        await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    ).status_code == 200
    session = (await rui.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    async with websockets.connect(
        f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws?token={session['visitor_token']}"
    ) as visitor:
        await visitor.send(json.dumps({"type": "message", "client_id": "c1", "text": "hello"}))
        ack = await _recv_type(visitor, "ack")
    offers: list[dict[str, Any]] = []
    for _ in range(100):
        offers = (await rui.get("/api/v1/offers")).json()
        if offers:
            break
        await asyncio.sleep(0.05)
    assert offers, "no offer for rui"
    token = (await rui.post("/api/v1/auth/tokens", json={"name": "t"})).json()
    await rui.aclose()
    return {
        "agent_id": world.agents["olga"].id,
        "queue_id": world.queues["cards"].id,
        "customer_id": session["customer_id"],
        "thread_id": ack["thread_id"],
        "offer_id": offers[0]["id"],
        "token_id": token["id"],
        "key": world.widget.key,
        "contact_id": offers[0]["contact_id"],
        "endpoint_id": world.widget.id,
        "callback_id": "no-such-callback",  # garbage must still give a problem, not a 500
        "token": "not-a-signed-token",
    }


async def _recv_type(ws: Any, *wanted: str, timeout: float = 5) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] in wanted:
                return frame

    return await asyncio.wait_for(_loop(), timeout)


async def test_garbage_bodies_get_problems_not_500(server: Running, world: World) -> None:
    doc = await served_document(server)
    ids = await _fixture_ids(server, world)
    admin = await login(server, "admin@example.com")
    walked = 0
    for method, path, operation in operations(doc):
        schema = body_schema(doc, operation)
        if schema is None:
            continue
        walked += 1
        url = fill_path(path, ids)
        for content_type, raw in RAW_BODIES:
            response = await admin.request(
                method, url, content=raw, headers={"Content-Type": content_type}
            )
            assert_problem(response, (method, path, raw[:20]))
            if schema.get("required"):
                assert 400 <= response.status_code < 500, (method, path, raw[:20])
        for body in JSON_BODIES:
            response = await admin.request(method, url, json=body)
            assert_problem(response, (method, path, body))
            if not isinstance(body, dict):
                assert response.status_code == 422, (method, path, body)
        if schema.get("required"):
            missing = await admin.request(method, url, json={})
            assert_problem(missing, (method, path, "{}"))
            assert missing.status_code == 422, (method, path)
            assert missing.json()["code"] == "invalid"
        base = example_body(doc, schema)
        for name in resolve(doc, schema).get("properties", {}):
            for value in WRONG_VALUES:
                body = {**base, name: value}
                if "name" in body and isinstance(body["name"], str) and body["name"]:
                    # queue names are unique: do not let the walk collide with itself
                    body["name"] += f"-{uuid.uuid4().hex[:6]}"
                response = await admin.request(method, url, json=body)
                assert_problem(response, (method, path, name, repr(value)[:40]))
    assert walked >= 15
    await admin.aclose()


async def test_duplicate_queue_name_on_create_is_a_conflict(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    response = await admin.post("/api/v1/queues", json={"name": "Cards"})
    assert_problem(response, "duplicate")
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    await admin.aclose()


async def test_renaming_a_queue_to_a_taken_name_is_a_conflict(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    response = await admin.put(
        f"/api/v1/queues/{world.queues['cards'].id}", json={"name": "General"}
    )
    await admin.aclose()
    assert_problem(response, "rename")
    assert response.status_code == 409 and response.json()["code"] == "conflict"


async def test_unknown_ids_are_404(server: Running, world: World) -> None:
    doc = await served_document(server)
    ids = await _fixture_ids(server, world)
    admin = await login(server, "admin@example.com")
    walked = 0
    for method, path, operation in operations(doc):
        names = re.findall(r"\{(\w+)\}", path)
        if not names:
            continue
        schema = body_schema(doc, operation)
        body = example_body(doc, schema) if schema else None
        if path.endswith("/merge"):
            body = {"source_id": ids["customer_id"]}
        if path.endswith("/transfer"):
            body = {"queue_id": ids["queue_id"]}
        if path.endswith("/messages"):  # a body or a template: the schema cannot say "one of"
            body = {"body": "hello"}
        if path.endswith("/reschedule"):  # a valid body, so the unknown id is what fails
            body = {"window_start": "2030-01-07T09:00:00+00:00"}
        for name in names:
            for unknown in (str(uuid.uuid4()), "x" * 2000, "%F0%9F%99%82", "%00"):
                url = fill_path(path, {**ids, name: unknown})
                if is_upload(operation):  # a real file, so the unknown id is what fails
                    upload = {"file": ("note.txt", b"hello", "text/plain")}
                    response = await admin.request(method, url, files=upload)
                else:
                    response = await admin.request(method, url, json=body)
                assert_problem(response, (method, path, unknown[:10]))
                if unknown == "%00":  # no id holds a NUL; PostgreSQL cannot even look it up
                    assert response.status_code in (404, 422), (method, path, response.text)
                    continue
                assert response.status_code == 404, (method, path, unknown[:10], response.text)
                assert response.json()["code"] == "not_found"
        walked += 1
    assert walked >= 15
    async with server.client() as anonymous:  # paths that do not exist are problems too
        for method, url in [("get", "/api/v1/nothing-here"), ("delete", "/api/v1/threads")]:
            response = await anonymous.request(method, url)
            assert response.status_code in (404, 405)
            assert_problem(response, url)
    await admin.aclose()


async def test_garbage_query_parameters(server: Running, world: World) -> None:
    doc = await served_document(server)
    ids = await _fixture_ids(server, world)
    admin = await login(server, "admin@example.com")
    for method, path, operation in operations(doc):
        if method != "get":
            continue
        url = fill_path(path, ids)
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            for value in ["", "abc", "-1", str(10**30), "1e400", "x" * 5000, "\x00", "🙂"]:
                response = await admin.get(url, params={parameter["name"]: value})
                assert_problem(response, (path, parameter["name"], value[:10]))
    await admin.aclose()


MALFORMED_FRAMES: list[str | bytes] = [
    "not json at all",
    "{",
    b"\x00\x01binary",
    "[]",
    '"a string"',
    "42",
    "null",
    "{}",
    '{"type": 5}',
    '{"type": "' + "t" * 50 + '"}',
    '{"type": "message"}',
    '{"type": "message", "text": ""}',
    '{"type": "message", "text": "   "}',
    json.dumps({"type": "message", "text": "x" * 20_000}),
    json.dumps({"type": "message", "text": "ok", "client_id": "c" * 100}),
    '{"type": "message", "text": ["a"]}',
    '{"type": "read", "seq": -1}',
    '{"type": "read", "seq": "many"}',
    '{"type": "resume", "after_seq": -5}',
    '{"type": "typing", "on": "maybe"}',
    '{"type": "identify", "email": "not-an-email"}',
    '{"type": "identify", "email": 123}',
    '{"type": "identify", "phone": "call me"}',
    json.dumps({"type": "identify", "name": "n" * 1000}),
    '{"type": "no-such-type"}',
]


async def test_malformed_widget_frames_get_error_frames(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        session = (
            await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        ).json()
    async with websockets.connect(
        f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws?token={session['visitor_token']}"
    ) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "first", "text": "hi"}))
        assert (await _recv_type(ws, "ack"))["seq"] == 1
        for number, frame in enumerate(MALFORMED_FRAMES):
            await ws.send(frame)
            error = await _recv_type(ws, "error", "ack")
            assert error["type"] == "error", (frame, error)
            assert error["code"] and error["message"], (frame, error)
            # and the socket still works
            await ws.send(json.dumps({"type": "message", "client_id": f"ok-{number}", "text": "k"}))
            assert (await _recv_type(ws, "ack"))["client_id"] == f"ok-{number}", frame
        # absurd numbers are refused, not sent to the database
        for frame in [
            {"type": "resume", "after_seq": 10**30},
            {"type": "read", "seq": 10**30},
            {"type": "delivered", "seq": 2**31},
        ]:
            await ws.send(json.dumps(frame))
            error = await _recv_type(ws, "error")
            assert error["code"] == "invalid", error
        # a read pointer beyond the thread is clamped; typing and resume need no answer
        for frame in [
            {"type": "read", "seq": 2**31 - 1},
            {"type": "typing", "on": True},
            {"type": "resume", "after_seq": 2**31 - 1},
        ]:
            await ws.send(json.dumps(frame))
        await ws.send(json.dumps({"type": "message", "client_id": "last", "text": "still here"}))
        ack = await _recv_type(ws, "ack", "error")
        assert ack["type"] == "ack" and ack["client_id"] == "last", ack
    async with server.client() as anonymous:
        restored = (
            await anonymous.post(
                f"/api/v1/widget/{world.widget.key}/session",
                json={"visitor_token": session["visitor_token"]},
            )
        ).json()
    assert [e["body"] for e in restored["events"] if e["kind"] == "message"][-1] == "still here"


async def test_malformed_desktop_frames_keep_the_stream(server: Running, world: World) -> None:
    rui = await login(server, "rui@example.com")
    cookie = rui.cookies.get("tl_session")
    async with websockets.connect(
        f"{server.ws_url}/api/v1/stream", additional_headers={"Cookie": f"tl_session={cookie}"}
    ) as desk:
        await _recv_type(desk, "hello")
        for frame in [
            "not json",
            b"\x00binary",
            "[1, 2]",
            '{"type": "watch"}',
            json.dumps({"type": "watch", "thread_id": "t" * 100}),
            json.dumps({"type": "typing", "thread_id": str(uuid.uuid4()), "on": True}),
            json.dumps({"type": "typing", "thread_id": 5}),
        ]:
            await desk.send(frame)
        # still connected: an org-wide event reaches it
        changed = await rui.put("/api/v1/agents/me/presence", json={"presence": "away"})
        assert changed.status_code == 200
        presence = await _recv_type(desk, "agent.presence")
        assert presence["agent_id"] == world.agents["rui"].id
        assert presence["presence"] == "away"
    await rui.aclose()
