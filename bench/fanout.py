#!/usr/bin/env python
"""Fan-out: one event to 2,000 agent desktops, through a real server.

In one run:

1. a fresh database (SQLite file by default, or PostgreSQL), migrated; an organisation, a
   queue, a supervisor (the producer) and N agents created through the services (one
   password hash computed once and reused: argon2 for 2,000 agents would take minutes);
2. a real server in its own process (`threadline serve`: uvicorn, websockets-sansio, as in
   production); every agent logs in through `POST /api/v1/auth/login`;
3. producer-only cost: K presence changes with no desktop open (`PUT /api/v1/agents/{id}/
   presence`, the supervisor's own, alternating away/available), server CPU per event;
4. D desktop sockets (`/api/v1/stream`, authenticated by the session cookie), D/N per agent
   (an agent with several tabs), opened gradually; then K presence changes again: each is
   an `agent.presence` frame every desktop of the organisation shows. Per event: time from
   the producing HTTP call to each desktop's receipt of the frame (p50, p99, max over every
   desktop and event), and server CPU ms per event (from /proc/<pid>/stat, all threads,
   measured from the call until a short settle after the last receipt);
5. the baseline, same stack, same machine, same client: a minimal FastAPI app on uvicorn
   (websockets-sansio, no compression) holding D sockets, whose `POST /fire` serialises one
   frame of the same size once and sends it to every socket; measured like step 4.
   The ratios (app / baseline) are what to compare across machines and minutes.

The desktops are a small raw WebSocket client (asyncio protocol: a handshake, unmasked
server frames, pongs), so that 2,000 sockets in one client process cost little CPU and the
client does not dominate the latency it measures.

File descriptors: D sockets on each side. The bench raises its own RLIMIT_NOFILE soft limit
to the hard limit (the servers it starts inherit it) and refuses to run when that is below
D + 500.

`--py-spy out.txt|out.json|out.svg` samples the app server with py-spy during the fan-out
phase only (set PY_SPY to its path if it is not on PATH); `--profile out.prof` runs the
whole app server under cProfile instead (written at shutdown; `python -m pstats out.prof`).

    python bench/fanout.py [--desktops 2000] [--agents 100] [--events 30]
                           [--backend sqlite|postgres] [--py-spy out.txt] [--profile out.prof]

Prints a table, then as its last line one JSON object: `p99_ms`, `cpu_ms_per_event`, the
baseline's figures and the ratios among the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve()
ROOT = BENCH.parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
from fastapi import FastAPI, WebSocket, WebSocketDisconnect  # noqa: E402

from chat_ingest import database, free_port, log, pct  # noqa: E402

SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105 (throwaway server)
PASSWORD = "bench password 123"  # noqa: S105 (throwaway agents)
HOST = "127.0.0.1"
OPEN_BATCH = 50  # sockets opened at once
EVENT_TIMEOUT_S = 20.0
SETTLE_S = 0.15  # after the last receipt: let the event's trailing work finish


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} < {needed}: raise it (ulimit -Hn)")
    return hard


# ------------------------------------------------------------------ the desktops
class Desktop(asyncio.Protocol):
    """One raw WebSocket client: records when each text frame carrying `marker` arrives."""

    def __init__(self, path: str, host: str, cookie: str | None, marker: bytes) -> None:
        self.path, self.host, self.cookie, self.marker = path, host, cookie, marker
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.arrivals: list[float] = []
        self.on_arrival: Callable[[], None] | None = None
        self.closed_with: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.cookie:
            lines.append(f"Cookie: tl_session={self.cookie}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n", 1)[0]
            del self.buffer[: end + 4]
            if b" 101 " not in status:
                self._fail(ConnectionError(status.decode(errors="replace")))
                return
            self.upgraded = True
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = struct.unpack_from("!H", buf, 2)[0], 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            if opcode == 0x1:
                self._text(payload, now)
            elif opcode == 0x9:  # ping: pong, or the server drops us after its timeout
                self._send(0xA, payload)
            elif opcode == 0x8:
                self.closed_with = struct.unpack_from("!H", payload)[0] if payload else 1005
                self._fail(ConnectionError(f"closed by the server: {self.closed_with}"))

    def _text(self, payload: bytes, now: float) -> None:
        if not self.opened.done():
            self.opened.set_result(None)  # the first frame: the app's hello, or the baseline's
            return
        if self.marker in payload:
            self.arrivals.append(now)
            if self.on_arrival is not None:
                self.on_arrival()

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection lost: {exc}"))
        if self.closed_with is None:
            self.closed_with = 1006

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_desktops(
    port: int, path: str, cookies: list[str | None], marker: bytes
) -> list[Desktop]:
    """Open one desktop per cookie, OPEN_BATCH at a time, each waiting for its first frame."""
    loop = asyncio.get_running_loop()
    desktops: list[Desktop] = []
    for start in range(0, len(cookies), OPEN_BATCH):
        batch = [
            Desktop(path, f"{HOST}:{port}", c, marker) for c in cookies[start : start + OPEN_BATCH]
        ]
        for desktop in batch:
            await loop.create_connection(lambda d=desktop: d, HOST, port)  # type: ignore[misc]
        await asyncio.wait_for(asyncio.gather(*(d.opened for d in batch)), 60)
        desktops.extend(batch)
        if start and start % 500 == 0:
            log(f"  {len(desktops)} desktops open")
    return desktops


# ------------------------------------------------------------------ measuring
@dataclass
class Figures:
    latencies_ms: list[float]
    cpu_ms_per_event: float
    missing: int
    events: int

    def row(self, name: str) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "name": name,
            "events": self.events,
            "p50_ms": round(pct(lat, 50), 2),
            "p99_ms": round(pct(lat, 99), 2),
            "max_ms": round(max(lat), 2) if lat else float("nan"),
            "cpu_ms_per_event": round(self.cpu_ms_per_event, 2),
            "missing": self.missing,
        }


class Countdown:
    """Set `done` once every desktop received the event."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.done = asyncio.Event()
        if count <= 0:
            self.done.set()

    def tick(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.done.set()


async def measure(
    pid: int, desktops: list[Desktop], events: int, fire: Callable[[int], Awaitable[None]]
) -> Figures:
    """Fire `events` events one after another; each is done when every desktop got it."""
    latencies: list[float] = []
    missing = 0
    cpu_before = proc_cpu_s(pid)  # over the whole loop: /proc counts in 10 ms ticks
    for i in range(events):
        countdown = Countdown(len(desktops))
        for desktop in desktops:
            desktop.on_arrival = countdown.tick
            desktop.arrivals.clear()
        started = time.perf_counter()
        await fire(i)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(countdown.done.wait(), EVENT_TIMEOUT_S)
        await asyncio.sleep(SETTLE_S)
        for desktop in desktops:
            if desktop.arrivals:
                latencies.append((desktop.arrivals[0] - started) * 1000)
            else:
                missing += 1
    cpu_total = proc_cpu_s(pid) - cpu_before
    for desktop in desktops:
        desktop.on_arrival = None
    return Figures(latencies, cpu_total * 1000 / max(events, 1), missing, events)


# ------------------------------------------------------------------ the app
async def make_world(url: str, n_agents: int) -> tuple[str, list[str], str]:
    """An organisation with a queue, a supervisor and n agents; returns (org id, agent
    emails, supervisor email)."""
    import threadline.agents.services as agent_services
    from threadline.agents.schemas import AgentCreate
    from threadline.app import build_context, running
    from threadline.config import Settings
    from threadline.orgs.services import do_create_org
    from threadline.passwords import hash_password
    from threadline.routing.schemas import QueueIn
    from threadline.routing.services import do_create_queue

    hashed = hash_password(PASSWORD)
    agent_services.hash_password = lambda _password: hashed  # type: ignore[attr-defined]
    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    emails: list[str] = []
    async with running(ctx):
        org = await do_create_org(ctx, f"bench-{uuid.uuid4().hex[:6]}", "Bench Bank")
        await do_create_queue(ctx, org.id, QueueIn(name="General", required_skills=["general"]))
        for i in range(n_agents + 1):
            boss = i == n_agents
            email = "boss@bench.example.com" if boss else f"agent{i}@bench.example.com"
            data = AgentCreate(
                email=email,
                name="The Supervisor" if boss else f"Agent {i}",
                password=PASSWORD,
                role="supervisor" if boss else "agent",
                skills={"general": 3},
                languages=["en"],
                capacity={"chat": 5},  # type: ignore[dict-item]
            )
            await agent_services.do_create_agent(ctx, org.id, data)
            emails.append(email)
    return org.id, emails[:-1], emails[-1]


class Process:
    """A server in its own process group, on a free port of 127.0.0.1."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter, no shell)
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, path: str, within_s: float = 60) -> None:
        deadline = time.monotonic() + within_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(path)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)  # uvicorn shuts down; cProfile writes
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@contextlib.contextmanager
def py_spy(pid: int, output: str | None):  # type: ignore[no-untyped-def]
    """Sample the server with py-spy (if installed) while the block runs: the fan-out only,
    not the logins and socket openings around it. Output format by suffix: .txt (collapsed
    stacks), .json (speedscope), else an SVG flame graph."""
    if not output:
        yield
        return
    exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
    fmt = {"json": "speedscope", "txt": "raw"}.get(output.rsplit(".", 1)[-1], "flamegraph")
    cmd = [exe, "record", "--pid", str(pid), "--rate", "200", "--format", fmt, "-o", output]
    spy = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # noqa: S603
    time.sleep(1.0)  # attached before the first event
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def app_server(url: str, workdir: Path, profile: str | None) -> Process:
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "THREADLINE_DATABASE_URL": url,
            "THREADLINE_SECRET_KEY": SECRET,
            "THREADLINE_LOG_LEVEL": "WARNING",
            "THREADLINE_HOST": HOST,
            "THREADLINE_PORT": str(port),
            "THREADLINE_BASE_URL": f"http://{HOST}:{port}",
            "THREADLINE_BUS_URL": "memory://",
            "THREADLINE_RATE_LIMITS_ENABLED": "false",  # every agent logs in from 127.0.0.1
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    code = "from threadline.cli import main; main()"
    cmd = [sys.executable, "-c", code, "serve"]
    if profile:
        script = workdir / "serve.py"
        script.write_text(code + "\n")
        cmd = [sys.executable, "-m", "cProfile", "-o", str(Path(profile).resolve()), str(script)]
        cmd.append("serve")
    return Process(cmd, env, workdir, port)


async def run_app(args: argparse.Namespace, workdir: Path) -> dict[str, Figures]:
    with database(args.backend, workdir) as url:
        log(f"world: {args.agents} agents + a supervisor ({args.backend})")
        _org_id, emails, boss_email = await make_world(url, args.agents)
        server = app_server(url, workdir, args.profile)
        clients: list[httpx.AsyncClient] = []
        desktops: list[Desktop] = []
        try:
            await server.ready("/healthz")
            log("logging in")
            cookies: list[str] = []
            sem = asyncio.Semaphore(8)

            async def login(email: str) -> tuple[httpx.AsyncClient, str]:
                client = httpx.AsyncClient(base_url=server.base_url, timeout=60)
                clients.append(client)
                async with sem:
                    r = await client.post(
                        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
                    )
                r.raise_for_status()
                return client, r.json()["agent_id"]

            agent_clients = await asyncio.gather(*(login(e) for e in emails))
            cookies = [str(c.cookies.get("tl_session")) for c, _ in agent_clients]
            boss, boss_id = await login(boss_email)
            presences = ("away", "available")

            async def fire(i: int) -> None:
                r = await boss.put(
                    f"/api/v1/agents/{boss_id}/presence", json={"presence": presences[i % 2]}
                )
                r.raise_for_status()

            log(f"producer only: {args.events} presence changes, no desktop open")
            for i in range(3):
                await fire(i)  # warm-up
            idle = await measure(server.pid, [], args.events, fire)
            per_agent = [cookies[i % len(cookies)] for i in range(args.desktops)]
            log(f"opening {args.desktops} desktops ({args.desktops // len(cookies)} per agent)")
            desktops = await open_desktops(
                server.port, "/api/v1/stream", list(per_agent), b'"agent.presence"'
            )
            await measure(server.pid, desktops, 3, fire)  # warm-up
            log(f"fan-out: {args.events} presence changes to {len(desktops)} desktops")
            with py_spy(server.pid, args.py_spy):
                fanout = await measure(server.pid, desktops, args.events, fire)
            closed = sum(1 for d in desktops if d.closed_with is not None)
            if closed:
                log(f"  {closed} desktops were closed by the server")
            return {"idle": idle, "app": fanout}
        finally:
            for desktop in desktops:
                desktop.close()
            for client in clients:
                await client.aclose()
            server.stop()


# ------------------------------------------------------------------ the baseline


def baseline_app(frame_chars: int) -> Any:
    """The floor: a FastAPI app that keeps its sockets in a set and, on `POST /fire`,
    serialises one frame once and sends that text to every socket."""
    app = FastAPI()
    sockets: set[WebSocket] = set()

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text('{"type":"hello"}')
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    @app.post("/fire")
    async def fire() -> dict[str, int]:
        frame = {"type": "agent.presence", "id": str(uuid.uuid4()), "pad": ""}
        frame["pad"] = "x" * max(0, frame_chars - len(json.dumps(frame)))
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        for websocket in tuple(sockets):
            with contextlib.suppress(Exception):
                await websocket.send_text(text)
        return {"sent": len(sockets)}

    return app


def serve_baseline(port: int, frame_chars: int) -> None:
    import uvicorn

    uvicorn.run(
        baseline_app(frame_chars),
        host=HOST,
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
    )


async def run_baseline(args: argparse.Namespace, workdir: Path, frame_chars: int) -> Figures:
    port = free_port()
    cmd = [sys.executable, str(BENCH), "--serve-baseline", str(port)]
    cmd += ["--frame-chars", str(frame_chars)]
    server = Process(cmd, dict(os.environ), workdir, port)
    desktops: list[Desktop] = []
    try:
        await server.ready("/healthz")
        log(f"baseline: opening {args.desktops} sockets")
        desktops = await open_desktops(port, "/ws", [None] * args.desktops, b'"agent.presence"')
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:

            async def fire(_i: int) -> None:
                (await client.post("/fire")).raise_for_status()

            await measure(server.pid, desktops, 3, fire)
            log(f"baseline: {args.events} frames to {len(desktops)} sockets")
            return await measure(server.pid, desktops, args.events, fire)
    finally:
        for desktop in desktops:
            desktop.close()
        server.stop()


# ------------------------------------------------------------------ main
def presence_frame_chars() -> int:
    """The length of the `agent.presence` frame the app sends (the baseline's frame size)."""
    from datetime import UTC, datetime

    from threadline.events.domain import PresenceChanged

    event = PresenceChanged(
        org_id=str(uuid.uuid4()),
        agent_id=str(uuid.uuid4()),
        presence="available",
        at=datetime.now(UTC),
    )
    return len(json.dumps(event.frame(), separators=(",", ":")))


async def main_async(args: argparse.Namespace) -> None:
    hard = raise_fd_limit(args.desktops + 500)
    log(f"RLIMIT_NOFILE raised to {hard} (inherited by the servers)")
    frame_chars = presence_frame_chars()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        workdir = Path(tmp)
        baseline = await run_baseline(args, workdir, frame_chars)
        figures = await run_app(args, workdir)
    app, idle = figures["app"], figures["idle"]
    rows = [app.row("app"), idle.row("app, no desktop"), baseline.row("baseline")]
    head = f"{'':18}{'events':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(head + f"{'CPU ms/ev':>11}{'missing':>9}")
    for row in rows:
        print(
            f"{row['name']:18}{row['events']:>7}{row['p50_ms']:>9}{row['p99_ms']:>9}"
            f"{row['max_ms']:>9}{row['cpu_ms_per_event']:>11}{row['missing']:>9}"
        )
    fanout_cpu = app.cpu_ms_per_event - idle.cpu_ms_per_event
    ratio = {
        "p99_ratio": round(pct(app.latencies_ms, 99) / pct(baseline.latencies_ms, 99), 2),
        "p50_ratio": round(pct(app.latencies_ms, 50) / pct(baseline.latencies_ms, 50), 2),
        "cpu_ratio": round(app.cpu_ms_per_event / baseline.cpu_ms_per_event, 2),
        "fanout_cpu_ratio": round(fanout_cpu / baseline.cpu_ms_per_event, 2),
    }
    print(
        f"ratios app/baseline: p99 {ratio['p99_ratio']}x, p50 {ratio['p50_ratio']}x, "
        f"CPU {ratio['cpu_ratio']}x; fan-out CPU alone (app - producer only) "
        f"{fanout_cpu:.1f} ms/event = {ratio['fanout_cpu_ratio']}x baseline"
    )
    result = {
        "desktops": args.desktops,
        "agents": args.agents,
        "events": args.events,
        "backend": args.backend,
        "p50_ms": rows[0]["p50_ms"],
        "p99_ms": rows[0]["p99_ms"],
        "max_ms": rows[0]["max_ms"],
        "cpu_ms_per_event": rows[0]["cpu_ms_per_event"],
        "missing": app.missing,
        "producer_only_cpu_ms_per_event": rows[1]["cpu_ms_per_event"],
        "fanout_cpu_ms_per_event": round(fanout_cpu, 2),
        "baseline_p50_ms": rows[2]["p50_ms"],
        "baseline_p99_ms": rows[2]["p99_ms"],
        "baseline_max_ms": rows[2]["max_ms"],
        "baseline_cpu_ms_per_event": rows[2]["cpu_ms_per_event"],
        "baseline_missing": baseline.missing,
        **ratio,
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desktops", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", help="cProfile the app server into this file")
    parser.add_argument("--py-spy", help="py-spy the app server's fan-out into this file")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--frame-chars", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline, args.frame_chars)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    from threadline.db import across_orgs

    with across_orgs():  # the bench sets up and checks every organisation's rows
        main()
