"""`threadline forecast --queue NAME`: a queue's contacts in the database, bucketed per local
interval, closed hours left out, forecast by the same models as a history file (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from tests.conftest import make_world
from threadline.analytics.forecast import HistoryError, forecast
from threadline.analytics.queue_history import queue_history
from threadline.cli import app
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread

LISBON = ZoneInfo("Europe/Lisbon")
HOURS = {
    "timezone": "Europe/Lisbon",
    "days": {d: [["09:00", "13:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}
# Monday 2026-11-02 .. Friday 2026-11-20 (three working weeks; no DST change in between)
FIRST_DAY = datetime(2026, 11, 2, tzinfo=LISBON)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=LISBON)  # Saturday: the history is complete


def arrivals(day: datetime) -> list[tuple[datetime, int]]:
    """A working day: 2 contacts at 09:00, 4 at 09:30 ... more mid-morning; none at 12:30."""
    shape = [2, 4, 6, 6, 5, 3, 1, 0]
    return [(day + timedelta(hours=9, minutes=30 * i), n) for i, n in enumerate(shape)]


async def seed(ctx: Context) -> tuple[str, str]:
    world = await make_world(ctx)
    async with ctx.uow() as uow:
        queue = await uow.session.get(Queue, world.queues["cards"].id)
        assert queue is not None
        queue.business_hours = HOURS
        customer = Customer(org_id=world.org_id, name="History")
        uow.session.add(customer)
        await uow.session.flush()
        thread = Thread(org_id=world.org_id, customer_id=customer.id)
        uow.session.add(thread)
        await uow.session.flush()
        for offset in range(19):
            day = FIRST_DAY + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            for start, n in arrivals(day):
                for k in range(n):
                    enqueued = (start + timedelta(minutes=3 * k)).astimezone(UTC)
                    accepted = enqueued + timedelta(seconds=30)
                    uow.session.add(
                        Contact(
                            org_id=world.org_id,
                            thread_id=thread.id,
                            customer_id=customer.id,
                            queue_id=queue.id,
                            channel="voice",
                            status="ended",
                            enqueued_at=enqueued,
                            accepted_at=accepted,
                            ended_at=accepted + timedelta(seconds=240),
                        )
                    )
    async with ctx.db.sessions() as session:
        from threadline.orgs.models import Organization

        org = await session.get(Organization, world.org_id)
        assert org is not None
        return org.slug, "Cards"


async def test_the_history_is_per_local_interval_with_closed_hours_left_out(ctx: Context) -> None:
    slug, name = await seed(ctx)
    found = await queue_history(ctx.db, name, org_slug=slug, minutes=30, now=NOW)
    assert found.zone == "Europe/Lisbon"
    by_start = {o.interval_start: o for o in found.observations}
    monday = [by_start[s] for s, _ in arrivals(FIRST_DAY)]
    assert [o.contacts for o in monday] == [2, 4, 6, 6, 5, 3, 1, 0]  # 12:30 open, listed as 0
    assert monday[0].interval_start.utcoffset() == timedelta(0)  # Lisbon in November
    assert monday[0].handle_time_s == pytest.approx(240.0)
    assert monday[-1].handle_time_s is None
    # Closed: nights and the weekend are not listed at all
    assert FIRST_DAY + timedelta(hours=13) not in by_start
    assert FIRST_DAY + timedelta(days=5, hours=10) not in by_start
    assert len(found.observations) == 15 * 8  # 15 working days x 8 open half-hours

    result = forecast(found.observations, minutes=30, horizon=timedelta(days=7), zone=found.zone)
    open_points = [p for p in result.points if p.contacts > 0]
    assert open_points and all(
        p.interval_start.astimezone(LISBON).weekday() < 5
        and 9 <= p.interval_start.astimezone(LISBON).hour < 13
        for p in open_points
    )
    monday_10 = next(
        p for p in result.points if p.interval_start == datetime(2026, 11, 23, 10, tzinfo=LISBON)
    )
    assert monday_10.contacts == pytest.approx(6.0, abs=1.0)


async def test_unknown_names_are_refused_with_what_exists(ctx: Context) -> None:
    slug, _ = await seed(ctx)
    with pytest.raises(HistoryError, match=r"no queue 'Cardz' .*'Cards', 'General'"):
        await queue_history(ctx.db, "Cardz", org_slug=slug, minutes=30, now=NOW)
    with pytest.raises(HistoryError, match="no organisation 'nope'"):
        await queue_history(ctx.db, "Cards", org_slug="nope", minutes=30, now=NOW)
    with pytest.raises(HistoryError, match="has no contacts yet"):
        await queue_history(ctx.db, "General", org_slug=slug, minutes=30, now=NOW)


async def test_the_cli_forecasts_a_queue_from_the_database(
    ctx: Context, settings: Settings
) -> None:
    slug, name = await seed(ctx)
    env = {"THREADLINE_DATABASE_URL": settings.database_url}
    args = ["forecast", "--queue", name, "--org", slug, "--horizon", "2d", "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args, env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["timezone"] == "Europe/Lisbon"
    assert len(report["forecast"]) == 96  # every 30-minute interval of two days
    assert isinstance(report["model"], str)
    first = datetime.fromisoformat(report["forecast"][0]["interval_start"])
    assert first.utcoffset() is not None  # local, with its offset
    assert -timedelta(minutes=30) < first - datetime.now(UTC) <= timedelta(0)  # the one in progress

    both = ["forecast", "--queue", name, "--history", "x.csv"]
    refused = await asyncio.to_thread(CliRunner().invoke, app, both, env=env)
    assert refused.exit_code == 2 and "either --history" in refused.output
    unknown = ["forecast", "--queue", "Nope", "--org", slug]
    refused = await asyncio.to_thread(CliRunner().invoke, app, unknown, env=env)
    assert refused.exit_code == 2 and "no queue 'Nope'" in refused.output
    assert "Traceback" not in refused.output
