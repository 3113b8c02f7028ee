"""Shared fixtures: real databases (SQLite file, PostgreSQL), a real server on a free port,
and factories for test data."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool
from websockets.asyncio.client import ClientConnection

from tests.fakes.http_server import free_port, serving
from threadline.agents.models import Agent
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.app import build_context, create_app
from threadline.channels.models import Endpoint
from threadline.config import Settings
from threadline.context import Context
from threadline.db import Base, across_orgs
from threadline.migrate import upgrade
from threadline.models import import_models
from threadline.orgs.services import do_create_org
from threadline.routing.models import Queue
from threadline.routing.schemas import QueueIn
from threadline.routing.services import do_create_queue
from threadline.threads.models import ThreadEvent

POSTGRES_ADMIN_URL = os.environ.get(
    "THREADLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-not-for-production"
PASSWORD = "correct horse battery"
WIDGET_SECRET = "widget-hmac-secret"
# Secrets at rest: one fixed key for every Settings a test makes (tests of the key handling
# set their own); without it each would write a key file into the working directory.
TEST_ENCRYPTION_KEY = "u8Wq2kVbYH3T1gR4cG0nq0m2b3mRkq1J8c0v6sX1y6Q="
os.environ.setdefault("THREADLINE_ENCRYPTION_KEYS", TEST_ENCRYPTION_KEY)


@pytest.fixture(autouse=True)
def _test_code_spans_orgs() -> Iterator[None]:
    """A test's own code sets up and inspects every organisation's rows, like an operator
    at the console. The server's requests, sockets and workers do not inherit this: each
    starts with no organisation in scope (app.RequestsStartUnscoped, app.running), so a
    path that forgets to say whose data it reads fails its tests (db.UnscopedQuery)."""
    with across_orgs():
        yield


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session, from the migrations as they are now; each
    test starts from a copy of it (a copy takes milliseconds, the migrations a second)."""
    path = tmp_path_factory.mktemp("template") / "threadline.db"
    upgrade(sqlite_url(path))
    # A copy must open on its own: everything in the main file (no -wal beside it) and a
    # rollback journal in the header; the application turns WAL on again when it connects.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    return path


def _admin_execute(statement: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _postgres_database_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database migrated once for this test run, emptied before each test;
    dropped at the end."""
    name = f"threadline_test_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    url = _postgres_database_url(name)
    upgrade(url)
    yield url
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Restart every sequence of the schema (ids from 1 again, as in a new database).
_RESTART_SEQUENCES = """
DO $$
DECLARE s record;
BEGIN
  FOR s IN SELECT schemaname, sequencename FROM pg_sequences
           WHERE schemaname = current_schema() LOOP
    EXECUTE 'ALTER SEQUENCE ' || quote_ident(s.schemaname) || '.'
      || quote_ident(s.sequencename) || ' RESTART';
  END LOOP;
END $$
"""


def _empty_postgres(url: str) -> None:
    """Delete every row, children before parents, and restart the sequences, in one round
    trip. A test leaves a few rows: measured here, DELETE takes 25-60 ms, TRUNCATE 430-540 ms
    (it makes new files for every table) and CREATE DATABASE ... TEMPLATE + DROP 0.5-2 s."""
    import_models()
    tables = reversed(Base.metadata.sorted_tables)
    deletes = [f'DELETE FROM "{t.name}"' for t in tables]  # noqa: S608 - our own table names
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(";\n".join([*deletes, _RESTART_SEQUENCES]))
    finally:
        engine.dispose()


def fresh_database_url(request: pytest.FixtureRequest, backend: str) -> str:
    """An empty database with the schema of the migrations as they are at session start: a
    copy of the SQLite file migrated once, or the session's migrated PostgreSQL database with
    its rows deleted."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        path = factory.mktemp("db") / "threadline.db"
        shutil.copyfile(template, path)
        return sqlite_url(path)
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each integration test runs on both backends, each test on an empty database."""
    return fresh_database_url(request, request.param)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        offer_timeout_s=20,
        timer_poll_s=0.05,
        _env_file=None,  # type: ignore[call-arg]
    )


@dataclass
class Running:
    """A Threadline server on a real port, and its context for direct service calls."""

    base_url: str
    ctx: Context

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Running]:
    port = free_port()
    settings = settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    app = create_app(settings)
    async with serving(app, port=port, ws="websockets-sansio", lifespan="on") as base_url:
        yield Running(base_url, app.state.ctx)


@pytest.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    """A context without a server, for service-level tests (routing started)."""
    from threadline.app import running

    context = build_context(settings)
    async with running(context):
        yield context


@dataclass
class World:
    """A small organisation: queues, agents and a chat widget."""

    org_id: str
    queues: dict[str, Queue]
    agents: dict[str, Agent]
    widget: Endpoint


async def make_world(ctx: Context) -> World:
    org = await do_create_org(ctx, f"org-{uuid.uuid4().hex[:6]}", "Test Bank")
    queues = {
        "general": await do_create_queue(
            ctx, org.id, QueueIn(name="General", required_skills=["general"])
        ),
        "cards": await do_create_queue(
            ctx, org.id, QueueIn(name="Cards", required_skills=["cards"], priority=1)
        ),
    }
    specs = {
        "rui": ("Rui", "agent", {"general": 3, "cards": 4}, ["pt", "en"]),
        "olga": ("Olga", "agent", {"general": 3}, ["ru", "en"]),
        "nikos": ("Nikos", "supervisor", {"general": 2}, ["el", "en"]),
        "admin": ("Admin", "admin", {"general": 1}, ["en"]),
    }
    agents = {}
    for key, (name, role, skills, languages) in specs.items():
        agents[key] = await do_create_agent(
            ctx,
            org.id,
            AgentCreate(
                email=f"{key}@example.com",
                name=name,
                password=PASSWORD,
                role=role,  # type: ignore[arg-type]
                skills=skills,
                languages=languages,
                capacity={"chat": 2, "voice": 1},
            ),
        )
    async with ctx.uow() as uow:
        widget = Endpoint(
            org_id=org.id,
            channel="chat",
            key=f"w-{uuid.uuid4().hex[:8]}",
            name="Site",
            queue_id=queues["general"].id,
            secret=WIDGET_SECRET,
        )
        uow.session.add(widget)
    return World(org.id, queues, agents, widget)


@pytest.fixture
async def world(server: Running) -> World:
    return await make_world(server.ctx)


# A queue's callback policy for tests: offered at once, booked windows all day and night
# with three agents planned, no notice needed.
ALL_DAY_PLAN = {
    day: [["00:00", "24:00", 3]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
CALLBACK_POLICY = {
    "enabled": True,
    "offer_after_s": 0,
    "window_minutes": 30,
    "book_days": 2,
    "min_notice_minutes": 0,
    "plan": ALL_DAY_PLAN,
}


T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 8) -> T:
    """Poll until `probe` returns something truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def count(server: Running, model: Any, *where: Any) -> int:
    async with server.ctx.db.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def login(running: Running, email: str) -> httpx.AsyncClient:
    client = running.client()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


async def add_endpoint(running: Running, **body: Any) -> dict[str, Any]:
    """A channel endpoint configured by the admin through the API (as the admin page does);
    returns the API's answer."""
    admin = await login(running, "admin@example.com")
    try:
        created = await admin.post("/api/v1/endpoints", json=body)
    finally:
        await admin.aclose()
    assert created.status_code == 201, created.text
    return dict(created.json())


async def set_capacity(running: Running, agent: Agent, **capacity: int) -> None:
    """The agent may take this many contacts at once per channel (chat, voice, sms, ...)."""
    admin = await login(running, "admin@example.com")
    try:
        patched = await admin.patch(f"/api/v1/agents/{agent.id}", json={"capacity": capacity})
    finally:
        await admin.aclose()
    assert patched.status_code == 200, patched.text


async def take_thread(running: Running, email: str, thread_id: str) -> httpx.AsyncClient:
    """The agent signs in, becomes available and accepts the offer of this thread's contact;
    returns their client."""
    agent = await login(running, email)
    await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
    offer = await eventually(lambda: _offer_for(agent, thread_id))
    accepted = await agent.post(f"/api/v1/offers/{offer['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return agent


@asynccontextmanager
async def authed_socket(url: str, token: str, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """A WebSocket authenticated as the clients do it: the token in the first frame
    ({"type": "auth"}), never in the URL (URLs end up in access logs)."""
    async with websockets.connect(url, **kwargs) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        yield ws


async def _offer_for(agent: httpx.AsyncClient, thread_id: str) -> dict[str, Any] | None:
    offers = (await agent.get("/api/v1/offers")).json()
    return next((o for o in offers if o["thread_id"] == thread_id), None)


RECORDED_PAYLOADS = Path(__file__).parent / "channels" / "fixtures"


def recorded_payload(channel: str, name: str) -> dict[str, Any]:
    """A provider payload recorded beside the conformance suite (tests/channels/fixtures)."""
    path = RECORDED_PAYLOADS / channel / f"{name}.json"
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return payload


async def events_of(server: Running, *where: Any) -> list[ThreadEvent]:
    """The timeline entries matching `where`, oldest first, across every thread."""
    async with server.ctx.db.sessions() as db:
        return list(await db.scalars(select(ThreadEvent).where(*where).order_by(ThreadEvent.id)))
