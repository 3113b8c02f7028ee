#!/usr/bin/env python
"""End-to-end chat ingest: visitor WebSocket in -> committed -> agent desktop WebSocket out.

For each backend (SQLite file, PostgreSQL), in one run:

1. a fresh database, migrated; an organisation, a queue, a chat widget and enough agents
   (capacity 25 chats each) created through the services, as `tests/conftest.make_world`;
2. the raw one-row commit rate of that same database through the app's own engine
   settings (`threadline.db.create_engine`: WAL/synchronous=NORMAL/BEGIN IMMEDIATE on
   SQLite): N transactions of one INSERT of a thread_events-like row + COMMIT, first from
   one connection, then from as many concurrent tasks as there are visitors;
3. a real server in its own process (`threadline serve`, uvicorn + uvloop, as in production);
   agents log in, go available, hold a desktop WebSocket (`/api/v1/stream`) and accept every
   offer, so every visitor's thread is assigned and its `timeline` frames reach the agent;
4. N visitors each open a widget session and WebSocket; warm-up; then each visitor sends M
   messages, waiting for the ack before the next (a person typing as fast as possible);
   then M/2 more each, pipelined (4 in flight per visitor, no idle round trip); then M/2
   more each, paced at half the closed loop's rate (sends spread evenly, each after the
   last one's ack): the latency of a server that is not saturated (`BACKEND_paced_p99_ms`).
   A message the server never acks (its socket died) counts as failed, not as fatal.

Latency = send of the widget frame -> the agent's socket receives the `timeline` frame with
that client_msg_id. Throughput = messages / (first send -> last arrival at an agent).
The ratio (messages/s / raw single-connection commits/s) is the figure that matters: each
message is one transaction, so 1.0 would mean the app costs nothing beyond the commit.
The in-run baseline that matters most: the minimal app on the same stack
(bench/minimal_chat_app.py: FastAPI + uvicorn/uvloop + SQLAlchemy async through the app's
engine settings; WebSocket in -> INSERT one timeline-like row + COMMIT -> JSON to the
agent's socket -> ack), started as its own process on the same database and driven by the
same clients and phases: `BACKEND_ratio_vs_app` = Threadline msgs/s / minimal msgs/s.
Also printed: server CPU (% of one core, and ms per message, from /proc), failures.
`--py-spy out.svg|out.json|out.txt` records the server under py-spy (if installed);
without it, THREADLINE_BENCH_CPROFILE=PATH writes cProfile stats to PATH.BACKEND.prof.

    python bench/chat_ingest.py [--backends sqlite,postgres] [--visitors 50] [--messages 40]

Prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from threadline.encryption import generate_key  # noqa: E402

# Endpoint secrets are encrypted at rest: the world this process writes and the server
# processes it starts (other working directories) must share one key.
os.environ.setdefault("THREADLINE_ENCRYPTION_KEYS", generate_key())

POSTGRES_ADMIN_URL = os.environ.get(
    "THREADLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105 (throwaway server)
PASSWORD = "bench password 123"  # noqa: S105 (throwaway agents)
CAPACITY_PER_AGENT = 25
WARMUP_MESSAGES = 5
PIPELINE_WINDOW = 4  # messages in flight per visitor in the pipelined phase
PHASE_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 20.0
HOST = "127.0.0.1"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of values, in the values' unit."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def proc_cpu_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process, all its threads, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick
    except (OSError, IndexError, ValueError):
        return float("nan"), float("nan")


# ------------------------------------------------------------------ databases
@contextlib.contextmanager
def database(backend: str, workdir: Path):
    """A fresh, migrated database URL for one backend; removed afterwards."""
    from threadline.migrate import upgrade

    if backend == "sqlite":
        path = workdir / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        try:
            yield url
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
        return
    from sqlalchemy import create_engine, text

    name = f"threadline_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class World:
    org_id: str
    widget_key: str
    agent_emails: list[str]


async def make_world(url: str, n_agents: int) -> World:
    """An organisation with one queue, n agents (capacity 25 chats) and a chat widget."""
    from threadline.agents.schemas import AgentCreate
    from threadline.agents.services import do_create_agent
    from threadline.app import build_context, running
    from threadline.channels.models import Endpoint
    from threadline.config import Settings
    from threadline.orgs.services import do_create_org
    from threadline.routing.schemas import QueueIn
    from threadline.routing.services import do_create_queue

    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    async with running(ctx):
        org = await do_create_org(ctx, f"bench-{uuid.uuid4().hex[:6]}", "Bench Bank")
        queue = await do_create_queue(
            ctx, org.id, QueueIn(name="General", required_skills=["general"])
        )
        emails = []
        for i in range(n_agents):
            email = f"agent{i}@bench.example.com"
            await do_create_agent(
                ctx,
                org.id,
                AgentCreate(
                    email=email,
                    name=f"Agent {i}",
                    password=PASSWORD,
                    role="agent",
                    skills={"general": 3},
                    languages=["en"],
                    capacity={"chat": CAPACITY_PER_AGENT},  # type: ignore[dict-item]
                ),
            )
            emails.append(email)
        key = f"bench-{uuid.uuid4().hex[:8]}"
        async with ctx.uow() as uow:
            uow.session.add(
                Endpoint(
                    org_id=org.id,
                    channel="chat",
                    key=key,
                    name="Bench site",
                    queue_id=queue.id,
                    secret="bench-widget-secret",  # noqa: S106
                    settings={"language": "en"},
                )
            )
    return World(org.id, key, emails)


async def raw_commits(url: str, count: int, concurrency: int) -> float:
    """One-row INSERT + COMMIT transactions per second into a thread_events-like scratch
    table, through the app's engine factory (same pool, pragmas and BEGIN IMMEDIATE)."""
    from sqlalchemy import insert

    from minimal_chat_app import timeline_table
    from threadline.db import create_engine, utcnow

    meta, table = timeline_table("bench_raw")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        stmt = insert(table)
        threads = [str(uuid.uuid4()) for _ in range(max(concurrency, 1))]
        org = str(uuid.uuid4())
        counter = iter(range(10**9))

        async def one(worker: int) -> None:
            seq = next(counter)
            now = utcnow()
            async with engine.begin() as conn:
                await conn.execute(
                    stmt,
                    {
                        "org_id": org,
                        "thread_id": threads[worker],
                        "seq": seq,
                        "kind": "message",
                        "channel": "chat",
                        "author_type": "customer",
                        "author_id": org,
                        "author_name": None,
                        "body": f"raw insert number {seq}",
                        "data": {},
                        "client_msg_id": uuid.uuid4().hex,
                        "created_at": now
                        if url.startswith("postgres")
                        else now.replace(tzinfo=None),
                    },
                )

        async def worker(index: int, n: int) -> None:
            for _ in range(n):
                await one(index)

        for _ in range(min(20, count)):  # warm the pool and the statement cache
            await one(0)
        per_worker = max(1, count // concurrency)
        started = time.perf_counter()
        await asyncio.gather(*(worker(i, per_worker) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
        async with engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
        return per_worker * concurrency / elapsed
    finally:
        await engine.dispose()


# ------------------------------------------------------------------ the server
class Server:
    """`threadline serve` in its own process, bound to 127.0.0.1 on a free port; or, with
    `minimal=True`, the minimal same-stack app (bench/minimal_chat_app.py) on the same
    database. `THREADLINE_BENCH_CPROFILE=PATH` profiles Threadline's server with cProfile
    (PATH.BACKEND.prof) when py-spy is not installed."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        py_spy: str | None,
        *,
        minimal: bool = False,
        command: str = "serve",
        env_extra: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        env = dict(os.environ)
        env.update(
            {
                "THREADLINE_DATABASE_URL": url,
                "THREADLINE_SECRET_KEY": SECRET,
                "THREADLINE_LOG_LEVEL": "WARNING",
                "THREADLINE_HOST": HOST,
                "THREADLINE_PORT": str(self.port),
                "THREADLINE_BASE_URL": self.base_url,
                "THREADLINE_OFFER_TIMEOUT_S": "600",
                "THREADLINE_BUS_URL": "memory://",
                # every simulated visitor comes from 127.0.0.1, faster than any person types
                "THREADLINE_RATE_LIMITS_ENABLED": "false",
                "PYTHONPATH": str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
                **(env_extra or {}),
            }
        )
        if minimal:
            script = str(ROOT / "bench" / "minimal_chat_app.py")
            cmd = [sys.executable, script, "--url", url, "--port", str(self.port)]
            py_spy = None
        elif wrapper := os.environ.get("THREADLINE_BENCH_SERVE_SCRIPT"):
            cmd = [sys.executable, wrapper, command]  # a local instrumentation hook
        elif profile := os.environ.get("THREADLINE_BENCH_CPROFILE"):
            code = (
                "import cProfile\nfrom threadline.cli import main\n"
                "prof = cProfile.Profile()\nprof.enable()\ntry:\n    main()\n"
                f"finally:\n    prof.disable()\n    prof.dump_stats({profile!r})\n"
            )
            cmd = [sys.executable, "-c", code, command]
        else:
            cmd = [sys.executable, "-c", "from threadline.cli import main; main()", command]
        if py_spy:
            exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            fmt = {"json": "speedscope", "txt": "raw"}.get(py_spy.rsplit(".", 1)[-1], "flamegraph")
            cmd = [
                exe,
                "record",
                "--nonblocking",
                "-r",
                "50",
                "-f",
                fmt,
                "-o",
                py_spy,
                *(["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else []),
                "--",
                *cmd,
            ]
        # our own interpreter (and py-spy), no shell
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, cwd=workdir, stdin=subprocess.DEVNULL, start_new_session=True
        )

    @property
    def pid(self) -> int:
        """The Python server's pid (py-spy's child when profiling)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        with contextlib.suppress(OSError, ValueError):
            kids = children.read_text().split()
            if kids:
                return int(kids[0])
        return self.proc.pid

    async def ready(self, within_s: float = 30) -> None:
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # SIGINT to the whole group: uvicorn shuts down gracefully; py-spy writes its file.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# ------------------------------------------------------------------ the clients
@dataclass
class Tracker:
    """Send times by client id and arrival times at the agents' sockets."""

    sent: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    acked: dict[str, float] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)
    all_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # sent, never acked
    unsent: int = 0  # not sent: the visitor's socket had been closed by the server

    def expect(self, ids: set[str]) -> None:
        self.expected = set(ids) - set(self.arrived)
        self.all_arrived = asyncio.Event()
        if not self.expected:
            self.all_arrived.set()

    def arrive(self, client_id: str, now: float) -> None:
        self.arrived.setdefault(client_id, now)
        if client_id in self.expected:
            self.expected.discard(client_id)
            if not self.expected:
                self.all_arrived.set()


class Agent:
    """An agent desktop: logged in, available, accepting every offer, recording arrivals."""

    def __init__(self, base_url: str, email: str, tracker: Tracker) -> None:
        self.base_url, self.email, self.tracker = base_url, email, tracker
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.accepted: set[str] = set()
        self.accept_tasks: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None
        self.ws: Any = None

    async def start(self) -> None:
        r = await self.http.post(
            "/api/v1/auth/login", json={"email": self.email, "password": PASSWORD}
        )
        r.raise_for_status()
        self.agent_id = r.json()["agent_id"]
        cookie = self.http.cookies.get("tl_session")
        ws_url = self.base_url.replace("http://", "ws://") + "/api/v1/stream"
        self.ws = await connect(
            ws_url,
            additional_headers={"Cookie": f"tl_session={cookie}"},
            max_queue=None,
            open_timeout=10,
        )
        hello = json.loads(await self.ws.recv())
        assert hello["type"] == "hello", hello
        self.reader = asyncio.create_task(self._read())
        r = await self.http.put(
            f"/api/v1/agents/{self.agent_id}/presence", json={"presence": "available"}
        )
        r.raise_for_status()

    async def _read(self) -> None:
        tracker = self.tracker
        async for raw in self.ws:
            now = time.perf_counter()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "timeline":
                client_id = (frame.get("event") or {}).get("client_msg_id")
                if client_id:
                    tracker.arrive(client_id, now)
            elif kind == "offer.created":
                task = asyncio.create_task(self._accept(frame["offer"]["id"]))
                self.accept_tasks.add(task)
                task.add_done_callback(self.accept_tasks.discard)

    async def _accept(self, offer_id: str) -> None:
        r = await self.http.post(f"/api/v1/offers/{offer_id}/accept")
        if r.status_code == 200:
            self.accepted.add(r.json()["thread_id"])
        else:
            self.tracker.errors.append(f"accept {offer_id}: {r.status_code} {r.text[:200]}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self.http.aclose()


class Visitor:
    """A widget: one session, one WebSocket; sends messages and waits for their acks."""

    def __init__(self, index: int, base_url: str, key: str, tracker: Tracker) -> None:
        self.index, self.base_url, self.key, self.tracker = index, base_url, key, tracker
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.thread_id: str | None = None
        self.counter = 0
        self.closed = False
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None

    async def start(self, http: httpx.AsyncClient) -> None:
        r = await http.post(f"/api/v1/widget/{self.key}/session", json={"locale": "en"})
        r.raise_for_status()
        token = r.json()["visitor_token"]
        ws_url = self.base_url.replace("http://", "ws://") + f"/api/v1/widget/{self.key}/ws"
        self.ws = await connect(ws_url, max_queue=None, open_timeout=10)
        # the widget authenticates by its first frame (a token in the URL would be logged)
        await self.ws.send(json.dumps({"type": "auth", "token": token}))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            await self._read_frames()
        finally:
            # The server closed or dropped the socket: nothing pending will be acked.
            self.closed = True
            for future in self.acks.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"visitor {self.index}: socket closed"))
            self.acks.clear()

    async def _read_frames(self) -> None:
        now_fn = time.perf_counter
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame.get("type") == "ack":
                self.tracker.acked.setdefault(frame["client_id"], now_fn())
                self.thread_id = frame.get("thread_id")
                future = self.acks.pop(frame["client_id"], None)
                if future and not future.done():
                    future.set_result(frame)
            elif frame.get("type") == "error":
                self.tracker.errors.append(f"visitor {self.index}: {frame}")
                future = self.acks.pop(frame.get("client_id") or "", None)
                if future and not future.done():
                    future.set_exception(RuntimeError(str(frame)))

    async def send(self, phase: str) -> asyncio.Future[dict[str, Any]]:
        if self.closed:
            raise ConnectionError(f"visitor {self.index}: socket closed")
        self.counter += 1
        client_id = f"{phase}.{self.index}.{self.counter}.{uuid.uuid4().hex[:8]}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.acks[client_id] = future
        frame = json.dumps(
            {
                "type": "message",
                "client_id": client_id,
                "text": f"Hello, this is visitor {self.index}, message "
                f"{self.counter}: my card was declined at the shop.",
            }
        )
        self.tracker.sent[client_id] = time.perf_counter()
        await self.ws.send(frame)
        future.client_id = client_id  # type: ignore[attr-defined]
        return future

    async def _settle(self, future: asyncio.Future[dict[str, Any]]) -> None:
        """Wait for one ack; a message never acked is recorded as failed, not fatal."""
        try:
            await asyncio.wait_for(future, ACK_TIMEOUT_S)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            self.tracker.failed.add(future.client_id)  # type: ignore[attr-defined]
            self.tracker.errors.append(f"{future.client_id}: {type(exc).__name__} {exc}")  # type: ignore[attr-defined]

    async def closed_loop(self, phase: str, count: int) -> list[str]:
        """Each message waits for the previous one's ack, as a person typing would."""
        return await self.paced(phase, count, 0.0, 0.0)

    async def paced(self, phase: str, count: int, start: float, every_s: float) -> list[str]:
        """One message every `every_s` seconds from `start` (each waiting for the last one's
        ack first, as a person would: a late ack delays the next message, and its latency
        counts from when it was really sent); every 0 s is the closed loop."""
        ids = []
        for k in range(count):
            await asyncio.sleep(max(0.0, start + k * every_s - time.perf_counter()))
            try:
                future = await self.send(phase)
            except Exception as exc:  # the socket is gone: the rest of this visitor fails
                self.tracker.errors.append(f"visitor {self.index}: {type(exc).__name__} {exc}")
                self.tracker.unsent += count - len(ids)
                break
            ids.append(future.client_id)  # type: ignore[attr-defined]
            await self._settle(future)
        return ids

    async def pipelined(self, phase: str, count: int) -> list[str]:
        """Keep PIPELINE_WINDOW messages in flight: no idle round trip between messages."""
        window: list[asyncio.Future[dict[str, Any]]] = []
        ids = []
        for _ in range(count):
            if len(window) >= PIPELINE_WINDOW:
                await self._settle(window.pop(0))
            try:
                future = await self.send(phase)
            except Exception as exc:
                self.tracker.errors.append(f"visitor {self.index}: {type(exc).__name__} {exc}")
                self.tracker.unsent += count - len(ids)
                break
            ids.append(future.client_id)  # type: ignore[attr-defined]
            window.append(future)
        for future in window:
            await self._settle(future)
        return ids

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


@dataclass
class Phase:
    msgs_per_s: float
    p50_ms: float
    p99_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    lost: int  # sent but never reached an agent (includes failed)
    failed: int  # sent but never acked, or never sent because the socket was gone
    server_cpu_pct: float
    server_sys_pct: float
    server_cpu_ms_per_msg: float
    client_cpu_pct: float


async def measure(
    server: Server,
    tracker: Tracker,
    visitors: list[Visitor],
    messages: int,
    mode: str,
    rate: float = 0.0,
) -> Phase:
    """One phase: closed loop, pipelined, or paced (`rate` messages/s in all, the visitors'
    sends spread evenly); throughput is messages over the time to the last arrival."""
    pid = server.pid
    failed0, unsent0 = len(tracker.failed), tracker.unsent
    (user0, sys0), client0, t0 = proc_cpu_s(pid), time.process_time(), time.perf_counter()
    if mode == "closed":
        batches = await asyncio.gather(*(v.closed_loop(mode, messages) for v in visitors))
    elif mode == "paced":
        every_s = len(visitors) / rate
        batches = await asyncio.gather(
            *(
                v.paced(mode, messages, t0 + i * every_s / len(visitors), every_s)
                for i, v in enumerate(visitors)
            )
        )
    else:
        batches = await asyncio.gather(*(v.pipelined(mode, messages) for v in visitors))
    ids = {cid for batch in batches for cid in batch}
    tracker.expect(ids)
    with contextlib.suppress(TimeoutError):
        # Messages never acked may still have been committed: give them a moment, no more.
        wait = PHASE_TIMEOUT_S if not tracker.failed else 2.0
        await asyncio.wait_for(tracker.all_arrived.wait(), wait)
    got = [cid for cid in ids if cid in tracker.arrived]
    end = max((tracker.arrived[cid] for cid in got), default=time.perf_counter())
    elapsed = end - t0
    (user1, sys1), client1 = proc_cpu_s(pid), time.process_time()
    server_cpu = (user1 - user0) + (sys1 - sys0)
    latencies = [(tracker.arrived[cid] - tracker.sent[cid]) * 1000 for cid in got]
    acks = [(tracker.acked[cid] - tracker.sent[cid]) * 1000 for cid in ids if cid in tracker.acked]
    return Phase(
        msgs_per_s=len(got) / elapsed,
        p50_ms=pct(latencies, 50),
        p99_ms=pct(latencies, 99),
        ack_p50_ms=pct(acks, 50),
        ack_p99_ms=pct(acks, 99),
        lost=len(ids) - len(got),
        failed=len(tracker.failed) - failed0 + tracker.unsent - unsent0,
        server_cpu_pct=100 * server_cpu / elapsed,
        server_sys_pct=100 * (sys1 - sys0) / elapsed,
        server_cpu_ms_per_msg=1000 * server_cpu / max(len(got), 1),
        client_cpu_pct=100 * (client1 - client0) / elapsed,
    )


async def drive(
    server: Server, world: World, n_visitors: int, messages: int, pipelined: bool
) -> dict[str, Phase]:
    tracker = Tracker()
    agents = [Agent(server.base_url, email, tracker) for email in world.agent_emails]
    visitors = [Visitor(i, server.base_url, world.widget_key, tracker) for i in range(n_visitors)]
    all_visitors = list(visitors)
    try:
        for agent in agents:
            await agent.start()
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            sem = asyncio.Semaphore(10)

            async def start(v: Visitor) -> None:
                async with sem:
                    await v.start(http)

            await asyncio.gather(*(start(v) for v in visitors))
        # Warm-up: the first message opens each thread and a contact; agents accept the
        # offers; a few more messages warm caches once every thread is assigned.
        await asyncio.gather(*(v.closed_loop("first", 1) for v in visitors))
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        threads = {v.thread_id for v in visitors if v.thread_id}
        while not threads <= set().union(*(a.accepted for a in agents)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"threads not assigned; errors: {tracker.errors[:3]}")
            await asyncio.sleep(0.05)
        warm = await asyncio.gather(*(v.closed_loop("warm", WARMUP_MESSAGES) for v in visitors))
        tracker.expect({cid for batch in warm for cid in batch} - tracker.failed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tracker.all_arrived.wait(), PHASE_TIMEOUT_S)
        visitors = [v for v in visitors if not v.closed]  # the dead ones were reported
        if tracker.errors:
            log(f"  warm-up: {len(tracker.errors)} errors, first: {tracker.errors[0]}")
        results = {"closed": await measure(server, tracker, visitors, messages, "closed")}
        if pipelined:
            # half as many messages: same figures, and the run stays within its time budget
            results["pipelined"] = await measure(
                server, tracker, visitors, max(1, messages // 2), "pipelined"
            )
        # the latency at half the closed loop's rate: issue 10's "p99 under 50 ms at half
        # that rate" (half of what this server just sustained, not of the minimal app's)
        half = results["closed"].msgs_per_s / 2
        results["paced"] = await measure(
            server, tracker, visitors, max(1, messages // 2), "paced", half
        )
        if tracker.errors:
            log(f"  {len(tracker.errors)} errors in all, first: {tracker.errors[0]}")
        return results
    finally:
        await asyncio.gather(*(v.close() for v in all_visitors), return_exceptions=True)
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)


# ------------------------------------------------------------------ per backend
async def run_backend(
    backend: str, url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    n_agents = max(1, math.ceil(args.visitors / CAPACITY_PER_AGENT))
    world = await make_world(url, n_agents)
    total = args.visitors * args.messages
    raw_seq = await raw_commits(url, max(300, total // 4), 1)
    raw_conc = await raw_commits(url, max(300, total // 4), args.visitors)
    log(
        f"  {backend}: raw commits {raw_seq:.0f}/s (1 connection), "
        f"{raw_conc:.0f}/s ({args.visitors} concurrent)"
    )
    py_spy = None
    if args.py_spy:
        stem, _, ext = args.py_spy.rpartition(".")
        py_spy = (
            f"{stem}.{backend}.{ext}"
            if ext in ("svg", "json", "txt")
            else f"{args.py_spy}.{backend}.svg"
        )
    # The minimal same-stack app first (its own process, its own scratch table, the same
    # clients and phases), then Threadline; both on this database in this run.
    minimal: dict[str, Phase] = {}
    if not args.no_minimal:
        app = Server(url, workdir, None, minimal=True)
        try:
            await app.ready()
            minimal = await drive(app, world, args.visitors, args.messages, not args.no_pipeline)
        finally:
            app.stop()
        log(f"  {backend}: minimal app {minimal['closed'].msgs_per_s:.0f} msgs/s")
    profile = os.environ.get("THREADLINE_BENCH_CPROFILE")
    if profile:
        os.environ["THREADLINE_BENCH_CPROFILE"] = f"{profile}.{backend}.prof"
    server = Server(url, workdir, py_spy)
    if profile:
        os.environ["THREADLINE_BENCH_CPROFILE"] = profile
    try:
        await server.ready()
        phases = await drive(server, world, args.visitors, args.messages, not args.no_pipeline)
    finally:
        server.stop()
    return {"raw_seq": raw_seq, "raw_conc": raw_conc, "phases": phases, "minimal": minimal}


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"visitors": args.visitors, "messages_per_visitor": args.messages}
    header = (
        f"{'backend':<9} {'mode':<10} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'ack p50':>8} {'raw 1-conn/s':>12} {'raw conc/s':>10} {'ratio':>6} "
        f"{'app msg/s':>9} {'vs app':>6} "
        f"{'srv cpu%':>8} {'(sys)':>6} {'cpu ms/msg':>10} {'cli cpu%':>8} {'lost':>5} "
        f"{'failed':>6}"
    )
    print(
        f"\nchat ingest, end to end: {args.visitors} visitors x {args.messages} messages, "
        f"visitor WS -> commit -> agent desktop WS (server: separate process, uvloop)"
    )
    print(header)
    print("-" * len(header))
    for backend, res in results.items():
        raw_seq, raw_conc = res["raw_seq"], res["raw_conc"]
        figures[f"{backend}_raw_commits_per_s"] = round(raw_seq, 1)
        figures[f"{backend}_raw_concurrent_commits_per_s"] = round(raw_conc, 1)
        for mode, ph in res["phases"].items():
            ratio = ph.msgs_per_s / raw_seq
            prefix = backend if mode == "closed" else f"{backend}_{mode}"
            app = res["minimal"].get(mode)
            app_rate = app.msgs_per_s if app else float("nan")
            vs_app = ph.msgs_per_s / app_rate if app else float("nan")
            if app:
                figures.update(
                    {
                        f"{prefix}_ratio_vs_app": round(vs_app, 3),
                        f"{prefix}_app_msgs_per_s": round(app.msgs_per_s, 1),
                        f"{prefix}_app_p99_ms": round(app.p99_ms, 2),
                        f"{prefix}_app_server_cpu_ms_per_msg": round(app.server_cpu_ms_per_msg, 2),
                        f"{prefix}_app_failed_messages": app.failed,
                    }
                )
            figures.update(
                {
                    f"{prefix}_msgs_per_s": round(ph.msgs_per_s, 1),
                    f"{prefix}_p50_ms": round(ph.p50_ms, 2),
                    f"{prefix}_p99_ms": round(ph.p99_ms, 2),
                    f"{prefix}_ack_p50_ms": round(ph.ack_p50_ms, 2),
                    f"{prefix}_ack_p99_ms": round(ph.ack_p99_ms, 2),
                    f"{prefix}_ratio": round(ratio, 3),
                    f"{prefix}_ratio_vs_concurrent": round(ph.msgs_per_s / raw_conc, 3),
                    f"{prefix}_server_cpu_pct": round(ph.server_cpu_pct, 1),
                    f"{prefix}_server_cpu_ms_per_msg": round(ph.server_cpu_ms_per_msg, 2),
                    f"{prefix}_lost_messages": ph.lost,
                    f"{prefix}_failed_messages": ph.failed,
                }
            )
            print(
                f"{backend:<9} {mode:<10} {ph.msgs_per_s:>8.1f} {ph.p50_ms:>8.1f} "
                f"{ph.p99_ms:>8.1f} {ph.ack_p50_ms:>8.1f} {raw_seq:>12.0f} {raw_conc:>10.0f} "
                f"{ratio:>6.3f} {app_rate:>9.1f} {vs_app:>6.3f} {ph.server_cpu_pct:>8.0f} "
                f"{ph.server_sys_pct:>6.0f} "
                f"{ph.server_cpu_ms_per_msg:>10.2f} {ph.client_cpu_pct:>8.0f} {ph.lost:>5} "
                f"{ph.failed:>6}"
            )
    print(
        "ratio = msgs/s / raw single-connection one-row commits/s on the same database; "
        "app msg/s = the minimal same-stack app (bench/minimal_chat_app.py: WebSocket in, "
        "INSERT + COMMIT, push to the agent's socket, ack) driven by the same clients; "
        "vs app = Threadline msgs/s / that; "
        "srv cpu% 100 = one core busy (sys = kernel part); cpu ms/msg = server CPU per "
        f"message; lost = never reached an agent; failed = never acked; {os.cpu_count()} "
        f"cores, load average before the run {LOAD_BEFORE}"
    )
    return figures


LOAD_BEFORE = "?"


def main() -> None:
    global LOAD_BEFORE
    with contextlib.suppress(OSError):
        LOAD_BEFORE = Path("/proc/loadavg").read_text().split()[0]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipelined phase")
    parser.add_argument(
        "--no-minimal", action="store_true", help="skip the minimal same-stack app baseline"
    )
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        default=None,
        help="profile the server with py-spy: out.svg (flame graph), out.json "
        "(speedscope) or out.txt (collapsed stacks) -> out.BACKEND.EXT",
    )
    args = parser.parse_args()
    if not 1 <= args.visitors <= 500 or not 1 <= args.messages <= 1000:
        parser.error("--visitors must be 1..500 and --messages 1..1000")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        for backend in backends:
            log(f"{backend}: preparing")
            with (
                database(backend, Path(tmp)) as url,
                asyncio.Runner(loop_factory=loop_factory) as runner,
            ):
                results[backend] = runner.run(run_backend(backend, url, Path(tmp), args))
    figures = report(results, args)
    print(json.dumps(figures))


if __name__ == "__main__":
    from threadline.db import across_orgs

    with across_orgs():  # the bench sets up and checks every organisation's rows
        main()
