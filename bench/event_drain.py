#!/usr/bin/env python
"""Durable consumers draining an event-log backlog (after a restart), on both databases.

For each backend (SQLite file, PostgreSQL), in one run: a fresh migrated database, and an
event log of `--events` entries (100,000) of a contact centre's mix, written in bulk as
`events/log.py` writes them (one organisation; 10% `message.received`, the rest contact,
offer, presence and agent events).  Then, timed:

* **baseline**: the raw read of the same rows, as a consumer reads them, without the
  consumer: `SELECT position, id, type, data ... WHERE position > :p ORDER BY position
  LIMIT 200` in a loop, each batch in its own transaction (the driver parses the JSON);
  run before and after the consumers, the faster of the two counts (the first is cold);
* **picky**: a durable consumer that wants one type, `message.received` (as the bot and
  the incidents consumers do), drained from position 0 with `ConsumerRunner.run_once`
  until it has caught up: log entries moved past per second, and the events it handled;
* **everything**: a durable consumer of every type (as the webhooks consumer is), the same.

The handlers only count (the bench measures the log, not what a handler does); positions
are committed per batch as in production.  `*_per_s` is log entries per second, `*_ratio`
over the raw read's rate.  Last line: one JSON object with every figure.

    python bench/event_drain.py [--backends sqlite,postgres] [--events 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT / "src"), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from chat_ingest import SECRET, database, log  # noqa: E402

CHUNK = 2000
WANTED_SHARE = 10  # one event in ten is a message.received


def make_events(org_id: str, n: int) -> list[Any]:
    """A contact centre's mix of durable events, in log order."""
    from threadline.events import domain as d

    start = datetime.now(UTC) - timedelta(hours=1)
    made: list[Any] = []
    for i in range(n):
        at = start + timedelta(milliseconds=i)
        ids = {"thread_id": f"t{i % 5000}", "customer_id": f"cu{i % 5000}"}
        contact = {**ids, "contact_id": f"c{i % 7000}", "queue_id": "q1", "channel": "chat"}
        kind = i % WANTED_SHARE
        event: Any
        if kind == 0:
            event = d.MessageReceived(
                org_id=org_id, occurred_at=at, channel="chat", seq=i, body=f"hello {i}", **ids
            )
        elif kind in (1, 2):
            event = d.ContactQueued(
                org_id=org_id, occurred_at=at, priority=i % 3, required_skills=["general"],
                **contact,
            )  # fmt: skip
        elif kind in (3, 4):
            event = d.ContactOffered(
                org_id=org_id,
                occurred_at=at,
                agent_id=f"a{i % 300}",
                offer_id=str(uuid.uuid4()),
                expires_at=at + timedelta(seconds=20),
                **contact,
            )
        elif kind in (5, 6):
            event = d.ContactResolved(
                org_id=org_id,
                occurred_at=at,
                agent_id=f"a{i % 300}",
                reason="resolved",
                note=None,
                handle_s=180.0,
                **contact,
            )
        elif kind == 7:
            event = d.PresenceChanged(
                org_id=org_id, occurred_at=at, agent_id=f"a{i % 300}", presence="busy", at=at
            )
        else:
            event = d.AgentChanged(org_id=org_id, occurred_at=at, agent_id=f"a{i % 300}")
        made.append(event)
    return made


async def fill(ctx: Any, org_id: str, n: int) -> None:
    """The log, written in chunks through `events.log.append` (one transaction each)."""
    from threadline.events.log import append

    events = make_events(org_id, n)
    for first in range(0, n, CHUNK):
        async with ctx.uow() as uow:
            await append(uow, events[first : first + CHUNK])


async def raw_read(ctx: Any, batch: int) -> tuple[int, float]:
    """The baseline: every row read in batches as a consumer reads them; (rows, seconds)."""
    from sqlalchemy import select

    from threadline.db import across_orgs
    from threadline.events.models import EventRecord

    table = EventRecord.__table__
    rows, position = 0, 0
    started = time.perf_counter()
    with across_orgs():
        while True:
            async with ctx.uow() as uow:
                got = list(
                    await uow.session.execute(
                        select(table.c.position, table.c.id, table.c.type, table.c.data)
                        .where(table.c.position > position)
                        .order_by(table.c.position)
                        .limit(batch)
                    )
                )
            if not got:
                break
            rows += len(got)
            position = got[-1].position
    return rows, time.perf_counter() - started


async def drain(ctx: Any, name: str) -> tuple[int, float]:
    """A consumer from position 0 until caught up; (what `run_once` returned, seconds)."""
    from threadline.db import across_orgs

    moved = 0
    started = time.perf_counter()
    with across_orgs():
        while n := await ctx.consumers.run_once(name):
            moved += n
    return moved, time.perf_counter() - started


async def run_backend(backend: str, n: int) -> dict[str, Any]:
    from threadline.app import build_context
    from threadline.config import Settings
    from threadline.db import across_orgs
    from threadline.events import log as event_log
    from threadline.events.domain import MessageReceived
    from threadline.orgs.services import do_create_org

    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg]
        ctx = build_context(settings)
        org = await do_create_org(ctx, f"bench-{uuid.uuid4().hex[:6]}", "Bench Bank")
        log(f"{backend}: writing {n:,} events")
        await fill(ctx, org.id, n)
        handled = {"picky": 0, "everything": 0}

        def counter(name: str) -> Any:
            async def count(uow: Any, event: Any) -> None:
                handled[name] += 1

            return count

        ctx.handlers.consumer("bench_picky", counter("picky"), [MessageReceived])
        ctx.handlers.consumer("bench_everything", counter("everything"))
        with across_orgs():
            await ctx.consumers.ensure_positions()
        log(f"{backend}: raw read")
        raw_rows, raw_s = await raw_read(ctx, event_log.BATCH)
        log(f"{backend}: picky consumer")
        _, picky_s = await drain(ctx, "bench_picky")
        log(f"{backend}: consumer of everything")
        _, all_s = await drain(ctx, "bench_everything")
        log(f"{backend}: raw read again")  # the faster of the two (the first one is cold)
        _, again_s = await raw_read(ctx, event_log.BATCH)
        await ctx.db.dispose()
    raw_per_s = raw_rows / min(raw_s, again_s)
    return {
        "events": n,
        "raw_rows": raw_rows,
        "raw_per_s": round(raw_per_s),
        "picky_handled": handled["picky"],
        "picky_per_s": round(n / picky_s),
        "picky_ratio": round(n / picky_s / raw_per_s, 3),
        "everything_handled": handled["everything"],
        "everything_per_s": round(n / all_s),
        "everything_ratio": round(n / all_s / raw_per_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    for backend in args.backends.split(","):
        result = asyncio.run(run_backend(backend, args.events))
        print(f"{backend}")
        print(f"  raw read of the rows      {result['raw_per_s']:>10,} rows/s")
        print(
            f"  one type (message.received) {result['picky_per_s']:>8,} entries/s"
            f"  ratio {result['picky_ratio']:.3f}  handled {result['picky_handled']:,}"
        )
        print(
            f"  every type                {result['everything_per_s']:>10,} entries/s"
            f"  ratio {result['everything_ratio']:.3f}  handled {result['everything_handled']:,}"
        )
        figures |= {f"{backend}_{k}": v for k, v in result.items()}
    figures["load_avg"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
