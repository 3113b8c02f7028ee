#!/usr/bin/env python
"""Reports over a year and a million contacts: the KPI counters against the raw contacts.

For each backend (SQLite file, PostgreSQL), in one run:

1. a migrated database filled in bulk (Core ``executemany`` through the models' tables):
   one organisation, 20 queues, 40 agents, 250,000 customers with a thread each and
   1,000,000 contacts over the year before ``NOW`` (a weekday/hour profile; 8% abandoned,
   5% transferred once; waits, talk times, reasons and channels drawn at random); the KPI
   counters of those contacts (analytics/kpi.py ``fold_contact``, the code the live consumer
   and the rebuild count with) and the agents' staffed time (8-hour weekday shifts);
2. the reports, each several times, through the reports service (the API's own code:
   SQL GROUP BY over the counters, then the KPI formulas): per queue over the year, per
   30-minute interval over a month, per agent over the year;
3. the baseline in the same run: the same groups straight over the raw ``contacts`` table
   in one SQL GROUP BY each (offered, answered, abandoned, answered within 20 s, the summed
   wait and talk): the "raw database rate".

    python bench/reports.py [--backends sqlite,postgres] [--contacts 1000000] [--runs 7]

Prints progress on stderr, a table, then as its last line one JSON object: per backend the
p50/p99 of each report in ms, the raw baseline's, and their ratio (raw / counters).
Target: a report over a year and a million contacts in under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import Table, create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from threadline.analytics import kpi  # noqa: E402
from threadline.analytics.models import contact_intervals, event_intervals  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "THREADLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-not-for-production-0123456789"  # noqa: S105 (throwaway)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
QUEUES, AGENTS = 20, 40
CHANNELS, CHANNEL_WEIGHTS = ["chat", "email", "sms", "voice"], [45, 20, 10, 25]
REASONS = ["card", "loan", "balance", "fraud", "address", "pin", "transfer", "fees", "app", "other"]
BATCH = 5_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the data
def _hour_weight(moment: datetime) -> float:
    weekday, hour = moment.weekday(), moment.hour
    if hour < 7 or hour >= 22:
        return 0.05
    day = 1.0 if weekday < 5 else 0.35
    return day * (1.6 if 9 <= hour < 12 else 1.0)


def make_rows(contacts: int, seed: int) -> tuple[dict[str, list[dict[str, Any]]], kpi.Deltas]:
    """Every row, by table, and the counters of the contacts (and staffed time)."""
    rng = random.Random(seed)
    org_id = str(uuid.UUID(int=rng.getrandbits(128)))

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128)))

    rows: dict[str, list[dict[str, Any]]] = {
        "organizations": [
            {"id": org_id, "slug": "busy", "name": "Busy", "created_at": NOW - timedelta(days=400)}
        ]
    }
    rows["queues"] = [
        {"id": new_id(), "org_id": org_id, "name": f"Queue {i:02d}", "sl_threshold_s": 20}
        for i in range(QUEUES)
    ]
    rows["agents"] = [
        {
            "id": new_id(),
            "org_id": org_id,
            "email": f"a{i}@busy.example.com",
            "name": f"Agent {i:02d}",
            "password_hash": "x",
            "role": "agent",
        }
        for i in range(AGENTS)
    ]
    customers = max(1, contacts // 4)
    rows["customers"] = [{"id": new_id(), "org_id": org_id} for _ in range(customers)]
    rows["threads"] = [
        {"id": new_id(), "org_id": org_id, "customer_id": c["id"], "status": "resolved"}
        for c in rows["customers"]
    ]
    hours = [NOW - timedelta(days=365) + timedelta(hours=h) for h in range(365 * 24)]
    weights = [_hour_weight(h) for h in hours]
    queue_weights = [1 / (i + 1) ** 0.7 for i in range(QUEUES)]
    deltas: kpi.Deltas = {}
    out: list[dict[str, Any]] = []
    for n, hour in enumerate(rng.choices(hours, weights, k=contacts)):
        if n % 200_000 == 0:
            log(f"  contacts: {n:,}")
        thread = rng.choice(rows["threads"])
        queue = rng.choices(rows["queues"], queue_weights)[0]
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        enqueued = hour + timedelta(seconds=rng.uniform(0, 3600))
        wait = rng.expovariate(1 / 25)
        reason = rng.choice(REASONS)
        abandoned = rng.random() < 0.08
        agent = rng.choice(rows["agents"])["id"]
        contact = {
            "id": new_id(),
            "org_id": org_id,
            "thread_id": thread["id"],
            "customer_id": thread["customer_id"],
            "queue_id": queue["id"],
            "channel": channel,
            "reason": reason,
            "enqueued_at": enqueued,
            "agent_id": None,
            "accepted_at": None,
            "wrapup_reason": None,
        }
        if abandoned:
            ended = enqueued + timedelta(seconds=wait)
            contact |= {"status": "abandoned", "ended_at": ended}
            facts = kpi.ContactFacts(queue["id"], channel, reason, enqueued, ended, "abandoned", 20)
        else:
            answer = enqueued + timedelta(seconds=wait)
            ended = answer + timedelta(seconds=rng.expovariate(1 / 300))
            segments = [kpi.Segment(agent, answer, ended)]
            transferred: tuple[str, ...] = ()
            last = agent
            if rng.random() < 0.05:  # transferred once, half way through
                last = rng.choice(rows["agents"])["id"]
                middle = answer + (ended - answer) / 2
                segments = [kpi.Segment(agent, answer, middle), kpi.Segment(last, middle, ended)]
                transferred = (agent,)
            contact |= {
                "status": "resolved",
                "agent_id": last,
                "accepted_at": answer,
                "ended_at": ended,
                "wrapup_reason": reason,
            }
            facts = kpi.ContactFacts(
                queue["id"], channel, reason, enqueued, ended, "resolved", 20,
                last_agent_id=last, first_answer_at=answer, first_agent_id=agent,
                segments=tuple(segments), transferred_by=transferred,
            )  # fmt: skip
        kpi.fold_contact(deltas, facts)
        out.append(contact)
    rows["contacts"] = out
    staffed: kpi.Deltas = {}
    for day in range(365):
        start = NOW - timedelta(days=365 - day)
        if start.weekday() >= 5:
            continue
        for i, agent_row in enumerate(rows["agents"]):
            shift = start + timedelta(hours=7 + (i % 8))
            kpi.fold_presence(
                staffed, agent_row["id"], "available", shift, shift + timedelta(hours=8)
            )
    return rows, {**deltas, **staffed}


def counter_rows(org_id: str, deltas: kpi.Deltas, table: Table) -> list[dict[str, Any]]:
    names = [c.name for c in table.c if c.name in kpi.COUNTERS]
    wanted = set(names)
    out = []
    for key, values in deltas.items():
        if not wanted.intersection(values):
            continue
        out.append(
            {
                "org_id": org_id,
                "bucket": key[0],
                "queue_id": key[1],
                "channel": key[2],
                "agent_id": key[3],
                "reason": key[4],
                **{n: values.get(n, 0.0) for n in names},
            }
        )
    return out


def fill(url: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    from threadline.db import Base
    from threadline.models import import_models

    import_models()
    engine = create_engine(url.replace("+aiosqlite", ""), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            for name, table_rows in rows.items():
                table: Table = Base.metadata.tables[name]
                for start in range(0, len(table_rows), BATCH):
                    conn.execute(table.insert(), table_rows[start : start + BATCH])
                    done = min(start + BATCH, len(table_rows))
                    if done % 200_000 < BATCH or done == len(table_rows):
                        log(f"  {name}: {done:,}/{len(table_rows):,}")
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if url.startswith("postgres") else "ANALYZE"))
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the timings
def raw_sql(dialect: str, group: str) -> str:
    """The baseline: one GROUP BY over the raw contacts (the same figures the counters hold
    for offered, answered, abandoned, answered within 20 s, waits and talk)."""
    if dialect == "sqlite":
        wait = "(julianday(accepted_at) - julianday(enqueued_at)) * 86400.0"
        talk = "(julianday(ended_at) - julianday(accepted_at)) * 86400.0"
        slot = "CAST(strftime('%s', enqueued_at) AS INTEGER) / 1800"
    else:
        wait = "EXTRACT(EPOCH FROM accepted_at - enqueued_at)"
        talk = "EXTRACT(EPOCH FROM ended_at - accepted_at)"
        slot = "FLOOR(EXTRACT(EPOCH FROM enqueued_at) / 1800)"
    key = {"queue": "queue_id", "agent": "agent_id", "interval": slot}[group]
    return (
        f"SELECT {key} AS k, COUNT(*) AS offered, "  # noqa: S608 - our own fragments
        "SUM(CASE WHEN accepted_at IS NOT NULL THEN 1 ELSE 0 END) AS answered, "
        "SUM(CASE WHEN status = 'abandoned' THEN 1 ELSE 0 END) AS abandoned, "
        f"SUM(CASE WHEN accepted_at IS NOT NULL AND {wait} <= 20 THEN 1 ELSE 0 END) AS in_sl, "
        f"SUM(CASE WHEN accepted_at IS NOT NULL THEN {wait} ELSE 0 END) AS wait_s, "
        f"SUM(CASE WHEN accepted_at IS NOT NULL THEN {talk} ELSE 0 END) AS talk_s "
        "FROM contacts WHERE org_id = :org AND enqueued_at >= :start AND enqueued_at < :end "
        "AND ended_at IS NOT NULL "
        f"GROUP BY {key}"
    )


def timed(runs: int, work: Callable[[], Any]) -> dict[str, float]:
    work()  # warm the caches once
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return {"p50_ms": round(statistics.median(times), 1), "p99_ms": round(p99, 1)}


REPORTS = {  # name: (group_by, interval minutes, span)
    "per_queue_year": ("queue", 60, timedelta(days=365)),
    "per_30m_interval_month": ("interval", 30, timedelta(days=30)),
    "per_agent_year": ("agent", 60, timedelta(days=365)),
}


def measure(url: str, org_id: str, runs: int) -> dict[str, Any]:
    from threadline.analytics import reports
    from threadline.app import build_context
    from threadline.config import Settings
    from threadline.db import across_orgs

    settings = Settings(database_url=url, secret_key=SECRET, _env_file=None)  # type: ignore[call-arg]
    ctx = build_context(settings)
    loop = asyncio.new_event_loop()
    sync = create_engine(url.replace("+aiosqlite", ""), poolclass=NullPool)
    dialect = "sqlite" if url.startswith("sqlite") else "postgres"
    figures: dict[str, Any] = {}
    try:
        for name, (group, minutes, span) in REPORTS.items():
            query = reports.ReportQuery(NOW - span, NOW, group, minutes, UTC, kpi.Options())

            def report(query: reports.ReportQuery = query) -> Any:
                with across_orgs():
                    return loop.run_until_complete(reports.run(ctx, org_id, query))

            counters = timed(runs, report)
            rows = len(report()[0])
            sql = text(raw_sql(dialect, group))
            params = {"org": org_id, "start": NOW - span, "end": NOW}
            if dialect == "sqlite":
                params |= {
                    "start": params["start"].replace(tzinfo=None),
                    "end": NOW.replace(tzinfo=None),
                }

            def raw(sql: Any = sql, params: dict[str, Any] = params) -> Any:
                with sync.connect() as conn:
                    return conn.execute(sql, params).all()

            baseline = timed(runs, raw)
            figures[name] = {
                "rows": rows,
                "counters": counters,
                "raw": baseline,
                "ratio": round(baseline["p50_ms"] / max(counters["p50_ms"], 0.01), 2),
            }
            log(f"  {name}: counters {counters}, raw {baseline}")
    finally:
        loop.run_until_complete(ctx.db.dispose())
        loop.close()
        sync.dispose()
    return figures


# ------------------------------------------------------------------ databases
def run_backend(backend: str, rows: dict[str, Any], runs: int) -> dict[str, Any]:
    from threadline.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="tl-reports-"))
    name = f"threadline_bench_reports_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'reports.db'}"
    else:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        log(f"{backend}: migrating and filling")
        began = time.perf_counter()
        upgrade(url)
        fill(url, rows)
        log(f"{backend}: filled in {time.perf_counter() - began:.0f} s")
        org_id = rows["organizations"][0]["id"]
        figures = measure(url, org_id, runs)
        figures["counter_rows"] = sum(
            len(rows[t]) for t in ("kpi_contact_intervals", "kpi_event_intervals", "kpi_rollups")
        )
        return figures
    finally:
        if backend == "postgres":
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        for path in workdir.glob("*"):
            path.unlink()
        workdir.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    log(f"building {args.contacts:,} contacts over a year")
    rows, deltas = make_rows(args.contacts, args.seed)
    org_id = rows["organizations"][0]["id"]
    rows["kpi_contact_intervals"] = counter_rows(org_id, deltas, contact_intervals)
    rows["kpi_event_intervals"] = counter_rows(org_id, deltas, event_intervals)
    rows["kpi_rollups"] = [
        {
            "org_id": org_id,
            "grain": key[0],
            "start": key[1],
            "dimension": key[2],
            "value": key[3],
            **{n: values.get(n, 0.0) for n in kpi.COUNTERS},
        }
        for key, values in kpi.rollup(deltas).items()
    ]
    log(
        f"counter rows: {len(rows['kpi_contact_intervals']):,} contact, "
        f"{len(rows['kpi_event_intervals']):,} event, {len(rows['kpi_rollups']):,} roll-ups"
    )
    results = {b: run_backend(b, rows, args.runs) for b in args.backends.split(",")}
    print(f"\n{args.contacts:,} contacts over a year; p50 / p99 in ms")
    print(
        f"{'backend':<9} {'report':<24} {'rows':>6} {'counters':>17} {'raw SQL':>17} {'ratio':>6}"
    )
    summary: dict[str, Any] = {"contacts": args.contacts}
    for backend, figures in results.items():
        for name in REPORTS:
            f = figures[name]
            c, r = f["counters"], f["raw"]
            print(
                f"{backend:<9} {name:<24} {f['rows']:>6} "
                f"{c['p50_ms']:>8} / {c['p99_ms']:<6} {r['p50_ms']:>8} / {r['p99_ms']:<6} "
                f"{f['ratio']:>6}"
            )
            summary[f"{backend}_{name}_p50_ms"] = c["p50_ms"]
            summary[f"{backend}_{name}_p99_ms"] = c["p99_ms"]
            summary[f"{backend}_{name}_raw_p50_ms"] = r["p50_ms"]
            summary[f"{backend}_{name}_ratio"] = f["ratio"]
        summary[f"{backend}_counter_rows"] = figures["counter_rows"]
        year = max(figures[n]["counters"]["p99_ms"] for n in ("per_queue_year", "per_agent_year"))
        summary[f"{backend}_year_report_under_1s"] = year < 1000
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
