"""Bad input never yields a 500: a walk over every write operation of the served OpenAPI
document with garbage bodies, unknown ids and garbage query parameters, and malformed
WebSocket frames, which get an error frame while the socket stays usable."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.conftest import Running, World, add_endpoint, count, login
from tests.fakes.telegram import running_fake_telegram
from tests.fakes.twilio import ACCOUNT_SID as TWILIO_ACCOUNT_SID
from tests.fakes.twilio import AUTH_TOKEN as TWILIO_AUTH_TOKEN
from tests.fakes.twilio import running_fake_twilio
from tests.integration.test_openapi import (
    body_schema,
    example_body,
    fill_path,
    is_upload,
    operations,
    resolve,
    served_document,
)
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.threads.models import ThreadEvent


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The walks send thousands of requests from one address: the abuse limits (tested in
    their own module) would answer them with 429 before the code they are aimed at."""
    return settings.model_copy(update={"rate_limits_enabled": False})


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


# valid bodies for the inbox's routes with ids (inbox/), so the unknown id is what fails
INBOX_BODIES: dict[str, Any] = {
    "/api/v1/labels/{label_id}": {"name": "VIP"},
    "/api/v1/canned-replies/{canned_id}": {"shortcut": "hi", "title": "Hi", "body": "Hello"},
    "/api/v1/macros/{macro_id}": {"name": "Done", "then": "resolve", "resolve_reason": "other"},
    "/api/v1/threads/{thread_id}/snooze": {"preset": "1h"},
    "/api/v1/threads/{thread_id}/reopen": {},
    "/api/v1/customers/{customer_id}/identities/{identity_id}": {"value": "ana@example.com"},
    # a valid body, so the unknown id is what fails
    "/api/v1/planning/queues/{queue_id}/simulations": {"day": "2030-01-07"},
}


async def _fixture_ids(server: Running, world: World) -> dict[str, str]:
    """Real ids for every path parameter, so that garbage reaches the services."""
    rui = await login(server, "rui@example.com")
    assert (
        await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    ).status_code == 200
    session = (await rui.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    async with widget_socket(server, world, session["visitor_token"]) as visitor:
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
        "subscription_id": "no-such-webhook",
        "delivery_id": "no-such-delivery",
        "token": "not-a-signed-token",
        "category_id": "no-such-category",
        "article_id": "no-such-article",
        "incident_id": "no-such-incident",
        "label_id": "no-such-label",
        "canned_id": "no-such-canned-reply",
        "macro_id": "no-such-macro",
        "flow_id": "no-such-flow",
        "survey_id": "no-such-survey",
        "language": "pt",
        "slug": "no-such-article",
        "code": "no-such-reason",
        "team_id": "no-such-team",
        "run_id": "no-such-simulation",
        "sha256": "0" * 64,  # a digest the thread names no file by
        "identity_id": "no-such-identity",
    }


@asynccontextmanager
async def widget_socket(
    server: Running, world: World, visitor_token: str
) -> AsyncIterator[ClientConnection]:
    """The visitor's chat socket, authenticated by its first frame (never the URL)."""
    async with websockets.connect(f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws") as ws:
        await ws.send(json.dumps({"type": "auth", "token": visitor_token}))
        yield ws


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
        if path.endswith("/affected"):  # a valid body, so the unknown id is what fails
            body = {"phones": ["+15550000000"]}
        if path.endswith("/reschedule"):  # a valid body, so the unknown id is what fails
            body = {"window_start": "2030-01-07T09:00:00+00:00"}
        body = INBOX_BODIES.get(path, body)
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
    async with widget_socket(server, world, session["visitor_token"]) as ws:
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


# NUL (U+0000): PostgreSQL cannot store it in text and no person types it. The API refuses it
# once, at the boundary, with a 422 that says where it was; provider webhooks keep the text
# with the NUL as U+FFFD (a refusal would make the provider retry the whole batch).


# httpx would send the filename as "a%00.txt": a raw multipart body carries the NUL itself
NUL_UPLOAD_TYPE = "multipart/form-data; boundary=nul-boundary"
NUL_FILENAME_UPLOAD = (
    b"--nul-boundary\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a\x00.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nhello\r\n--nul-boundary--\r\n"
)


async def test_nul_anywhere_in_a_request_is_a_422_naming_where(
    server: Running, world: World
) -> None:
    ids = await _fixture_ids(server, world)
    admin = await login(server, "admin@example.com")
    thread = ids["thread_id"]
    customers_before = await count(server, Customer)
    notes_before = await count(server, ThreadEvent, ThreadEvent.kind == "note")
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("post", "/api/v1/customers", {"json": {"name": "Ana\x00"}}, ["body", "name"]),
        (
            "post",
            "/api/v1/customers",
            {"json": {"attributes": {"k": ["a", "\x00"]}}},
            ["body", "attributes", "k", 1],
        ),
        (
            "post",
            "/api/v1/customers",
            {"json": {"attributes": {"\x00": 1}}},
            ["body", "attributes", "\x00"],
        ),
        (
            "patch",
            f"/api/v1/customers/{ids['customer_id']}",
            {"json": {"name": "\x00"}},
            ["body", "name"],
        ),
        ("post", f"/api/v1/threads/{thread}/notes", {"json": {"body": "a\x00b"}}, ["body", "body"]),
        (
            "post",
            f"/api/v1/threads/{thread}/attachments",
            {"content": NUL_FILENAME_UPLOAD, "headers": {"Content-Type": NUL_UPLOAD_TYPE}},
            ["body", "file"],
        ),
        ("get", "/api/v1/customers", {"params": {"q": "\x00"}}, ["query", "q"]),
        ("get", "/api/v1/customers/%00", {}, ["path", "customer_id"]),
        ("get", f"/api/v1/threads/{thread}/events", {"params": {"x\x00": "1"}}, ["query", "x\x00"]),
    ]
    for method, url, kwargs, loc in cases:
        response = await admin.request(method, url, **kwargs)
        assert_problem(response, (method, url, loc))
        assert response.status_code == 422, (method, url, response.text)
        body = response.json()
        assert body["code"] == "invalid" and "NUL" in body["message"], body
        assert body["details"]["errors"] == [{"loc": loc, "msg": body["message"]}], body
    async with server.client() as anonymous:  # public operations too, before anything else
        response = await anonymous.post(
            f"/api/v1/widget/{world.widget.key}/session", json={"visitor_token": "\x00"}
        )
        assert response.status_code == 422 and "NUL" in response.json()["message"]
        response = await anonymous.post("/api/v1/auth/login", json={"email": "a\x00@b.c"})
        assert response.status_code == 422 and "NUL" in response.json()["message"]
    assert await count(server, Customer) == customers_before
    assert await count(server, ThreadEvent, ThreadEvent.kind == "note") == notes_before
    # a backslash-zero typed as two characters is text like any other
    note = await admin.post(f"/api/v1/threads/{thread}/notes", json={"body": "C:\\0 and \\u0000"})
    assert note.status_code == 201, note.text
    await admin.aclose()


async def test_nul_in_a_socket_frame_is_an_error_frame_and_stores_nothing(
    server: Running, world: World
) -> None:
    async with server.client() as anonymous:
        session = (
            await anonymous.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        ).json()
    async with widget_socket(server, world, session["visitor_token"]) as ws:
        for frame in [
            {"type": "message", "client_id": "n1", "text": "card\x00blocked"},
            {"type": "identify", "name": "\x00"},
            {"type": "message", "client_id": "n\x00", "text": "hello"},
        ]:
            await ws.send(json.dumps(frame))
            error = await _recv_type(ws, "error", "ack")
            assert error["type"] == "error" and error["code"] == "invalid", (frame, error)
            assert "NUL" in error["message"]
            assert error.get("client_id") == ("n1" if frame.get("client_id") == "n1" else None)
        await ws.send(json.dumps({"type": "message", "client_id": "ok", "text": "card blocked"}))
        assert (await _recv_type(ws, "ack"))["client_id"] == "ok"
    bodies = [e.body for e in await _customer_messages(server) if e.author_type == "customer"]
    assert bodies == ["card blocked"]
    # a NUL in the handshake's URL is refused before the socket opens
    for url in [f"/api/v1/widget/{world.widget.key}/ws?x=%00", "/api/v1/widget/a%00b/ws"]:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(server.ws_url + url):
                pass
        assert refused.value.response.status_code == 403, url


async def _customer_messages(server: Running) -> list[ThreadEvent]:
    async with server.ctx.db.sessions() as db:
        return list(
            await db.scalars(
                select(ThreadEvent).where(ThreadEvent.kind == "message").order_by(ThreadEvent.seq)
            )
        )


async def test_a_webhook_keeps_text_with_nul_as_replacement_character(
    server: Running, world: World
) -> None:
    """A provider's batch is not refused over a NUL: Telegram (JSON) and Twilio SMS (form)
    messages are stored with U+FFFD in its place, on PostgreSQL too."""
    async with running_fake_telegram() as telegram, running_fake_twilio() as twilio:
        bot = await add_endpoint(
            server, **telegram.endpoint("Support bot", world.queues["general"].id)
        )
        await do_register_telegram_webhook(server.ctx, world.org_id, bot["id"])
        update = telegram.private_message("card\x00blocked", message_id=5, first_name="A\x00na")
        posted = await telegram.post_update(update)
        assert posted.status_code == 200, posted.text
        number = "+15005550006"
        await add_endpoint(
            server,
            channel="sms",
            key=number,
            name="Support line",
            queue_id=world.queues["general"].id,
            secret=TWILIO_AUTH_TOKEN,
            settings={"account_sid": TWILIO_ACCOUNT_SID, "api_base": twilio.base_url},
        )
        form = {
            "MessageSid": "SMnul",
            "SmsSid": "SMnul",
            "AccountSid": TWILIO_ACCOUNT_SID,
            "From": "+351912345678",
            "To": number,
            "Body": "hello\x00there",
            "NumMedia": "0",
        }
        url = f"{server.base_url}/webhooks/sms/twilio/{quote(number, safe='')}"
        sent = await twilio.post_signed(url, form)
        assert sent.status_code == 200, sent.text
    stored = {e.channel: e for e in await _customer_messages(server)}
    assert stored["telegram"].body == "card\ufffdblocked"
    assert stored["telegram"].author_name == "A\ufffdna Silva"
    assert stored["sms"].body == "hello\ufffdthere"


async def test_a_405_says_which_methods_the_resource_allows(server: Running) -> None:
    async with server.client() as anonymous:
        for method, url, allowed in [
            ("DELETE", "/api/v1/queues", "GET, POST"),  # two routes share the path
            ("TRACE", "/api/v1/customers/some-id", "GET, PATCH"),
            ("POST", "/api/v1/queues/stats", "GET"),  # not PUT of /queues/{queue_id}
            # not the CORS preflight's /{path}
            ("DELETE", "/api/v1/widget/some-key/session", "POST"),
            ("DELETE", "/api/v1/app/some-key/session", "POST"),
            ("PUT", "/webhooks/whatsapp/some-key", "GET, POST"),
        ]:
            response = await anonymous.request(method, url)
            assert response.status_code == 405, (method, url, response.status_code)
            assert response.headers["allow"] == allowed, (method, url)
            assert_problem(response, (method, url))
            assert response.json()["code"] == "method_not_allowed"


async def test_json_numbers_and_booleans_are_not_coerced(server: Running, world: World) -> None:
    """The document says integer or boolean: false or "5" is refused, not read as 0 or 5
    (3.0 is an integer to JSON Schema, and accepted as one)."""
    admin = await login(server, "admin@example.com")
    queue = {"name": f"Strict-{uuid.uuid4().hex[:6]}"}
    agent = f"/api/v1/agents/{world.agents['olga'].id}"
    for url, method, body in [
        ("/api/v1/queues", "post", {**queue, "priority": False}),
        ("/api/v1/queues", "post", {**queue, "sl_threshold_s": "20"}),
        ("/api/v1/queues", "post", {**queue, "offer_timeout_s": 30.5}),
        (agent, "patch", {"tier": True}),
        (agent, "patch", {"capacity": {"chat": "2"}}),
        (agent, "patch", {"skills": {"general": True}}),
        (agent, "patch", {"active": "yes"}),
        (agent, "patch", {"active": 1}),
    ]:
        response = await admin.request(method, url, json=body)
        assert response.status_code == 422, (url, body, response.text)
        assert response.json()["code"] == "invalid"
    created = await admin.post("/api/v1/queues", json={**queue, "priority": 3.0})
    assert created.status_code == 201 and created.json()["priority"] == 3
    await admin.aclose()


def _nullable(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = resolve(doc, schema)
    return schema.get("type") == "null" or any(
        resolve(doc, branch).get("type") == "null" for branch in schema.get("anyOf", [])
    )


async def test_null_is_accepted_wherever_the_document_allows_it(
    server: Running, world: World
) -> None:
    """No `null` in the document where the server refuses it: every body property documented
    as nullable takes null without a complaint about that property."""
    doc = await served_document(server)
    ids = await _fixture_ids(server, world)
    admin = await login(server, "admin@example.com")
    tried = 0
    for method, path, operation in operations(doc):
        schema = body_schema(doc, operation)
        if schema is None or path.endswith("/logout"):
            continue
        for name, prop in resolve(doc, schema).get("properties", {}).items():
            if not _nullable(doc, prop):
                continue
            tried += 1
            body = {**example_body(doc, schema), name: None}
            response = await admin.request(method, fill_path(path, ids), json=body)
            assert_problem(response, (method, path, name))
            if response.status_code == 422 and response.json()["code"] == "invalid":
                blamed = [e["loc"] for e in response.json().get("details", {}).get("errors", [])]
                assert ["body", name] not in blamed, (method, path, name, response.text)
    assert tried >= 20
    await admin.aclose()


async def test_an_empty_queue_id_names_no_queue(server: Running, world: World) -> None:
    """An empty string used to slip past the queue check and reach the foreign key (409)."""
    admin = await login(server, "admin@example.com")
    response = await admin.patch(f"/api/v1/endpoints/{world.widget.id}", json={"queue_id": ""})
    await admin.aclose()
    assert_problem(response, "empty queue id")
    assert response.status_code == 404 and response.json()["code"] == "not_found", response.text
