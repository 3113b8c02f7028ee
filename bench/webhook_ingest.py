#!/usr/bin/env python
"""Inbound SMS webhooks: Twilio-style signed form posts -> committed in the customer's thread.

For each backend (SQLite file, PostgreSQL), in one run:

1. a fresh database, migrated; an organisation, a queue and an admin created through the
   services (as `tests/conftest.make_world`); no agent is available, so every new contact
   stays queued (the webhook's cost is the commit, not an offer);
2. the raw one-row commit rate of that same database through the app's own engine settings
   (`raw_commits` of `bench/chat_ingest.py`): one connection, then as many concurrent tasks
   as there are senders;
3. a real server in its own process (`threadline serve`, uvicorn + uvloop) with
   THREADLINE_BASE_URL = its real http://127.0.0.1:PORT, so the X-Twilio-Signature the
   senders compute (`RequestValidator(auth_token).compute_signature(url, params)`) over
   that URL is the one the server rebuilds; the SMS number is configured by the admin through
   `POST /api/v1/endpoints`, as in `tests/integration/test_sms.py`;
4. warm-up: a few webhooks from their own phone numbers; then the measured phase: N
   concurrent senders (keep-alive connections, each waits for its answer before the next
   post) over M distinct customer numbers, so the first message of a number creates its
   customer, thread and contact and the later ones reuse them; then a retry storm: more new
   messages, 10% of them posted twice with the same MessageSid, half of those re-posts right
   behind the original (in flight together, on another connection), half later (after it
   was committed).

A 200 answer means the message is committed. Throughput = 200 answers / (first post -> last
answer); latency = post -> answer. At the end the database is checked: rows in thread_events
with a provider_msg_id vs distinct ones (duplicates_stored, must be 0) and vs the message
ids answered 200 (missing_committed, must be 0). The ratio (webhooks/s / raw single-
connection commits/s) is the figure that matters. Requests are built and signed before the
clock starts; the client is a minimal HTTP/1.1 keep-alive client, so that it costs little.
`--py-spy out.svg|out.json|out.txt` records the server under py-spy (if installed).

    python bench/webhook_ingest.py [--backends sqlite,postgres] [--senders 20]
        [--numbers 500] [--webhooks 3000]

Prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT / "src"), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import httpx  # noqa: E402
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]  # noqa: E402

from chat_ingest import (  # noqa: E402  (shared bench plumbing)
    PASSWORD,
    SECRET,
    Server,
    database,
    log,
    pct,
    proc_cpu_s,
    raw_commits,
)

NUMBER = "+15005550006"  # the contact centre's SMS number (endpoint key)
ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "bench-twilio-auth-token"  # noqa: S105 (throwaway endpoint)
ADMIN_EMAIL = "admin@bench.example.com"
WARMUP_NUMBERS = 20
REQUEST_TIMEOUT_S = 30.0
PHASE_TIMEOUT_S = 180.0


# ------------------------------------------------------------------ world
async def make_world(url: str) -> str:
    """An organisation, its General queue and an admin; returns the queue id."""
    from threadline.agents.schemas import AgentCreate
    from threadline.agents.services import do_create_agent
    from threadline.app import build_context, running
    from threadline.config import Settings
    from threadline.orgs.services import do_create_org
    from threadline.routing.schemas import QueueIn
    from threadline.routing.services import do_create_queue

    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg,arg-type]
    ctx = build_context(settings)
    async with running(ctx):
        org = await do_create_org(ctx, f"bench-{uuid.uuid4().hex[:6]}", "Bench Bank")
        queue = await do_create_queue(
            ctx, org.id, QueueIn(name="General", required_skills=["general"])
        )
        await do_create_agent(
            ctx,
            org.id,
            AgentCreate(
                email=ADMIN_EMAIL,
                name="Admin",
                password=PASSWORD,
                role="admin",
                skills={"general": 1},
                languages=["en"],
                capacity={"chat": 2, "voice": 1},  # type: ignore[dict-item]
            ),
        )
    return str(queue.id)


async def configure_number(base_url: str, queue_id: str) -> None:
    """The SMS number, created by the admin through the API as in the integration tests."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as admin:
        r = await admin.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": PASSWORD}
        )
        r.raise_for_status()
        r = await admin.post(
            "/api/v1/endpoints",
            json={
                "channel": "sms",
                "key": NUMBER,
                "name": "Support line",
                "queue_id": queue_id,
                "secret": AUTH_TOKEN,
                # never called: inbound only (no agent answers, so nothing goes out)
                "settings": {"account_sid": ACCOUNT_SID, "api_base": "http://127.0.0.1:9"},
            },
        )
        if r.status_code != 201:
            raise RuntimeError(f"creating the SMS endpoint: {r.status_code} {r.text}")


# ------------------------------------------------------------------ requests
@dataclass(frozen=True, slots=True)
class Webhook:
    sid: str
    sender: str
    raw: bytes  # the whole HTTP request, signed
    duplicate: bool = False  # a provider retry of a sid posted before


def build(url: str, sid: str, sender: str, text: str, duplicate: bool = False) -> Webhook:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": NUMBER,
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    body = urlencode(params).encode()
    parts = urlsplit(url)
    head = (
        f"POST {parts.path} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "User-Agent: TwilioProxy/1.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signature}\r\n"
        "\r\n"
    )
    return Webhook(sid, sender, head.encode() + body, duplicate)


def phones(count: int, prefix: str) -> list[str]:
    return [f"+{prefix}{i:07d}" for i in range(count)]


def message_text(rng: random.Random, n: int) -> str:
    words = ("card", "declined", "blocked", "transfer", "balance", "help", "please", "today")
    return f"Hi, message {n}: my " + " ".join(rng.choice(words) for _ in range(8))


def plan_main(url: str, numbers: list[str], count: int, rng: random.Random) -> list[Webhook]:
    """count messages over the numbers: every number once first (creates), then at random."""
    order = list(numbers[:count])
    rng.shuffle(order)
    order += [rng.choice(numbers) for _ in range(count - len(order))]
    return [
        build(url, "SM" + uuid.uuid4().hex, p, message_text(rng, i)) for i, p in enumerate(order)
    ]


def plan_storm(
    url: str, numbers: list[str], count: int, share: float, rng: random.Random
) -> list[Webhook]:
    """count posts of which `share` re-post an earlier MessageSid (same params and
    signature): half right behind their original, half later in the phase."""
    n_dup = round(count * share)
    fresh = [
        build(url, "SM" + uuid.uuid4().hex, rng.choice(numbers), message_text(rng, i))
        for i in range(count - n_dup)
    ]
    chosen = rng.sample(range(len(fresh)), min(n_dup, len(fresh)))
    at_once = set(chosen[1::2])  # taken by the next free sender: both in flight together
    out: list[Webhook] = []
    for index, webhook in enumerate(fresh):
        out.append(webhook)
        if index in at_once:
            out.append(Webhook(webhook.sid, webhook.sender, webhook.raw, duplicate=True))
    for index in chosen[0::2]:  # well after the original, once it has been answered
        original = fresh[index]
        first = next(i for i, w in enumerate(out) if w.sid == original.sid)
        again = Webhook(original.sid, original.sender, original.raw, duplicate=True)
        out.insert(rng.randint(min(first + 4 * 20, len(out)), len(out)), again)
    return out


# ------------------------------------------------------------------ client
class Conn:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed by the server")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            body = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            body = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, body


@dataclass
class Result:
    webhook: Webhook
    status: int  # 0: no answer (timeout, connection error)
    sent: float
    done: float
    error: str = ""


@dataclass
class Phase:
    posts: int
    ok: int
    failed: int  # non-200 answers and no answers
    unsent: int  # not posted: the phase ran out of time
    webhooks_per_s: float  # 200 answers per second
    p50_ms: float
    p99_ms: float
    first_p50_ms: float  # a number's first message (creates customer, thread, contact)
    first_p99_ms: float
    dup_p50_ms: float  # re-posts of a sid (storm only)
    dup_p99_ms: float
    server_cpu_pct: float
    server_cpu_ms_per_webhook: float
    client_cpu_pct: float
    errors: list[str] = field(default_factory=list)
    ok_sids: set[str] = field(default_factory=set)


async def post_all(
    host: str, port: int, plan: list[Webhook], senders: int, server_pid: int | None = None
) -> tuple[list[Result], int, float, float, float]:
    """Post the plan with `senders` concurrent connections, each taking the next webhook
    when its previous one is answered. Returns results, unsent count, elapsed and CPU."""
    queue = iter(plan)
    results: list[Result] = []
    deadline = time.perf_counter() + PHASE_TIMEOUT_S
    unsent = 0

    async def sender() -> None:
        nonlocal unsent
        conn = Conn(host, port)
        try:
            for webhook in queue:
                if time.perf_counter() > deadline:
                    unsent += 1
                    continue
                sent = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(
                        conn.request(webhook.raw), REQUEST_TIMEOUT_S
                    )
                    error = "" if status == 200 else f"{status} {body[:200]!r}"
                except (OSError, ValueError, IndexError, TimeoutError, EOFError) as exc:
                    conn.close()
                    status, error = 0, f"{type(exc).__name__} {exc}"
                results.append(Result(webhook, status, sent, time.perf_counter(), error))
        finally:
            conn.close()

    (u0, s0) = proc_cpu_s(server_pid) if server_pid else (0.0, 0.0)
    c0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(senders)))
    end = max((r.done for r in results), default=time.perf_counter())
    (u1, s1) = proc_cpu_s(server_pid) if server_pid else (0.0, 0.0)
    cpu = (u1 - u0) + (s1 - s0)
    return results, unsent, end - t0, cpu, time.process_time() - c0


def summarise(
    results: list[Result],
    unsent: int,
    elapsed: float,
    server_cpu: float,
    client_cpu: float,
    firsts: set[str],
) -> Phase:
    ok = [r for r in results if r.status == 200]
    lat = [(r.done - r.sent) * 1000 for r in ok]
    first = [(r.done - r.sent) * 1000 for r in ok if r.webhook.sid in firsts]
    dup = [(r.done - r.sent) * 1000 for r in ok if r.webhook.duplicate]
    return Phase(
        posts=len(results),
        ok=len(ok),
        failed=len(results) - len(ok),
        unsent=unsent,
        webhooks_per_s=len(ok) / elapsed if elapsed > 0 else float("nan"),
        p50_ms=pct(lat, 50),
        p99_ms=pct(lat, 99),
        first_p50_ms=pct(first, 50),
        first_p99_ms=pct(first, 99),
        dup_p50_ms=pct(dup, 50),
        dup_p99_ms=pct(dup, 99),
        server_cpu_pct=100 * server_cpu / elapsed if elapsed > 0 else float("nan"),
        server_cpu_ms_per_webhook=1000 * server_cpu / max(len(results), 1),
        client_cpu_pct=100 * client_cpu / elapsed if elapsed > 0 else float("nan"),
        errors=[r.error for r in results if r.error],
        ok_sids={r.webhook.sid for r in ok},
    )


def first_sids(plan: list[Webhook], seen: set[str]) -> set[str]:
    """The sids that are the first message of their number (updates `seen`)."""
    firsts = set()
    for w in plan:
        if w.sender not in seen and not w.duplicate:
            seen.add(w.sender)
            firsts.add(w.sid)
    return firsts


async def check_db(url: str, answered_ok: set[str]) -> dict[str, int]:
    """Rows with a provider message id: duplicates and ids answered 200 but not stored."""
    from sqlalchemy import text

    from threadline.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            total, distinct = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT provider_msg_id) FROM thread_events "
                        "WHERE provider_msg_id IS NOT NULL AND channel = 'sms'"
                    )
                )
            ).one()
            stored = {
                row[0]
                for row in await conn.execute(
                    text(
                        "SELECT provider_msg_id FROM thread_events "
                        "WHERE provider_msg_id IS NOT NULL AND channel = 'sms'"
                    )
                )
            }
            threads = (await conn.execute(text("SELECT count(*) FROM threads"))).scalar_one()
            contacts = (await conn.execute(text("SELECT count(*) FROM contacts"))).scalar_one()
    finally:
        await engine.dispose()
    return {
        "stored_messages": int(total),
        "duplicates_stored": int(total) - int(distinct),
        "missing_committed": len(answered_ok - stored),
        "threads": int(threads),
        "contacts": int(contacts),
    }


# ------------------------------------------------------------------ per backend
async def run_backend(
    backend: str, url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    queue_id = await make_world(url)
    raw_seq = await raw_commits(url, max(300, args.webhooks // 4), 1)
    raw_conc = await raw_commits(url, max(300, args.webhooks // 4), args.senders)
    log(
        f"  {backend}: raw commits {raw_seq:.0f}/s (1 connection), "
        f"{raw_conc:.0f}/s ({args.senders} concurrent)"
    )
    py_spy = None
    if args.py_spy:
        stem, _, ext = args.py_spy.rpartition(".")
        py_spy = (
            f"{stem}.{backend}.{ext}"
            if ext in ("svg", "json", "txt")
            else f"{args.py_spy}.{backend}.svg"
        )
    server = Server(url, workdir, py_spy)
    try:
        await server.ready()
        await configure_number(server.base_url, queue_id)
        hook_url = f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}"
        rng = random.Random(args.seed)
        numbers = phones(args.numbers, "4477")
        warm_plan = plan_main(hook_url, phones(WARMUP_NUMBERS, "4499"), args.warmup, rng)
        main_plan = plan_main(hook_url, numbers, args.webhooks, rng)
        storm_plan = plan_storm(
            hook_url, numbers, max(10, args.webhooks // 2), args.retry_share, rng
        )
        seen: set[str] = set()
        first_sids(warm_plan, seen)
        firsts = first_sids(main_plan, seen)
        pid = server.pid
        host, port = server.base_url.rsplit("//", 1)[1].split(":")
        warm = summarise(*await post_all(host, int(port), warm_plan, args.senders), set())
        if warm.failed:
            log(f"  warm-up: {warm.failed} failed, first: {warm.errors[0]}")
        phases = {
            "steady": summarise(
                *await post_all(host, int(port), main_plan, args.senders, pid), firsts
            ),
            "storm": summarise(
                *await post_all(host, int(port), storm_plan, args.senders, pid), set()
            ),
        }
        for name, ph in phases.items():
            if ph.errors:
                log(f"  {name}: {len(ph.errors)} errors, first: {ph.errors[0]}")
    finally:
        server.stop()
    answered_ok = warm.ok_sids | phases["steady"].ok_sids | phases["storm"].ok_sids
    check = await check_db(url, answered_ok)
    return {"raw_seq": raw_seq, "raw_conc": raw_conc, "phases": phases, "check": check}


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "senders": args.senders,
        "customer_numbers": args.numbers,
        "webhooks": args.webhooks,
        "retry_share": args.retry_share,
    }
    header = (
        f"{'backend':<9} {'phase':<7} {'posts':>6} {'hooks/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'1st p50':>7} {'1st p99':>7} {'dup p99':>7} {'raw 1-conn/s':>12} "
        f"{'raw conc/s':>10} {'ratio':>6} {'srv cpu%':>8} {'cpu ms/hook':>11} "
        f"{'cli cpu%':>8} {'failed':>6}"
    )
    print(
        f"\nSMS webhook ingest: {args.senders} concurrent senders, {args.numbers} customer "
        f"numbers, {args.webhooks} signed Twilio-style webhooks, then a retry storm "
        f"({args.retry_share:.0%} re-posted MessageSids); 200 = committed "
        "(server: separate process, uvloop)"
    )
    print(header)
    print("-" * len(header))
    for backend, res in results.items():
        raw_seq, raw_conc, check = res["raw_seq"], res["raw_conc"], res["check"]
        figures[f"{backend}_raw_commits_per_s"] = round(raw_seq, 1)
        figures[f"{backend}_raw_concurrent_commits_per_s"] = round(raw_conc, 1)
        for phase, ph in res["phases"].items():
            ratio = ph.webhooks_per_s / raw_seq
            prefix = backend if phase == "steady" else f"{backend}_{phase}"
            figures.update(
                {
                    f"{prefix}_webhooks_per_s": round(ph.webhooks_per_s, 1),
                    f"{prefix}_p50_ms": round(ph.p50_ms, 2),
                    f"{prefix}_p99_ms": round(ph.p99_ms, 2),
                    f"{prefix}_ratio": round(ratio, 3),
                    f"{prefix}_ratio_vs_concurrent": round(ph.webhooks_per_s / raw_conc, 3),
                    f"{prefix}_server_cpu_pct": round(ph.server_cpu_pct, 1),
                    f"{prefix}_server_cpu_ms_per_webhook": round(ph.server_cpu_ms_per_webhook, 2),
                    f"{prefix}_failed_webhooks": ph.failed + ph.unsent,
                }
            )
            if phase == "steady":
                figures[f"{prefix}_first_msg_p50_ms"] = round(ph.first_p50_ms, 2)
                figures[f"{prefix}_first_msg_p99_ms"] = round(ph.first_p99_ms, 2)
            else:
                figures[f"{prefix}_retry_p50_ms"] = round(ph.dup_p50_ms, 2)
                figures[f"{prefix}_retry_p99_ms"] = round(ph.dup_p99_ms, 2)
            print(
                f"{backend:<9} {phase:<7} {ph.posts:>6} {ph.webhooks_per_s:>8.1f} "
                f"{ph.p50_ms:>7.1f} {ph.p99_ms:>7.1f} {ph.first_p50_ms:>7.1f} "
                f"{ph.first_p99_ms:>7.1f} {ph.dup_p99_ms:>7.1f} {raw_seq:>12.0f} "
                f"{raw_conc:>10.0f} {ratio:>6.3f} {ph.server_cpu_pct:>8.0f} "
                f"{ph.server_cpu_ms_per_webhook:>11.2f} {ph.client_cpu_pct:>8.0f} "
                f"{ph.failed + ph.unsent:>6}"
            )
        figures[f"{backend}_duplicates_stored"] = check["duplicates_stored"]
        figures[f"{backend}_missing_committed"] = check["missing_committed"]
        figures[f"{backend}_stored_messages"] = check["stored_messages"]
        print(
            f"{backend:<9} check: {check['stored_messages']} SMS rows stored, "
            f"duplicates_stored={check['duplicates_stored']} (must be 0), "
            f"missing_committed={check['missing_committed']} (answered 200, not stored: must "
            f"be 0); {check['threads']} threads, {check['contacts']} contacts"
        )
    print(
        "ratio = webhooks/s (200 answers) / raw single-connection one-row commits/s on the "
        "same database; 1st = a number's first message (new customer, thread, contact); "
        "dup = a re-posted MessageSid; srv cpu% 100 = one core busy; failed = non-200, no "
        f"answer, or not sent in time; {os.cpu_count()} cores, load average before the run "
        f"{LOAD_BEFORE}"
    )
    return figures


LOAD_BEFORE = "?"


def main() -> None:
    global LOAD_BEFORE
    with contextlib.suppress(OSError):
        LOAD_BEFORE = Path("/proc/loadavg").read_text().split()[0]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--numbers", type=int, default=500, help="distinct customer numbers")
    parser.add_argument("--webhooks", type=int, default=3000, help="in the measured phase")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--retry-share", type=float, default=0.1, help="share of storm posts that are retries"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--py-spy",
        metavar="PREFIX",
        default=None,
        help="profile the server with py-spy: out.svg (flame graph), out.json "
        "(speedscope) or out.txt (collapsed stacks) -> out.BACKEND.EXT",
    )
    args = parser.parse_args()
    if not 1 <= args.senders <= 500 or not 1 <= args.numbers <= 10**6:
        parser.error("--senders must be 1..500 and --numbers 1..1000000")
    if not 1 <= args.webhooks <= 10**6 or not 0 <= args.retry_share <= 0.5:
        parser.error("--webhooks must be 1..1000000 and --retry-share 0..0.5")
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
