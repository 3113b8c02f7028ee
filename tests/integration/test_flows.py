"""Flows edited through the API (issue 11 §3), on SQLite and PostgreSQL: admins create,
save versions (a flow that cannot run is refused with a reason beside each step), publish
and diff; agents read; another organisation sees none of it. The bot serves the published
version: a chat on an endpoint naming an edited flow follows the edit, on this node at the
commit and on another node through the FlowPublished event on the bus. A `call` step's
backend may not be a private or loopback address, neither when saved nor when called. The
preview runs a turn with the real classifier, knowledge base and backend."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select

from tests.conftest import Running, World, eventually, login, make_world
from tests.fakes.http_server import serving
from tests.integration.test_bot import intent_models, settings  # noqa: F401 - fixtures
from threadline.auth.roles import Principal
from threadline.auth.services import do_create_token
from threadline.channels.chat.schemas import SessionIn
from threadline.channels.chat.services import do_open_session, do_visitor_message, visitor_session
from threadline.events.domain import FlowPublished
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.flows.models import StoredFlow
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.threads.models import ThreadEvent


def _t(text: str) -> dict[str, str]:
    return {"en": text}


def hello_flow(greeting: str = "Hello from the first version") -> dict[str, Any]:
    """A small flow: a greeting, a question with two options, then an end or a person."""
    return {
        "name": "Hello",
        "languages": ["en"],
        "start": "greet",
        "steps": [
            {"id": "greet", "kind": "say", "text": _t(greeting), "next": "menu"},
            {
                "id": "menu",
                "kind": "ask",
                "slot": "topic",
                "type": "choice",
                "prompt": _t("Cards or loans?"),
                "reprompt": _t("Please pick cards or loans."),
                "options": [
                    {"id": "cards", "label": _t("Cards")},
                    {"id": "loans", "label": _t("Loans")},
                ],
                "next": "which",
            },
            {
                "id": "which",
                "kind": "branch",
                "rules": [{"slot": "topic", "op": "eq", "value": "cards", "goto": "bye"}],
                "otherwise": "person",
            },
            {"id": "bye", "kind": "end", "text": _t("Cards it is. Bye!")},
            {"id": "person", "kind": "handoff", "reason": "loans", "queue": "General"},
        ],
    }


def call_flow(url: str) -> dict[str, Any]:
    return {
        "name": "Card status",
        "languages": ["en"],
        "start": "lookup",
        "steps": [
            {
                "id": "lookup",
                "kind": "call",
                "url": url,
                "payload": {"customer": "{message}"},
                "fills": {"card.status": "status"},
                "retries": 0,
                "next": "tell",
                "on_error": "sorry",
            },
            {"id": "tell", "kind": "end", "text": _t("Thank you, I have your card's status.")},
            {"id": "sorry", "kind": "handoff", "reason": "backend_down"},
        ],
    }


async def _create(admin: httpx.AsyncClient, flow_id: str, definition: dict[str, Any]) -> Any:
    created = await admin.post("/api/v1/flows", json={"id": flow_id, "definition": definition})
    assert created.status_code == 201, created.text
    return created.json()


async def _token_client(server: Running, world: World, role: str = "admin") -> httpx.AsyncClient:
    admin = world.agents["admin"]
    principal = Principal(agent_id=admin.id, org_id=world.org_id, role=role, name=admin.name)
    _row, token = await do_create_token(server.ctx, principal, "flows test")
    client = httpx.AsyncClient(base_url=server.base_url, timeout=10)
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def test_admins_version_and_publish_agents_read(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    rui = await login(server, "rui@example.com")
    nikos = await login(server, "nikos@example.com")
    try:
        listed = (await rui.get("/api/v1/flows")).json()
        assert [f["id"] for f in listed if f["builtin"]] == ["demo-bank"]
        demo = (await rui.get("/api/v1/flows/demo-bank")).json()
        assert demo["builtin"] and demo["definition"]["start"] == "greet"
        copied = {**demo["definition"], "name": "Our bank"}
        assert (await admin.post("/api/v1/flows", json={"definition": copied})).status_code == 409
        mine = await _create(admin, "our-bank", copied)
        assert (mine["latest"], mine["published"], mine["version"]) == (1, None, 1)
        assert (
            await admin.post("/api/v1/flows", json={"id": "our-bank", "definition": copied})
        ).status_code == 409

        second = hello_flow("Hello again")
        for client in (rui, nikos):  # agents and supervisors read, never write
            assert (
                await client.post("/api/v1/flows/our-bank/versions", json={"definition": second})
            ).status_code == 403
            assert (
                await client.post("/api/v1/flows/our-bank/publish", json={"version": 1})
            ).status_code == 403
            assert (
                await client.post("/api/v1/flows", json={"id": "x", "definition": second})
            ).status_code == 403
            assert (
                await client.post("/api/v1/flows/preview", json={"flow_id": "demo-bank"})
            ).status_code == 403
        saved = await admin.post("/api/v1/flows/our-bank/versions", json={"definition": second})
        assert saved.status_code == 201, saved.text
        assert saved.json()["number"] == 2 and not saved.json()["published"]
        published = await admin.post("/api/v1/flows/our-bank/publish", json={"version": 2})
        assert published.status_code == 200 and published.json()["published"] == 2
        assert (
            await admin.post("/api/v1/flows/our-bank/publish", json={"version": 9})
        ).status_code == 404
        assert (
            await admin.post("/api/v1/flows/demo-bank/publish", json={"version": 1})
        ).status_code == 409
        assert (
            await admin.post("/api/v1/flows/demo-bank/versions", json={"definition": second})
        ).status_code == 409

        read = (await rui.get("/api/v1/flows/our-bank")).json()
        assert [(v["number"], v["published"]) for v in read["versions"]] == [(2, True), (1, False)]
        assert read["definition"]["version"] == 2 and read["definition"]["id"] == "our-bank"
        first = (await rui.get("/api/v1/flows/our-bank", params={"version": 1})).json()
        assert first["definition"]["name"] == "Our bank"
        diff = (await rui.get("/api/v1/flows/our-bank/diff", params={"from": 1, "to": 2})).json()
        assert '-      "text": {' in diff["diff"] or "-" in diff["diff"]
        assert '+        "en": "Hello again"' in diff["diff"]
        same = (await rui.get("/api/v1/flows/our-bank/diff", params={"from": 2, "to": 2})).json()
        assert same["diff"] == ""
        assert (await rui.get("/api/v1/flows/our-bank", params={"version": 7})).status_code == 404
        assert (await rui.get("/api/v1/flows/nope")).status_code == 404
    finally:
        for client in (admin, rui, nikos):
            await client.aclose()


async def test_a_flow_that_cannot_run_is_refused_with_a_reason_per_step(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        await _create(admin, "hello", hello_flow())
        broken = copy.deepcopy(hello_flow())
        broken["steps"][0]["next"] = "nowhere"  # a dangling target
        del broken["steps"][1]["reprompt"]  # a missing field
        answer = await admin.post("/api/v1/flows/hello/versions", json={"definition": broken})
        assert answer.status_code == 422, answer.text
        details = answer.json()["details"]
        assert any("reprompt" in p for p in details["steps"]["menu"]), details
        broken["steps"][1]["reprompt"] = _t("Again?")
        answer = await admin.post("/api/v1/flows/hello/versions", json={"definition": broken})
        assert answer.status_code == 422
        assert details_of(answer)["greet"] == ["next 'nowhere' is not a step"]
        lonely = copy.deepcopy(hello_flow())
        lonely["steps"].append({"id": "orphan", "kind": "end"})
        answer = await admin.post("/api/v1/flows/hello/versions", json={"definition": lonely})
        assert details_of(answer)["orphan"] == ["unreachable from the start 'greet'"]
        greek = copy.deepcopy(hello_flow())
        greek["languages"] = ["en", "el"]
        answer = await admin.post("/api/v1/flows/hello/versions", json={"definition": greek})
        assert "text has no text in el" in details_of(answer)["greet"]
        assert (await admin.get("/api/v1/flows/hello")).json()["latest"] == 1  # none kept
        bad = await admin.post("/api/v1/flows", json={"id": "Bad Id!", "definition": hello_flow()})
        assert bad.status_code == 422
    finally:
        await admin.aclose()


def details_of(answer: httpx.Response) -> dict[str, list[str]]:
    assert answer.status_code == 422, answer.text
    steps: dict[str, list[str]] = answer.json()["details"]["steps"]
    return steps


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/cards",
        "https://127.0.0.1/cards",
        "https://10.1.2.3/cards",
        "https://[::1]/cards",
        "https://169.254.169.254/latest/meta-data",
        "https://{message}.example.com/cards",
        "https://localhost/cards",
    ],
)
async def test_a_backend_at_a_private_address_is_refused_when_saved(
    server: Running, world: World, url: str
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        answer = await admin.post(
            "/api/v1/flows", json={"id": "card", "definition": call_flow(url)}
        )
        reasons = details_of(answer)["lookup"]
        assert len(reasons) == 1 and reasons[0].startswith("url is not allowed"), reasons
    finally:
        await admin.aclose()


async def test_organisations_are_isolated(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    await _create(admin, "hello", hello_flow())
    assert (await admin.post("/api/v1/flows/hello/publish", json={"version": 1})).status_code == 200
    await admin.aclose()
    other = await make_world(server.ctx)
    stranger = await _token_client(server, other)
    try:
        assert [f["id"] for f in (await stranger.get("/api/v1/flows")).json()] == ["demo-bank"]
        assert (await stranger.get("/api/v1/flows/hello")).status_code == 404
        assert (await stranger.get("/api/v1/flows/hello/diff?from=1&to=1")).status_code == 404
        hijack = await stranger.post(
            "/api/v1/flows/hello/versions", json={"definition": hello_flow()}
        )
        assert hijack.status_code == 404
        assert (
            await stranger.post("/api/v1/flows/hello/publish", json={"version": 1})
        ).status_code == 404
        tried = await stranger.post("/api/v1/flows/preview", json={"flow_id": "hello"})
        assert tried.status_code == 404
        url = f"/api/v1/endpoints/{other.widget.id}"
        named = await stranger.patch(url, json={"settings": {"bot": {"flow": "hello"}}})
        assert named.status_code == 422 and "no flow 'hello'" in named.text
        # the same id is free in the other organisation: its own flow, unrelated
        await _create(stranger, "hello", hello_flow("Another bank says hello"))
        assert (await stranger.get("/api/v1/flows/hello")).json()["published"] is None
    finally:
        await stranger.aclose()


async def _chat(server: Running, world: World, text: str) -> list[str]:
    """A new visitor says `text`; what the bot answers (until it asks something)."""
    opened = await do_open_session(server.ctx, world.widget.key, SessionIn(locale="en"))
    session = await visitor_session(server.ctx, world.widget.key, opened.visitor_token)
    ingested = await do_visitor_message(server.ctx, session, text, str(uuid.uuid4()), "en")

    async def bot_said() -> list[str] | None:
        async with server.ctx.db.sessions() as db:
            rows = await db.scalars(
                select(ThreadEvent.body)
                .where(
                    ThreadEvent.thread_id == ingested.thread.id, ThreadEvent.author_type == "bot"
                )
                .order_by(ThreadEvent.seq)
            )
            said = [r or "" for r in rows]
        return said if any("?" in s for s in said) else None

    return await eventually(bot_said)


async def test_the_bot_runs_the_published_version_and_follows_an_edit(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        await _create(admin, "hello", hello_flow("Hello from the first version"))
        url = f"/api/v1/endpoints/{world.widget.id}"
        unpublished = await admin.patch(url, json={"settings": {"bot": {"flow": "hello"}}})
        assert unpublished.status_code == 422  # nothing published yet: nothing to run
        await admin.post("/api/v1/flows/hello/publish", json={"version": 1})
        named = await admin.patch(url, json={"settings": {"bot": {"flow": "hello"}}})
        assert named.status_code == 200, named.text

        # another node's catalog, which hears publications only through the bus
        elsewhere = FlowCatalog()
        elsewhere.follow(server.ctx.bus)
        async with server.ctx.db.sessions() as db:
            before = await elsewhere.get(db, world.org_id, "hello")
        assert before is not None and before.version == 1

        said = await _chat(server, world, "hi")
        assert said[0] == "Hello from the first version" and "Cards or loans?" in said[-1]

        edited = await admin.post(
            "/api/v1/flows/hello/versions", json={"definition": hello_flow("Hello, edited")}
        )
        assert edited.status_code == 201
        assert (await _chat(server, world, "hi"))[0] == "Hello from the first version"
        await admin.post("/api/v1/flows/hello/publish", json={"version": 2})
        said = await _chat(server, world, "hi")
        assert said[0] == "Hello, edited"

        async def caught_up() -> bool:
            async with server.ctx.db.sessions() as db:
                now = await elsewhere.get(db, world.org_id, "hello")
            return now is not None and now.version == 2

        assert await eventually(caught_up)
    finally:
        await admin.aclose()


async def test_the_catalog_forgets_a_flow_when_the_bus_says_it_was_published(
    server: Running, world: World
) -> None:
    catalog = FlowCatalog()  # another node's: it hears of publications only from the bus
    catalog.follow(server.ctx.bus)
    admin = await login(server, "admin@example.com")
    try:
        await _create(admin, "hello", hello_flow())
    finally:
        await admin.aclose()

    async def served() -> bool:
        async with server.ctx.db.sessions() as db:
            return await catalog.get(db, world.org_id, "hello") is not None

    assert not await served()  # not published yet, and remembered so
    async with server.ctx.uow() as uow:  # published by a node whose commit this one missed
        row = await uow.session.scalar(select(StoredFlow).where(StoredFlow.flow_id == "hello"))
        assert row is not None
        row.published = 1
    assert not await served()  # still what it read: no query per message
    await server.ctx.bus.publish([FlowPublished(org_id=world.org_id, flow_id="hello", version=1)])
    assert await eventually(served)


async def test_preview_walks_a_flow_on_chat_sms_and_voice(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    try:
        turn = await admin.post(
            "/api/v1/flows/preview", json={"definition": hello_flow(), "channel": "chat"}
        )
        assert turn.status_code == 200, turn.text
        out = turn.json()
        assert [m["text"] for m in out["messages"]] == [
            "Hello from the first version",
            "Cards or loans?",
        ]
        assert [c["id"] for c in out["messages"][-1]["choices"]] == ["cards", "loans", "agent"]
        assert out["step"] == "menu" and not out["done"]
        turn = await admin.post(
            "/api/v1/flows/preview",
            json={"definition": hello_flow(), "state": out["state"], "choice": "cards"},
        )
        out = turn.json()
        assert out["done"] and out["outcome"] == "end"
        assert out["messages"][-1]["text"] == "Cards it is. Bye!"

        sms = (
            await admin.post(
                "/api/v1/flows/preview", json={"definition": hello_flow(), "channel": "sms"}
            )
        ).json()
        assert "1. Cards" in sms["messages"][-1]["text"] and "0." in sms["messages"][-1]["text"]
        loans = (
            await admin.post(
                "/api/v1/flows/preview",
                json={
                    "definition": hello_flow(),
                    "channel": "sms",
                    "state": sms["state"],
                    "text": "2",
                },
            )
        ).json()
        assert loans["outcome"] == "handoff" and loans["handoff"]["queue"] == "General"

        voice = (
            await admin.post(
                "/api/v1/flows/preview", json={"definition": hello_flow(), "channel": "voice"}
            )
        ).json()
        assert voice["twiml"].startswith("<?xml") and "<Gather" in voice["twiml"]
        assert "Press 1 for Cards" in voice["twiml"] or "Cards" in voice["twiml"]

        broken = copy.deepcopy(hello_flow())
        broken["steps"][0]["next"] = "nowhere"
        refused = await admin.post("/api/v1/flows/preview", json={"definition": broken})
        assert details_of(refused)["greet"] == ["next 'nowhere' is not a step"]
        stale = await admin.post(
            "/api/v1/flows/preview", json={"flow_id": "demo-bank", "state": {"step": 1}}
        )
        assert stale.status_code == 422
    finally:
        await admin.aclose()


async def test_preview_asks_the_real_classifier_and_knowledge_base(
    server: Running, world: World
) -> None:
    await load_demo_articles(server.ctx, world.org_id, None)
    admin = await login(server, "admin@example.com")
    try:
        out = (
            await admin.post(
                "/api/v1/flows/preview",
                json={"flow_id": "demo-bank", "text": "How do I change my PIN?", "language": "en"},
            )
        ).json()
        assert out["machine"][0].startswith("intent: change_pin"), out["machine"]
        assert out["machine"][1].startswith("knowledge: ") and "nothing" not in out["machine"][1]
        assert any("/help/" in m["text"] for m in out["messages"])
        assert [c["id"] for c in out["messages"][-1]["choices"]] == ["yes", "no", "agent"]
    finally:
        await admin.aclose()


async def test_preview_calls_the_backend_for_real_and_refuses_a_private_one(
    server: Running, world: World
) -> None:
    seen: list[dict[str, Any]] = []
    company = FastAPI()

    @company.post("/cards")
    async def cards(request: Request) -> dict[str, Any]:
        seen.append(
            {
                "body": await request.json(),
                "signed": request.headers.get("x-threadline-signature", ""),
            }
        )
        return {"card": {"status": "shipped"}}

    admin = await login(server, "admin@example.com")
    try:
        async with serving(company) as base:
            definition = call_flow(f"{base}/cards")
            refused = (
                await admin.post(
                    "/api/v1/flows/preview", json={"definition": definition, "text": "4321"}
                )
            ).json()
            assert "refused" in refused["machine"][0] and "127.0.0.1" in refused["machine"][0]
            assert refused["outcome"] == "handoff" and seen == []
            # allowed by the server's setting (a backend on the same host), as webhooks are
            server.ctx.settings = server.ctx.settings.model_copy(
                update={"bot_backend_allow_private": True}
            )
            called = (
                await admin.post(
                    "/api/v1/flows/preview", json={"definition": definition, "text": "4321"}
                )
            ).json()
            assert called["machine"] == [f"backend: POST {base}/cards -> 200"]
            assert called["outcome"] == "end" and called["state"]["slots"]["status"] == "shipped"
            assert seen == [{"body": {"customer": "4321"}, "signed": seen[0]["signed"]}]
            assert seen[0]["signed"].startswith("sha256=")
    finally:
        await admin.aclose()
