#!/usr/bin/env python
"""Start-up time of a real server: empty database against a busy centre's database.

For each backend (SQLite file, PostgreSQL), in one run:

1. an empty database, migrated (no organisation at all);
2. a loaded database, migrated, then filled in bulk (Core ``executemany`` through the
   models' own tables, so every value is bound by the same column types the services
   use): one organisation with 20 queues (some overflowing to a wider skill), 12 skills,
   5 languages, 300 agents (a third available and full, a third away, a third
   offline), 60,000 customers with an identity each, 100,000 threads and 500,000
   timeline events (five per thread, the entries the services write: messages,
   ``queued``, ``assigned``, ``resolved``), one contact per thread: 20,000 waiting
   (``queued``), the available agents' slots ``assigned``, the rest ``resolved`` with
   their handle times;
3. for each database, several times: a fresh copy (the server changes what it starts
   on: a free slot found at start-up becomes an offer), then ``threadline serve`` in its
   own process (uvicorn, as in production); the time from launching the process to the
   first ``/healthz`` answer.  uvicorn runs the application's lifespan (bus, routing's
   engines rebuilt from storage and matched, workers) before it opens its socket, so
   the first answer means "ready to serve".  The median of the runs is reported.

The loaded database takes minutes to build (most of it PostgreSQL's 500,000 events);
``--cache DIR`` keeps the built databases (an SQLite file there, a PostgreSQL template
database named after its digest) and reuses them on the next run with the same
``--seed`` and the same migrations.  The default run builds everything and drops it.

    python bench/startup.py [--backends sqlite,postgres] [--runs 3] [--cache DIR]

Prints a table, then as its last line one JSON object: ``empty_s``, ``loaded_s`` and
``ratio`` (loaded / empty) of the first backend, and the same per backend.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from threadline.encryption import generate_key  # noqa: E402

# Endpoint secrets are encrypted at rest: the world this process writes and the server
# processes it starts (other working directories) must share one key.
os.environ.setdefault("THREADLINE_ENCRYPTION_KEYS", generate_key())

import httpx  # noqa: E402
from sqlalchemy import Engine, Table, create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "THREADLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105 (throwaway server)
HOST = "127.0.0.1"

THREADS = 100_000
EVENTS_PER_THREAD = 5  # 500,000 timeline events
WAITING = 20_000
CUSTOMERS = 60_000
AGENTS = 300
QUEUES = 20
SKILLS = [f"skill{i:02d}" for i in range(12)]
LANGUAGES = ["en", "pt", "es", "ru", "el"]
LANGUAGE_WEIGHTS = [50, 15, 20, 10, 5]
CHANNELS = ["chat", "email", "sms", "voice"]
CHANNEL_WEIGHTS = [45, 30, 15, 10]
PROFILES = [  # (capacity per channel, max_total), as in bench/routing.py
    ({"chat": 3, "sms": 3, "email": 5, "voice": 1}, 6),
    ({"chat": 3, "sms": 2}, None),
    ({"voice": 1}, None),
    ({"email": 5, "chat": 2}, 5),
]
WRAPUPS = ["solved", "information_given", "escalated", "no_answer"]
BATCH = 5_000
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the data's "now"; the server's is later


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def sync_url(url: str) -> str:
    return url.replace("+aiosqlite", "")


# ------------------------------------------------------------------ the data
def make_rows(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of the loaded database, by table, as the services would have written it."""
    from threadline.passwords import hash_password

    rng = random.Random(seed)
    ids = _Ids(rng)
    org_id = ids.new()
    rows: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in (
            "organizations",
            "queues",
            "agents",
            "customers",
            "identities",
            "threads",
            "contacts",
            "thread_events",
        )
    }
    rows["organizations"].append(
        {
            "id": org_id,
            "slug": "busy-centre",
            "name": "Busy Centre",
            "timezone": "UTC",
            "created_at": NOW - timedelta(days=400),
        }
    )
    queues = []
    for i in range(QUEUES):
        skills = sorted(rng.sample(SKILLS, rng.choice([1, 1, 2])))
        overflow = len(skills) == 2 and rng.random() < 0.6
        queue = {
            "id": ids.new(),
            "org_id": org_id,
            "name": f"Queue {i:02d}",
            "required_skills": skills,
            "priority": rng.choice([0, 0, 0, 1, 2]),
            "sl_target_pct": 80,
            "sl_threshold_s": 20,
            "offer_timeout_s": None,
            "overflow_after_s": rng.choice([60, 120, 300]) if overflow else None,
            "overflow_skills": [skills[0]] if overflow else None,
            "business_hours": {},
            "callback_policy": {},
            "created_at": NOW - timedelta(days=300),
        }
        queues.append(queue)
    rows["queues"] = queues
    queue_weights = [1 / (i + 1) ** 0.7 for i in range(QUEUES)]

    password_hash = hash_password("bench password 123")
    agents = []
    for i in range(AGENTS):
        skills: set[str] = set()
        for queue in rng.choices(queues, queue_weights, k=rng.choice([1, 2, 3])):
            skills |= set(queue["required_skills"])
        languages = {"en"} | set(rng.sample(LANGUAGES, rng.choice([0, 1, 1, 2])))
        capacity, max_total = rng.choice(PROFILES)
        presence = ("available", "away", "offline")[i % 3]
        since = NOW - timedelta(seconds=rng.uniform(0, 3600))
        agents.append(
            {
                "id": ids.new(),
                "org_id": org_id,
                "email": f"agent{i:03d}@busy.example.com",
                "name": f"Agent {i:03d}",
                "password_hash": password_hash,
                "role": "supervisor" if i % 25 == 0 else "agent",
                "skills": {s: rng.randint(1, 5) for s in sorted(skills)},
                "languages": sorted(languages),
                "tier": rng.randint(1, 3),
                "capacity": dict(capacity),
                "max_total": max_total,
                "presence": presence,
                "presence_since": since,
                "idle_since": since,
                "timezone": "UTC",
                "active": True,
                "created_at": NOW - timedelta(days=200),
            }
        )
    rows["agents"] = agents

    customers = []
    for i in range(CUSTOMERS):
        customer_id = ids.new()
        created = NOW - timedelta(days=rng.uniform(1, 365))
        customers.append(
            {
                "id": customer_id,
                "org_id": org_id,
                "name": f"Customer {i}",
                "email": f"customer{i}@example.net",
                "phone": None,
                "language": rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0],
                "timezone": None,
                "attributes": {},
                "last_agent_id": None,
                "last_served_at": None,
                "merged_into_id": None,
                "created_at": created,
            }
        )
        rows["identities"].append(
            {
                "id": ids.new(),
                "org_id": org_id,
                "customer_id": customer_id,
                "kind": "email",
                "value": f"customer{i}@example.net",
                "verified": False,
                "created_at": created,
            }
        )
    rows["customers"] = customers

    # the available agents' slots, filled: one assigned contact per slot
    slots: list[tuple[dict[str, Any], str]] = []
    for agent in agents:
        if agent["presence"] != "available":
            continue
        room = agent["max_total"] or sum(agent["capacity"].values())
        for channel, n in agent["capacity"].items():
            take = min(n, room)
            slots.extend((agent, channel) for _ in range(take))
            room -= take
    statuses = ["queued"] * WAITING + ["assigned"] * len(slots)
    statuses += ["resolved"] * (THREADS - len(statuses))
    order = list(range(THREADS))
    rng.shuffle(order)
    for n, status in enumerate(statuses):
        customer = customers[order[n] % CUSTOMERS]
        queue = rng.choices(queues, queue_weights)[0]
        agent, channel = (
            slots.pop()
            if status == "assigned"
            else (None, rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0])
        )
        _thread(rows, ids, rng, org_id, customer, queue, status, agent, agents, channel)
    return rows


class _Ids:
    """UUID4 strings from the benchmark's seed: the same database on every build."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def new(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def _thread(
    rows: dict[str, list[dict[str, Any]]],
    ids: _Ids,
    rng: random.Random,
    org_id: str,
    customer: dict[str, Any],
    queue: dict[str, Any],
    status: str,
    agent: dict[str, Any] | None,
    agents: list[dict[str, Any]],
    channel: str,
) -> None:
    """One thread, its contact and its five timeline entries."""
    thread_id, contact_id = ids.new(), ids.new()
    if status == "queued":
        opened = NOW - timedelta(seconds=rng.uniform(5, 3600))
    elif status == "assigned":
        opened = NOW - timedelta(seconds=rng.uniform(60, 1800))
    else:
        opened = NOW - timedelta(days=rng.uniform(0.01, 365))
    language = customer["language"] if rng.random() < 0.95 else None
    enqueued = opened + timedelta(seconds=2)
    contact: dict[str, Any] = {
        "id": contact_id,
        "org_id": org_id,
        "thread_id": thread_id,
        "customer_id": customer["id"],
        "queue_id": queue["id"],
        "channel": channel,
        "status": status,
        "priority": queue["priority"],
        "required_skills": list(queue["required_skills"]),
        "language": language,
        "min_tier": 0,
        "reason": None,
        "context": {},
        "excluded_agents": [],
        "enqueued_at": enqueued,
        "agent_id": None,
        "accepted_at": None,
        "ended_at": None,
        "wrapup_reason": None,
    }
    thread: dict[str, Any] = {
        "id": thread_id,
        "org_id": org_id,
        "customer_id": customer["id"],
        "status": status,
        "subject": None,
        "language": language,
        "assigned_agent_id": None,
        "last_seq": EVENTS_PER_THREAD,
        "customer_delivered_seq": 0,
        "customer_read_seq": 0,
        "agent_read_seq": 0,
        "created_at": opened,
        "updated_at": opened,
    }
    seq = 0

    def entry(at: datetime, kind: str, author_type: str, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        event = {
            "org_id": org_id,
            "thread_id": thread_id,
            "seq": seq,
            "kind": kind,
            "channel": channel,
            "author_type": author_type,
            "author_id": None,
            "author_name": None,
            "body": None,
            "data": {},
            "client_msg_id": None,
            "provider_msg_id": None,
            "contact_id": None,
            "created_at": at,
        }
        event.update(fields)
        rows["thread_events"].append(event)
        thread["updated_at"] = at

    def said(at: datetime, body: str) -> None:
        entry(
            at,
            "message",
            "customer",
            author_id=customer["id"],
            author_name=customer["name"],
            body=body,
            client_msg_id=uuid.UUID(int=rng.getrandbits(128)).hex if channel == "chat" else None,
        )

    said(opened, "Hello, I need help with my account")
    queued = {"queue": queue["name"], "reason": None}
    entry(enqueued, "queued", "system", contact_id=contact_id, data=queued)
    if status == "queued":
        said(enqueued + timedelta(seconds=30), "Is anyone there?")
        said(enqueued + timedelta(seconds=60), "Still waiting")
        said(enqueued + timedelta(seconds=90), "Please call me back")
    else:
        if agent is None:
            agent = rng.choice(agents)
        accepted = enqueued + timedelta(seconds=rng.expovariate(1 / 45))
        wait_s = round((accepted - enqueued).total_seconds(), 1)
        by_agent = {"author_id": agent["id"], "author_name": agent["name"]}
        entry(
            accepted,
            "assigned",
            "agent",
            contact_id=contact_id,
            data={"wait_s": wait_s},
            **by_agent,
        )
        entry(
            accepted + timedelta(seconds=20),
            "message",
            "agent",
            body="Hi, I am looking into it",
            **by_agent,
        )
        thread["assigned_agent_id"] = agent["id"]
        contact.update(agent_id=agent["id"], accepted_at=accepted)
        if status == "resolved":
            ended = accepted + timedelta(seconds=rng.lognormvariate(5.5, 0.6))
            reason = rng.choice(WRAPUPS)
            entry(
                ended,
                "resolved",
                "agent",
                contact_id=contact_id,
                data={"reason": reason},
                **by_agent,
            )
            contact.update(ended_at=ended, wrapup_reason=reason)
            if customer["last_served_at"] is None or customer["last_served_at"] < ended:
                customer.update(last_agent_id=agent["id"], last_served_at=ended)
        else:
            said(accepted + timedelta(seconds=40), "Thank you")
    rows["threads"].append(thread)
    rows["contacts"].append(contact)


def fill(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Bulk insert through the models' tables (their types bind every value)."""
    from threadline.db import Base
    from threadline.models import import_models

    import_models()
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for name, table_rows in rows.items():
                table: Table = Base.metadata.tables[name]
                for start in range(0, len(table_rows), BATCH):
                    conn.execute(table.insert(), table_rows[start : start + BATCH])
        if url.startswith("postgres"):
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


# ------------------------------------------------------------------ databases
def admin_engine() -> Engine:
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def pg_url(name: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def migrations_digest() -> str:
    """Names the cached databases: the same seed and migrations give the same data."""
    versions = ROOT / "src" / "threadline" / "migrations" / "versions"
    digest = hashlib.sha256()
    for path in sorted(versions.glob("*.py")):
        digest.update(path.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:10]


class Built:
    """A built database (empty or loaded) that each run copies before starting on it."""

    def __init__(self, backend: str, workdir: Path, label: str) -> None:
        self.backend, self.workdir, self.label = backend, workdir, label
        self.url = ""
        self.name = ""  # PostgreSQL: the template database
        self.path: Path | None = None  # SQLite: the file
        self.keep = False

    def build(
        self, rows: dict[str, list[dict[str, Any]]] | None, cache: Path | None, seed: int
    ) -> None:
        from threadline.migrate import upgrade

        tag = f"{self.label}_{seed}_{migrations_digest()}"
        if self.backend == "sqlite":
            base = cache if cache is not None else self.workdir
            self.path = base / f"startup_{tag}.db"
            self.url = f"sqlite+aiosqlite:///{self.path}"
            self.keep = cache is not None
            if self.keep and self.path.exists():
                log(f"sqlite {self.label}: cached {self.path}")
                return
            partial = self.path.with_suffix(".partial")
            _remove_sqlite(partial)
            url = f"sqlite+aiosqlite:///{partial}"
            upgrade(url)
            if rows is not None:
                fill(url, rows)
            partial.replace(self.path)
            return
        self.name = f"tl_startup_{tag}"
        self.url = pg_url(self.name)
        self.keep = cache is not None
        admin = admin_engine()
        try:
            with admin.connect() as conn:
                exists = conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": self.name}
                )
                if exists and self.keep:
                    log(f"postgres {self.label}: cached database {self.name}")
                    return
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        finally:
            admin.dispose()
        upgrade(self.url)
        if rows is not None:
            fill(self.url, rows)

    @contextlib.contextmanager
    def copy(self) -> Iterator[str]:
        """A throwaway copy of the built database, for one server run."""
        if self.backend == "sqlite":
            assert self.path is not None
            target = self.workdir / f"run_{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self.path, target)
            try:
                yield f"sqlite+aiosqlite:///{target}"
            finally:
                _remove_sqlite(target)
            return
        name = f"tl_startup_run_{uuid.uuid4().hex[:8]}"
        admin = admin_engine()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
            try:
                yield pg_url(name)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def drop(self) -> None:
        if self.keep:
            return
        if self.backend == "sqlite":
            if self.path is not None:
                _remove_sqlite(self.path)
            return
        admin = admin_engine()
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def counts(url: str) -> dict[str, int]:
    """What the database holds, to print beside the figures (and to check the build)."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                "threads": conn.scalar(text("SELECT count(*) FROM threads")) or 0,
                "thread_events": conn.scalar(text("SELECT count(*) FROM thread_events")) or 0,
                "waiting": conn.scalar(
                    text("SELECT count(*) FROM contacts WHERE status = 'queued'")
                )
                or 0,
                "agents": conn.scalar(text("SELECT count(*) FROM agents")) or 0,
            }
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the server
def time_to_ready(url: str, workdir: Path, within_s: float = 600.0) -> float:
    """Launch `threadline serve` on ``url``; seconds until /healthz first answers 200."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    env = dict(os.environ)
    env.update(
        {
            "THREADLINE_DATABASE_URL": url,
            "THREADLINE_SECRET_KEY": SECRET,
            "THREADLINE_LOG_LEVEL": "WARNING",
            "THREADLINE_HOST": HOST,
            "THREADLINE_PORT": str(port),
            "THREADLINE_BASE_URL": base_url,
            "THREADLINE_BUS_URL": "memory://",
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    cmd = [sys.executable, "-c", "from threadline.cli import main; main()", "serve"]
    started = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter, no shell
        cmd, env=env, cwd=workdir, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        with httpx.Client(base_url=base_url, timeout=5) as client:
            while time.perf_counter() - started < within_s:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/healthz").status_code == 200:
                        return time.perf_counter() - started
                time.sleep(0.02)
        raise TimeoutError(f"server not ready within {within_s:.0f} s")
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


# ------------------------------------------------------------------ main
def run_backend(
    backend: str, runs: int, cache: Path | None, seed: int, rows_of: Any, workdir: Path
) -> dict[str, Any]:
    empty, loaded = Built(backend, workdir, "empty"), Built(backend, workdir, "loaded")
    try:
        t0 = time.perf_counter()
        empty.build(None, cache, seed)
        loaded.build(None if _cached(loaded, cache, seed) else rows_of(), cache, seed)
        log(f"{backend}: databases ready in {time.perf_counter() - t0:.0f} s")
        held = counts(loaded.url)
        times: dict[str, list[float]] = {"empty": [], "loaded": []}
        for i in range(runs):  # interleaved: the machine's drift hits both alike
            for label, built in (("empty", empty), ("loaded", loaded)):
                with built.copy() as url:
                    times[label].append(time_to_ready(url, workdir))
                log(f"{backend} run {i + 1} {label}: {times[label][-1]:.2f} s")
        empty_s, loaded_s = statistics.median(times["empty"]), statistics.median(times["loaded"])
        return {
            "empty_s": round(empty_s, 3),
            "loaded_s": round(loaded_s, 3),
            "ratio": round(loaded_s / empty_s, 3),
            "empty_runs_s": [round(t, 3) for t in times["empty"]],
            "loaded_runs_s": [round(t, 3) for t in times["loaded"]],
            **held,
        }
    finally:
        empty.drop()
        loaded.drop()


def _cached(built: Built, cache: Path | None, seed: int) -> bool:
    """Whether ``build`` will reuse a cached database (then the rows are not made)."""
    if cache is None:
        return False
    tag = f"{built.label}_{seed}_{migrations_digest()}"
    if built.backend == "sqlite":
        return (cache / f"startup_{tag}.db").exists()
    admin = admin_engine()
    try:
        with admin.connect() as conn:
            return bool(
                conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"),
                    {"n": f"tl_startup_{tag}"},
                )
            )
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep and reuse the built databases here"
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
    made: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def rows_of() -> dict[str, list[dict[str, Any]]]:
        if "rows" not in made:
            t0 = time.perf_counter()
            made["rows"] = make_rows(args.seed)
            log(f"rows made in {time.perf_counter() - t0:.0f} s")
        return made["rows"]

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tl-startup-") as tmp:
        for backend in backends:
            results[backend] = run_backend(
                backend, args.runs, args.cache, args.seed, rows_of, Path(tmp)
            )
    width = 10
    print("start-up to /healthz ready (median of runs)")
    print(f"{'backend':<{width}} {'empty s':>8} {'loaded s':>9} {'ratio':>6}  loaded database")
    for backend, r in results.items():
        print(
            f"{backend:<{width}} {r['empty_s']:>8.2f} {r['loaded_s']:>9.2f} {r['ratio']:>6.2f}  "
            f"{r['threads']:,} threads, {r['thread_events']:,} events, "
            f"{r['waiting']:,} waiting, {r['agents']} agents"
        )
    first = results[backends[0]]
    print(
        json.dumps(
            {
                "empty_s": first["empty_s"],
                "loaded_s": first["loaded_s"],
                "ratio": first["ratio"],
                "backends": results,
            }
        )
    )


if __name__ == "__main__":
    from threadline.db import across_orgs

    with across_orgs():  # the bench sets up and checks every organisation's rows
        main()
