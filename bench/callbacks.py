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
   With `--worker`, `threadline worker` runs beside the server (both with
   THREADLINE_TIMER_WORKER=true, docs/operations.md): both fire the callbacks' timers,
   the server routes what the worker opens, and the crash kills the server only, as a
   deploy or an out-of-memory kill would; `--kill-worker-at S` kills the worker instead
   (and starts it again), so the server carries on alone; the worker's CPU is counted
   with the server's;
4. a poller reads the newly fired timers every 50 ms while it runs (the progress bar): only
   those fired in the last `WINDOW_S` seconds, not all of them each time, so the bench
   process takes little of the CPU the server needs on a 2-core machine.

Baseline, in the same database before the callbacks are written: the raw rate at which
this process claims and completes bare timer rows (batches of 100: the oldest due, `FOR
UPDATE SKIP LOCKED` on PostgreSQL, marked fired, committed), a kind the server does not
handle; `load_vs_raw` = the callbacks' due rate (N / spread) over that raw rate: how much
of what the database can do with timers at all the load asks for.

Figures, over all N callbacks:

* **lateness** = timer `fired_at` (the handler started, in the batch's transaction)
  minus `due_at`: p50, p99, max;
* **visible lateness** = the moment the poller first saw the committed firing minus
  `due_at`: an upper bound on when the effect was visible to everyone (includes the
  poll period);
* **CPU per callback** (`cpu_ms_per_callback`): the server process's CPU time (user +
  system, from /proc) from the moment the callbacks are written until the end, less the
  restarted server's CPU up to its readiness (`restart_cpu_s`), over the callbacks fired;
  `server_cpu_s` is the total including the restart (the database server's own CPU is not
  counted);
* **exactly once**: callbacks with exactly one contact and one `due` timeline entry,
  and none with two; callbacks still `scheduled` at the end.

With `--crash-at`, also (keys `crash_*`): `crash_downtime_s`, from the SIGKILL until the
restarted server answered; `crash_recovered_s`, from the SIGKILL until every timer due
before the restart had fired (the backlog drained); the timers *affected* by the crash are
those not yet fired at the SIGKILL and due before the backlog drained (`crash_affected`,
with their own `crash_affected_p99_s` and `crash_affected_max_s`: about the downtime);
`crash_unaffected_p99_s` is the p99 lateness of all the others (fired before the kill, or
due after the backlog drained), which must stay as without a crash. The grace period
counts from the restart, so every callback has its chance to fire.

    python bench/callbacks.py [--backends sqlite,postgres] [--callbacks 10000]
        [--spread 60] [--crash-at 30] [--worker [--kill-worker-at 15]] [--py-spy out.txt]

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
WINDOW_S = 30.0  # a firing commits well within this after its fired_at
CHUNK = 2000
RAW_TIMERS = 5000
RAW_KIND = "bench_raw"


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


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc (Linux)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def raw_claim_rate(url: str) -> float:
    """Timers per second this process claims and completes with bare statements, in
    batches of 100 (the baseline: no handler, no ORM objects, no events), measured before
    the server starts."""
    from sqlalchemy import delete, insert, select, update

    from threadline.db import Database
    from threadline.orgs.models import Organization
    from threadline.workers.models import Timer

    db = Database(url)
    try:
        due = datetime.now(UTC) - timedelta(seconds=1)
        org_id = str(uuid.uuid4())
        rows = [
            {
                "id": str(uuid.uuid4()),
                "org_id": org_id,
                "kind": RAW_KIND,
                "ref_id": "-",
                "payload": {},
                "due_at": due,
            }
            for _ in range(RAW_TIMERS)
        ]
        async with db.write_sessions() as session, session.begin():
            await session.execute(
                insert(Organization), {"id": org_id, "slug": f"raw-{org_id[:8]}", "name": "Raw"}
            )
            await session.execute(insert(Timer), rows)
        started = time.perf_counter()
        done = 0
        while done < RAW_TIMERS:
            async with db.write_sessions() as session, session.begin():
                query = (
                    select(Timer.id)
                    .where(Timer.kind == RAW_KIND, Timer.fired_at.is_(None), Timer.due_at <= due)
                    .order_by(Timer.due_at)
                    .limit(100)
                )
                if db.dialect != "sqlite":
                    query = query.with_for_update(skip_locked=True)
                ids = list(await session.scalars(query))
                await session.execute(
                    update(Timer)
                    .where(Timer.id.in_(ids))
                    .values(fired_at=datetime.now(UTC), attempts=Timer.attempts + 1)
                )
            done += len(ids)
        rate = done / (time.perf_counter() - started)
        async with db.write_sessions() as session, session.begin():
            await session.execute(delete(Timer).where(Timer.kind == RAW_KIND))
        return rate
    finally:
        await db.dispose()


async def poll_fired(url: str, n: int, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Record when each fired timer was first visible, with a progress bar."""
    from sqlalchemy import select

    from threadline.callbacks.services import CALLBACK_DUE
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
            since = datetime(2000, 1, 1, tzinfo=UTC)
            while not stop.is_set():
                with contextlib.suppress(Exception):  # the server restarting (SQLite busy)
                    async with db.sessions() as session:
                        rows = await session.execute(
                            select(Timer.id, Timer.fired_at).where(
                                Timer.fired_at >= since, Timer.kind == CALLBACK_DUE
                            )
                        )
                        now = time.time()
                        latest = since
                        for timer_id, fired_at in rows:
                            seen.setdefault(timer_id, now)
                            latest = max(latest, _aware(fired_at))
                        # only what fired lately from now on (a lane's commit lands within
                        # WINDOW_S of its fired_at)
                        since = max(since, latest - timedelta(seconds=WINDOW_S))
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
        raw_rate = await raw_claim_rate(url)
        log(f"[{backend}] baseline: {raw_rate:,.0f} bare timers claimed and completed a second")
        log(f"[{backend}] writing {args.callbacks:,} booked callbacks")
        # with --worker: `threadline worker` beside the server, both firing the timers
        # (whichever claims one fires it); started first, it imports while the server does
        extra = {"THREADLINE_TIMER_WORKER": "true"} if args.worker else None
        worker = Server(url, workdir, None, command="worker", env_extra=extra) if extra else None
        server = Server(url, workdir, args.py_spy, env_extra=extra)
        await server.ready(within_s=180)  # a loaded 2-core machine imports slowly
        _queue_id, first_due = await make_world(url, args.callbacks, args.lead, args.spread)
        log(f"[{backend}] first due at {first_due:%H:%M:%S}, the last {args.spread:.0f} s later")
        seen: dict[str, float] = {}
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_fired(url, args.callbacks, seen, stop))
        restarts = 0
        killed_at = ready_at = None
        cpu_start, cpu_before_kill, restart_cpu = cpu_s(server.pid), 0.0, 0.0
        worker_cpu_start = cpu_s(worker.pid) if worker else 0.0
        worker_cpu_before_kill = 0.0
        if worker and args.kill_worker_at is not None:
            kill_worker_at = first_due + timedelta(seconds=args.kill_worker_at)
            await asyncio.sleep(max((kill_worker_at - datetime.now(UTC)).total_seconds(), 0))
            log(f"[{backend}] SIGKILL the worker, start it again")
            worker_cpu_before_kill = cpu_s(worker.pid) - worker_cpu_start
            worker_cpu_start = 0.0
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(10)
            worker = Server(url, workdir, None, command="worker", env_extra=extra)
        try:
            if args.crash_at is not None:
                crash_at = first_due + timedelta(seconds=args.crash_at)
                await asyncio.sleep(max((crash_at - datetime.now(UTC)).total_seconds(), 0))
                log(f"[{backend}] SIGKILL the server, start it again")
                killed_at = datetime.now(UTC)
                cpu_before_kill = cpu_s(server.pid) - cpu_start
                cpu_start = 0.0
                os.killpg(server.proc.pid, signal.SIGKILL)
                server.proc.wait(10)
                server = Server(url, workdir, None, env_extra=extra)
                # start-up rebuilds routing from the thousands of contacts already open
                await server.ready(within_s=180)
                ready_at = datetime.now(UTC)
                restart_cpu = cpu_s(server.pid)
                restarts = 1
            deadline = first_due + timedelta(seconds=args.spread + args.grace)
            if ready_at is not None:  # the grace counts from when the server was back
                deadline = max(deadline, ready_at + timedelta(seconds=args.grace))
            remaining = (deadline - datetime.now(UTC)).total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(poller), max(remaining, 1))
        finally:
            stop.set()
            await poller
            server_cpu = cpu_before_kill + cpu_s(server.pid) - cpu_start
            worker_cpu = (
                worker_cpu_before_kill + cpu_s(worker.pid) - worker_cpu_start if worker else 0.0
            )
            server.stop()
            if worker:
                worker.stop()
        found = await check(url)
    late, visible, twice = [], [], 0
    firings: list[tuple[datetime, float]] = []  # (due, lateness) of each fired timer
    for timer_id, due, fired, attempts in found["timers"]:
        due = _aware(due)
        if fired is not None:
            late.append((_aware(fired) - due).total_seconds())
            firings.append((due, late[-1]))
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
        "worker": bool(args.worker),
        "server_cpu_s": round(server_cpu, 2),
        "worker_cpu_s": round(worker_cpu, 2),
        "restart_cpu_s": round(restart_cpu, 2),
        "cpu_ms_per_callback": round(
            1000 * (server_cpu + worker_cpu - restart_cpu) / max(len(late), 1), 3
        ),
        "raw_claim_per_s": round(raw_rate, 1),
        "due_per_s": round(args.callbacks / args.spread, 1) if args.spread else None,
        "load_vs_raw": round(args.callbacks / args.spread / raw_rate, 4) if args.spread else None,
        **crash_figures(firings, killed_at, ready_at),
    }


def crash_figures(
    firings: list[tuple[datetime, float]], killed_at: datetime | None, ready_at: datetime | None
) -> dict[str, Any]:
    """Split the lateness at a crash. Affected: the timers that were still to fire at the
    SIGKILL and were due before the restarted server had drained its backlog (fired every
    timer due before it came back). All others (fired before the kill, or due after the
    backlog drained) must fire as on time as without a crash."""
    if killed_at is None or ready_at is None:
        return {}
    backlog = [due + timedelta(seconds=lateness) for due, lateness in firings if due <= ready_at]
    recovered = max([ready_at, *backlog])

    def hit(due: datetime, lateness: float) -> bool:
        return due <= recovered and due + timedelta(seconds=lateness) >= killed_at

    affected = [lateness for due, lateness in firings if hit(due, lateness)]
    others = [lateness for due, lateness in firings if not hit(due, lateness)]
    return {
        "crash_downtime_s": round((ready_at - killed_at).total_seconds(), 3),
        "crash_recovered_s": round((recovered - killed_at).total_seconds(), 3),
        "crash_affected": len(affected),
        "crash_affected_p99_s": round(pct(affected, 99), 3),
        "crash_affected_max_s": round(max(affected, default=float("nan")), 3),
        "crash_unaffected": len(others),
        "crash_unaffected_p99_s": round(pct(others, 99), 3),
        "crash_unaffected_max_s": round(max(others, default=float("nan")), 3),
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
    parser.add_argument(
        "--kill-worker-at",
        type=float,
        default=None,
        help="with --worker: SIGKILL the worker S s in (before any --crash-at), start it again",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run `threadline worker` beside the server (THREADLINE_TIMER_WORKER=true)",
    )
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
    print()
    print(f"{'backend':<10} {'raw claims/s':>12} {'due/s':>7} {'load/raw':>8} {'cpu ms/cb':>9}")
    for r in results:
        print(
            f"{r['backend']:<10} {r['raw_claim_per_s']:>12,.0f} {r['due_per_s'] or 0:>7.1f} "
            f"{r['load_vs_raw'] or 0:>8.4f} {r['cpu_ms_per_callback']:>9.3f}"
        )
    if any("crash_downtime_s" in r for r in results):
        print()
        print(
            f"{'backend':<10} {'down s':>7} {'recovered s':>11} {'affected':>8} "
            f"{'aff. p99':>8} {'aff. max':>8} {'others p99':>10} {'others max':>10}"
        )
        for r in results:
            if "crash_downtime_s" in r:
                print(
                    f"{r['backend']:<10} {r['crash_downtime_s']:>7.2f} "
                    f"{r['crash_recovered_s']:>11.2f} {r['crash_affected']:>8,} "
                    f"{r['crash_affected_p99_s']:>8.3f} {r['crash_affected_max_s']:>8.3f} "
                    f"{r['crash_unaffected_p99_s']:>10.3f} {r['crash_unaffected_max_s']:>10.3f}"
                )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    from threadline.db import across_orgs

    with across_orgs():  # the bench sets up and checks every organisation's rows
        main()
