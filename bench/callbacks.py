#!/usr/bin/env python
"""Booked callbacks firing on time: N callbacks due within one minute, on a real server.

For each backend (SQLite file, PostgreSQL), in one run:

1. a fresh database, migrated; an organisation and a queue with a callback policy;
   N customers, each with a thread and a booked callback (as `callbacks.do_book` leaves
   them: status `scheduled`, a `callback_due` durable timer), written in bulk; the
   timers' due times spread evenly over `--spread` seconds (60), starting `--lead`
   seconds after the last row is written;
2. a real server in its own process (`threadline serve`), which does nothing but what it
   would in production: its timer worker fires each due timer, and the callbacks handler
   opens the contact in the queue (priority for booked windows), writes the timeline
   entry and moves the callback to `waiting`; routing files the contact (no agent is
   available, so contacts wait and no offer traffic competes with the timers);
3. with `--crash-at S`, the server is killed with SIGKILL S seconds into the minute and
   started again: nothing may be lost or fire twice;
4. a poller reads the fired timers every 50 ms while it runs (the progress bar).

Figures, over all N callbacks:

* **lateness** = timer `fired_at` (the handler started, in the batch's transaction)
  minus `due_at`: p50, p99, max;
* **visible lateness** = the moment the poller first saw the committed firing minus
  `due_at`: an upper bound on when the effect was visible to everyone (includes the
  poll period);
* **exactly once**: callbacks with exactly one contact and one `due` timeline entry,
  and none with two; callbacks still `scheduled` at the end.

    python bench/callbacks.py [--backends sqlite,postgres] [--callbacks 10000]
        [--spread 60] [--crash-at 30] [--py-spy out.txt]

Prints a table, then as its last line one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT / "src"), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from chat_ingest import SECRET, Server, database, log, pct  # noqa: E402

POLL_S = 0.05
CHUNK = 2000


async def make_world(url: str, n: int, lead_s: float, spread_s: float) -> tuple[str, datetime]:
    """The organisation, queue, customers, threads, booked callbacks and their timers;
    returns (queue id, the moment the first callback is due)."""
    from sqlalchemy import insert

    from threadline.app import build_context, running
    from threadline.callbacks.models import BOOKED, Callback
    from threadline.callbacks.services import CALLBACK_DUE
    from threadline.config import Settings
    from threadline.customers.models import Customer
    from threadline.orgs.services import do_create_org
    from threadline.routing.schemas import QueueIn
    from threadline.routing.services import do_create_queue
    from threadline.threads.models import Thread
    from threadline.workers.models import Timer

    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg,arg-type]
    ctx = build_context(settings)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    plan = {day: [["00:00", "24:00", 50]] for day in days}
    async with running(ctx):
        org = await do_create_org(ctx, f"bench-{uuid.uuid4().hex[:6]}", "Bench Bank")
        queue = await do_create_queue(
            ctx,
            org.id,
            QueueIn(
                name="Callbacks",
                required_skills=["general"],
                callback_policy={"enabled": True, "plan": plan},
            ),
        )
        now = datetime.now(UTC)
        customers, threads, callbacks = [], [], []
        for i in range(n):
            customer_id, thread_id, callback_id = (str(uuid.uuid4()) for _ in range(3))
            phone = f"+3519{i:08d}"
            customers.append(
                {"id": customer_id, "org_id": org.id, "name": f"Customer {i}", "phone": phone}
            )
            threads.append(
                {
                    "id": thread_id,
                    "org_id": org.id,
                    "customer_id": customer_id,
                    "status": "callback_scheduled",
                }
            )
            callbacks.append(
                {
                    "id": callback_id,
                    "org_id": org.id,
                    "thread_id": thread_id,
                    "customer_id": customer_id,
                    "queue_id": queue.id,
                    "kind": BOOKED,
                    "status": "scheduled",
                    "phone": phone,
                    "window_start": now,
                    "window_end": now + timedelta(minutes=30),
                    "max_attempts": 3,
                }
            )
        for table, rows in ((Customer, customers), (Thread, threads), (Callback, callbacks)):
            for start in range(0, n, CHUNK):
                async with ctx.uow() as uow:
                    await uow.session.execute(insert(table), rows[start : start + CHUNK])
        first_due = datetime.now(UTC) + timedelta(seconds=lead_s)
        timers = [
            {
                "id": str(uuid.uuid4()),
                "org_id": org.id,
                "kind": CALLBACK_DUE,
                "ref_id": c["id"],
                "payload": {"reason": "bench", "context": {"booked": True}},
                "due_at": first_due + timedelta(seconds=spread_s * i / n),
            }
            for i, c in enumerate(callbacks)
        ]
        for start in range(0, n, CHUNK):
            async with ctx.uow() as uow:
                await uow.session.execute(insert(Timer), timers[start : start + CHUNK])
    return str(queue.id), first_due


async def poll_fired(url: str, n: int, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Record when each fired timer was first visible, with a progress bar."""
    from sqlalchemy import select

    from threadline.db import Database
    from threadline.workers.models import Timer

    db = Database(url)
    try:
        with Progress(
            TextColumn("[bold]callbacks fired"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TimeElapsedColumn(),
            transient=True,
        ) as progress:
            task = progress.add_task("fired", total=n)
            while not stop.is_set():
                with contextlib.suppress(Exception):  # the server restarting (SQLite busy)
                    async with db.sessions() as session:
                        rows = await session.execute(
                            select(Timer.id).where(Timer.fired_at.is_not(None))
                        )
                        now = time.time()
                        for (timer_id,) in rows:
                            seen.setdefault(timer_id, now)
                progress.update(task, completed=len(seen))
                if len(seen) >= n:
                    return
                await asyncio.sleep(POLL_S)
    finally:
        await db.dispose()


async def check(url: str) -> dict[str, Any]:
    """Lateness per timer and exactly-once, read back from storage."""
    from sqlalchemy import select

    from threadline.callbacks.models import Callback
    from threadline.callbacks.services import CALLBACK_DUE
    from threadline.db import Database
    from threadline.routing.models import Contact
    from threadline.threads.models import ThreadEvent
    from threadline.workers.models import Timer

    db = Database(url)
    try:
        async with db.sessions() as session:
            timers = (
                await session.execute(
                    select(Timer.id, Timer.due_at, Timer.fired_at, Timer.attempts).where(
                        Timer.kind == CALLBACK_DUE
                    )
                )
            ).all()
            contacts = Counter(
                c.get("callback_id") for c in await session.scalars(select(Contact.context))
            )
            dues = Counter(
                data.get("callback_id")
                for data in await session.scalars(
                    select(ThreadEvent.data).where(ThreadEvent.kind == "callback")
                )
                if data.get("action") == "due"
            )
            statuses = Counter(await session.scalars(select(Callback.status)))
    finally:
        await db.dispose()
    return {"timers": timers, "contacts": contacts, "dues": dues, "statuses": statuses}


async def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp,
        database(backend, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        log(f"[{backend}] writing {args.callbacks:,} booked callbacks")
        server = Server(url, workdir, args.py_spy)
        await server.ready()
        _queue_id, first_due = await make_world(url, args.callbacks, args.lead, args.spread)
        log(f"[{backend}] first due at {first_due:%H:%M:%S}, the last {args.spread:.0f} s later")
        seen: dict[str, float] = {}
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_fired(url, args.callbacks, seen, stop))
        restarts = 0
        try:
            if args.crash_at is not None:
                crash_at = first_due + timedelta(seconds=args.crash_at)
                await asyncio.sleep(max((crash_at - datetime.now(UTC)).total_seconds(), 0))
                log(f"[{backend}] SIGKILL the server, start it again")
                os.killpg(server.proc.pid, signal.SIGKILL)
                server.proc.wait(10)
                server = Server(url, workdir, None)
                await server.ready()
                restarts = 1
            deadline = first_due + timedelta(seconds=args.spread + args.grace)
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(poller), max(remaining, 1))
        finally:
            stop.set()
            await poller
            server.stop()
        found = await check(url)
    late, visible, twice = [], [], 0
    for timer_id, due, fired, attempts in found["timers"]:
        due = due if due.tzinfo else due.replace(tzinfo=UTC)
        if fired is not None:
            fired = fired if fired.tzinfo else fired.replace(tzinfo=UTC)
            late.append((fired - due).total_seconds())
        if timer_id in seen:
            visible.append(seen[timer_id] - due.timestamp())
        twice += attempts > 1
    contacts, dues = found["contacts"], found["dues"]
    callback_ids = {cid for cid in contacts if cid} | {cid for cid in dues if cid}
    once = sum(1 for cid in callback_ids if contacts[cid] == 1 and dues[cid] == 1)
    more = sum(1 for cid in callback_ids if contacts[cid] > 1 or dues[cid] > 1)
    return {
        "backend": backend,
        "callbacks": args.callbacks,
        "fired": len(late),
        "lateness_p50_s": round(pct(late, 50), 3),
        "lateness_p99_s": round(pct(late, 99), 3),
        "lateness_max_s": round(max(late, default=float("nan")), 3),
        "visible_p99_s": round(pct(visible, 99), 3),
        "visible_max_s": round(max(visible, default=float("nan")), 3),
        "exactly_once": once,
        "more_than_once": more,
        "timers_claimed_twice": twice,
        "still_scheduled": found["statuses"].get("scheduled", 0),
        "restarts": restarts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times span")
    parser.add_argument("--lead", type=float, default=5.0, help="seconds before the first is due")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds to wait after the last")
    parser.add_argument("--py-spy", default=None, help="record the server: out.svg|.json|.txt")
    parser.add_argument("--crash-at", type=float, default=None, help="SIGKILL the server S s in")
    args = parser.parse_args()
    results = [asyncio.run(run_backend(b.strip(), args)) for b in args.backends.split(",")]
    header = (
        f"{'backend':<10} {'fired':>7} {'p50 s':>7} {'p99 s':>7} {'max s':>7} "
        f"{'visible p99':>11} {'once':>7} {'twice':>6} {'left':>5}"
    )
    print(header)
    for r in results:
        print(
            f"{r['backend']:<10} {r['fired']:>7,} {r['lateness_p50_s']:>7.3f} "
            f"{r['lateness_p99_s']:>7.3f} {r['lateness_max_s']:>7.3f} "
            f"{r['visible_p99_s']:>11.3f} {r['exactly_once']:>7,} {r['more_than_once']:>6} "
            f"{r['still_scheduled']:>5}"
        )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
