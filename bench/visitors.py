#!/usr/bin/env python
"""Many visitors arriving: do their sockets stay up and their messages get acknowledged?

For each backend (SQLite file, PostgreSQL), in one run:

1. a fresh database, migrated; one queue, a chat widget and enough agents for everyone
   (capacity 25 chats each), as bench/chat_ingest.py builds them;
2. a real server in its own process (`threadline serve`, uvicorn + uvloop); the agents log
   in, hold their desktop WebSocket, go available and accept every offer;
3. N visitors (default 500) arrive spread evenly over --within seconds (default 10): each
   opens a widget session (HTTP), its WebSocket, authenticates by first frame, then sends
   --messages messages, each waiting for its ack (a person typing fast);
4. every socket is then held for --hold seconds more (pings keep flowing both ways), so a
   server that stalls its event loop loses sockets to ping timeouts and it shows.

Counted: connected (session + socket + auth done), dropped (a socket the server closed or
that died of a ping timeout before the end), unacked (messages sent, or due to be sent,
and never acknowledged within 20 s), ack p50/p99 (send -> ack), session and connect
p99, server CPU. The file-descriptor limit is raised for this process and the server.

    python bench/visitors.py [--backends sqlite,postgres] [--visitors 500] [--within 10]

Prints a table, then as its last line one JSON object: per backend `BACKEND_visitors`,
`BACKEND_connected`, ... and the worst over the backends as `visitors`, `connected`,
`dropped`, `unacked`, `ack_p50_ms`, `ack_p99_ms`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from websockets.asyncio.client import connect

from chat_ingest import (
    CAPACITY_PER_AGENT,
    Agent,
    Server,
    Tracker,
    Visitor,
    database,
    log,
    make_world,
    pct,
    proc_cpu_s,
)


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Outcome:
    visitors: int
    connected: int = 0
    dropped: int = 0
    unacked: int = 0
    sent: int = 0
    acks_ms: list[float] = field(default_factory=list)
    session_ms: list[float] = field(default_factory=list)
    connect_ms: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    elapsed_s: float = 0.0


async def arrive(
    visitor: Visitor,
    at: float,
    http: httpx.AsyncClient,
    messages: int,
    outcome: Outcome,
    tracker: Tracker,
) -> None:
    await asyncio.sleep(max(at - time.perf_counter(), 0))
    started = time.perf_counter()
    try:
        r = await http.post(f"/api/v1/widget/{visitor.key}/session", json={"locale": "en"})
        r.raise_for_status()
        outcome.session_ms.append((time.perf_counter() - started) * 1000)
        token = r.json()["visitor_token"]
        opened = time.perf_counter()
        ws_url = visitor.base_url.replace("http://", "ws://") + f"/api/v1/widget/{visitor.key}/ws"
        visitor.ws = await connect(ws_url, max_queue=None, open_timeout=20)
        await visitor.ws.send(json.dumps({"type": "auth", "token": token}))
        visitor.reader = asyncio.create_task(visitor._read())
        outcome.connect_ms.append((time.perf_counter() - opened) * 1000)
    except Exception as exc:
        outcome.refused.append(f"visitor {visitor.index}: {type(exc).__name__} {exc}")
        outcome.unacked += messages
        return
    outcome.connected += 1
    ids = await visitor.closed_loop("arrive", messages)
    outcome.sent += len(ids)
    for cid in ids:
        if cid in tracker.acked:
            outcome.acks_ms.append((tracker.acked[cid] - tracker.sent[cid]) * 1000)
    outcome.unacked += messages - sum(1 for cid in ids if cid in tracker.acked)


async def run_backend(url: str, workdir: Path, args: argparse.Namespace) -> Outcome:
    n_agents = max(1, math.ceil(args.visitors / CAPACITY_PER_AGENT))
    world = await make_world(url, n_agents)
    server = Server(url, workdir, args.py_spy and f"{args.py_spy}.{url.split(':')[0]}.txt")
    tracker = Tracker()
    agents = [Agent(server.base_url, email, tracker) for email in world.agent_emails]
    visitors = [
        Visitor(i, server.base_url, world.widget_key, tracker) for i in range(args.visitors)
    ]
    outcome = Outcome(args.visitors)
    try:
        await server.ready()
        for agent in agents:
            await agent.start()
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http:
            pid = server.pid
            (user0, sys0), t0 = proc_cpu_s(pid), time.perf_counter()
            step = args.within / max(args.visitors, 1)
            await asyncio.gather(
                *(
                    arrive(v, t0 + i * step, http, args.messages, outcome, tracker)
                    for i, v in enumerate(visitors)
                )
            )
            outcome.elapsed_s = time.perf_counter() - t0
            await asyncio.sleep(args.hold)  # pings keep flowing: a stalled server shows here
            user1, sys1 = proc_cpu_s(pid)
            outcome.server_cpu_s = (user1 - user0) + (sys1 - sys0)
        # a socket whose reader ended before we closed it was closed by the server or died
        gone = [v for v in visitors if v.ws is not None and v.closed]
        outcome.dropped = len(gone)
        codes: dict[str, int] = {}
        for v in gone:
            code = f"{v.ws.close_code} {v.ws.close_reason or ''}".strip()
            codes[code] = codes.get(code, 0) + 1
        if codes:
            log(f"  dropped sockets by close code: {codes}")
        if tracker.errors:
            log(f"  {len(tracker.errors)} errors, first: {tracker.errors[0]}")
        if outcome.refused:
            log(f"  {len(outcome.refused)} not connected, first: {outcome.refused[0]}")
        return outcome
    finally:
        await asyncio.gather(*(v.close() for v in visitors), return_exceptions=True)
        await asyncio.gather(*(a.close() for a in agents), return_exceptions=True)
        server.stop()


def report(results: dict[str, Outcome], args: argparse.Namespace, nofile: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"visitors": args.visitors, "within_s": args.within}
    header = (
        f"{'backend':<9} {'visitors':>8} {'connected':>9} {'dropped':>7} {'unacked':>7} "
        f"{'ack p50':>8} {'ack p99':>8} {'session p99':>11} {'connect p99':>11} "
        f"{'srv cpu ms/msg':>14}"
    )
    print(
        f"\nvisitors arriving: {args.visitors} within {args.within:g} s, {args.messages} "
        f"messages each (acked one by one), sockets held {args.hold:g} s more"
    )
    print(header)
    print("-" * len(header))
    for backend, o in results.items():
        ack50, ack99 = pct(o.acks_ms, 50), pct(o.acks_ms, 99)
        cpu_per_msg = 1000 * o.server_cpu_s / max(o.sent, 1)
        figures.update(
            {
                f"{backend}_visitors": o.visitors,
                f"{backend}_connected": o.connected,
                f"{backend}_dropped": o.dropped,
                f"{backend}_unacked": o.unacked,
                f"{backend}_ack_p50_ms": round(ack50, 1),
                f"{backend}_ack_p99_ms": round(ack99, 1),
                f"{backend}_session_p99_ms": round(pct(o.session_ms, 99), 1),
                f"{backend}_connect_p99_ms": round(pct(o.connect_ms, 99), 1),
                f"{backend}_server_cpu_ms_per_msg": round(cpu_per_msg, 2),
                f"{backend}_sent": o.sent,
                f"{backend}_server_cpu_s": round(o.server_cpu_s, 2),
            }
        )
        print(
            f"{backend:<9} {o.visitors:>8} {o.connected:>9} {o.dropped:>7} {o.unacked:>7} "
            f"{ack50:>8.1f} {ack99:>8.1f} {pct(o.session_ms, 99):>11.1f} "
            f"{pct(o.connect_ms, 99):>11.1f} {cpu_per_msg:>14.2f}"
        )
    outcomes = list(results.values())
    figures.update(
        {
            "connected": min(o.connected for o in outcomes),
            "dropped": max(o.dropped for o in outcomes),
            "unacked": max(o.unacked for o in outcomes),
            "ack_p50_ms": round(max(pct(o.acks_ms, 50) for o in outcomes), 1),
            "ack_p99_ms": round(max(pct(o.acks_ms, 99) for o in outcomes), 1),
        }
    )
    print(
        "dropped = sockets closed by the server or by a ping timeout; unacked = messages "
        "never acknowledged (20 s); srv cpu ms/msg includes the sessions and connects; "
        f"open-file limit {nofile}; the unprefixed keys are the worst backend's"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--within", type=float, default=10.0, help="arrival spread, seconds")
    parser.add_argument("--messages", type=int, default=3, help="messages per visitor")
    parser.add_argument(
        "--py-spy", metavar="STEM", help="record the server with py-spy (STEM.BACKEND.txt)"
    )
    parser.add_argument("--hold", type=float, default=5.0, help="seconds sockets stay up after")
    args = parser.parse_args()
    if not 1 <= args.visitors <= 2000 or not 1 <= args.messages <= 100:
        parser.error("--visitors must be 1..2000 and --messages 1..100")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(backends) - {"sqlite", "postgres"}:
        parser.error("backends are sqlite and postgres")
    nofile = raise_nofile()
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        loop_factory = None
    results: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="threadline-visitors-") as tmp:
        for backend in backends:
            log(f"{backend}: preparing")
            with (
                database(backend, Path(tmp)) as url,
                asyncio.Runner(loop_factory=loop_factory) as runner,
            ):
                results[backend] = runner.run(run_backend(url, Path(tmp), args))
    print(json.dumps(report(results, args, nofile)))


if __name__ == "__main__":
    from threadline.db import across_orgs

    with across_orgs():  # the bench sets up and checks every organisation's rows
        main()
