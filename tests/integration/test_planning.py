"""The planning API (/api/v1/planning) on SQLite and PostgreSQL: a queue's week (forecast
against the contacts that came, agents required against those planned), the roster edited
and audited, a day simulated in the background with callbacks off and on; supervisors
only, their own organisation only."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import Running, World, eventually, login
from tests.integration.test_reports import _other_org_supervisor
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.orgs.models import AuditEntry
from threadline.planning import staffing
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread

LISBON = ZoneInfo("Europe/Lisbon")
HOURS = {
    "timezone": "Europe/Lisbon",
    "days": {d: [["09:00", "13:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}
SHAPE = [2, 4, 6, 6, 5, 3, 1, 0]  # contacts per half hour from 09:00 on a working day


def last_monday(weeks_back: int = 1) -> date:
    today = datetime.now(LISBON).date()
    return staffing.monday_of(today) - timedelta(weeks=weeks_back)


async def seed_history(
    ctx: Context, org_id: str, queue_id: str, first: date, weeks: int, *, scale: int = 1
) -> None:
    """`weeks` working weeks of contacts from Monday `first`: SHAPE x `scale` per half hour
    from 09:00 (Lisbon), 4 minutes handled each; the queue opens 09:00-13:00 on weekdays."""
    async with ctx.uow() as uow:
        queue = await uow.session.get(Queue, queue_id)
        assert queue is not None
        queue.business_hours = HOURS
        customer = Customer(org_id=org_id, name="History")
        uow.session.add(customer)
        await uow.session.flush()
        thread = Thread(org_id=org_id, customer_id=customer.id)
        uow.session.add(thread)
        await uow.session.flush()
        for offset in range(7 * weeks):
            day = first + timedelta(days=offset)
            if day.weekday() >= 5:
                continue
            nine = datetime(day.year, day.month, day.day, 9, tzinfo=LISBON)
            for slot, n in enumerate(SHAPE):
                for k in range(n * scale):
                    enqueued = nine + timedelta(
                        minutes=30 * slot, seconds=(1700 // (n * scale)) * k
                    )
                    accepted = enqueued.astimezone(UTC) + timedelta(seconds=30)
                    uow.session.add(
                        Contact(
                            org_id=org_id,
                            thread_id=thread.id,
                            customer_id=customer.id,
                            queue_id=queue_id,
                            channel="voice",
                            status="ended",
                            enqueued_at=enqueued.astimezone(UTC),
                            accepted_at=accepted,
                            ended_at=accepted + timedelta(seconds=240),
                        )
                    )


async def week_of(client: httpx.AsyncClient, queue_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/v1/planning/queues/{queue_id}/week", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_week_shows_forecast_actual_required_and_planned(
    server: Running, world: World
) -> None:
    queue_id = world.queues["cards"].id
    week = last_monday()
    await seed_history(server.ctx, world.org_id, queue_id, week - timedelta(weeks=3), 4)
    nikos = await login(server, "nikos@example.com")

    cells = [
        {"weekday": 0, "minute": 9 * 60 + 30 * i, "agents": n} for i, n in enumerate([2, 3, 4, 4])
    ]
    saved = await nikos.put(f"/api/v1/planning/queues/{queue_id}/roster", json={"cells": cells})
    assert saved.status_code == 200, saved.text
    assert saved.json()["timezone"] == "Europe/Lisbon"
    assert [c["agents"] for c in saved.json()["cells"]] == [2, 3, 4, 4]

    plan = await week_of(nikos, queue_id, week=(week + timedelta(days=2)).isoformat())
    assert plan["week"] == week.isoformat() and plan["timezone"] == "Europe/Lisbon"
    assert (plan["sl_target_pct"], plan["sl_threshold_s"], plan["shrinkage"]) == (80, 20, 0.3)
    intervals = plan["intervals"]
    assert len(intervals) == len(staffing.week_intervals(week, LISBON))  # 7 x 48 but DST
    by_start = {datetime.fromisoformat(i["start"]): i for i in intervals}
    monday_nine = datetime(week.year, week.month, week.day, 9, tzinfo=LISBON)
    # the contacts that came, once each half hour has ended
    assert [by_start[monday_nine + timedelta(minutes=30 * k)]["actual"] for k in range(8)] == SHAPE
    assert by_start[monday_nine - timedelta(hours=2)]["actual"] == 0
    # the same every week: a model by backtest forecasts it closely, closed hours as 0
    forecast = plan["forecast"]
    assert forecast["model"] and forecast["wape"] is not None and forecast["wape"] < 0.2
    assert "mean_4w" in forecast["backtest"] and forecast["baseline_wape"] is not None
    ten = by_start[monday_nine + timedelta(hours=1)]
    assert math.isclose(ten["forecast"], 6.0, abs_tol=1.0)
    assert by_start[monday_nine + timedelta(hours=6)]["forecast"] == 0
    assert plan["handle_source"] == "forecast" and math.isclose(ten["handle_s"], 240, abs_tol=1)
    # required: Erlang A agents on the phones, shrinkage on top; the gap against the roster
    on = staffing.agents_taking_contacts(
        ten["forecast"], ten["handle_s"], answer_within_s=20, target=0.8, patience_s=300
    )
    assert ten["on_phones"] == on >= 1
    assert ten["required"] == math.ceil(on / 0.7 - 1e-9)
    assert ten["planned"] == 4 and ten["gap"] == 4 - ten["required"]
    assert by_start[monday_nine + timedelta(hours=2)]["planned"] == 0  # not in the roster

    # a larger shrinkage requires more agents
    strict = await week_of(nikos, queue_id, week=week.isoformat(), shrinkage=0.5)
    ten_strict = {datetime.fromisoformat(i["start"]): i for i in strict["intervals"]}[
        monday_nine + timedelta(hours=1)
    ]
    assert ten_strict["required"] == math.ceil(on / 0.5 - 1e-9) >= ten["required"]

    audit = await eventually(lambda: _audited(server, world.org_id))
    assert audit.target == queue_id and audit.data["cells"] == 4
    await nikos.aclose()


async def _audited(server: Running, org_id: str) -> AuditEntry | None:
    from sqlalchemy import select

    from threadline.db import org_scope

    with org_scope(org_id):
        async with server.ctx.db.sessions() as session:
            found: AuditEntry | None = await session.scalar(
                select(AuditEntry).where(AuditEntry.action == "planning.roster")
            )
            return found


async def test_roster_cells_are_validated_and_cleared(server: Running, world: World) -> None:
    queue_id = world.queues["general"].id
    nikos = await login(server, "nikos@example.com")
    url = f"/api/v1/planning/queues/{queue_id}/roster"
    bad = await nikos.put(url, json={"cells": [{"weekday": 1, "minute": 545, "agents": 2}]})
    assert bad.status_code == 422 and "half hour" in bad.json()["message"]
    assert bad.json()["details"]["field"] == "cells.0.minute"
    bad = await nikos.put(url, json={"cells": [{"weekday": 7, "minute": 540, "agents": 2}]})
    assert bad.status_code == 422
    bad = await nikos.put(url, json={"cells": [{"weekday": 1, "minute": 540, "agents": -1}]})
    assert bad.status_code == 422
    twice = [{"weekday": 1, "minute": 540, "agents": 2}] * 2
    assert (await nikos.put(url, json={"cells": twice})).status_code == 422

    await nikos.put(url, json={"cells": [{"weekday": 1, "minute": 540, "agents": 2}]})
    await nikos.put(url, json={"cells": [{"weekday": 2, "minute": 600, "agents": 5}]})
    kept = (await nikos.get(url)).json()["cells"]
    assert [(c["weekday"], c["minute"], c["agents"]) for c in kept] == [(1, 540, 2), (2, 600, 5)]
    await nikos.put(url, json={"cells": [{"weekday": 1, "minute": 540, "agents": 0}]})
    kept = (await nikos.get(url)).json()["cells"]
    assert [(c["weekday"], c["minute"]) for c in kept] == [(2, 600)]
    far = await nikos.get(f"/api/v1/planning/queues/{queue_id}/week", params={"week": "2020-01-06"})
    assert far.status_code == 422
    await nikos.aclose()


async def test_only_supervisors_of_the_organisation(server: Running, world: World) -> None:
    queue_id = world.queues["general"].id
    rui = await login(server, "rui@example.com")
    for method, url, body in (
        ("GET", f"/api/v1/planning/queues/{queue_id}/week", None),
        ("GET", f"/api/v1/planning/queues/{queue_id}/roster", None),
        ("PUT", f"/api/v1/planning/queues/{queue_id}/roster", {"cells": []}),
        ("POST", f"/api/v1/planning/queues/{queue_id}/simulations", {"day": "2026-12-01"}),
    ):
        response = await rui.request(method, url, json=body)
        assert response.status_code == 403, (method, url)
    async with server.client() as anonymous:
        assert (await anonymous.get("/planning", follow_redirects=False)).status_code == 303
    assert (await rui.get("/planning")).status_code == 403
    other = await _other_org_supervisor(server)
    assert (await other.get(f"/api/v1/planning/queues/{queue_id}/roster")).status_code == 404
    assert (await other.get(f"/api/v1/planning/queues/{queue_id}/week")).status_code == 404
    await rui.aclose()
    await other.aclose()


async def test_a_day_is_simulated_with_callbacks_off_and_on(server: Running, world: World) -> None:
    queue_id = world.queues["cards"].id
    week = last_monday()
    await seed_history(server.ctx, world.org_id, queue_id, week - timedelta(weeks=3), 4, scale=8)
    nikos = await login(server, "nikos@example.com")
    cells = [{"weekday": 0, "minute": 9 * 60 + 30 * i, "agents": 3} for i in range(8)]
    await nikos.put(f"/api/v1/planning/queues/{queue_id}/roster", json={"cells": cells})
    url = f"/api/v1/planning/queues/{queue_id}/simulations"
    sunday = await nikos.post(url, json={"day": (week + timedelta(days=6)).isoformat()})
    assert sunday.status_code == 422 and sunday.json()["details"]["field"] == "day"

    started = await nikos.post(url, json={"day": week.isoformat(), "seed": 3})
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["status"] in ("running", "done") and 0 <= run["progress"] <= 1

    async def finished() -> dict[str, Any] | None:
        seen = (await nikos.get(f"/api/v1/planning/simulations/{run['id']}")).json()
        return seen if seen["status"] != "running" else None

    done = await eventually(finished, timeout=60)
    assert done["status"] == "done" and done["progress"] == 1.0, done
    off, on = done["callbacks_off"], done["callbacks_on"]
    assert off["contacts"] == on["contacts"] > 100  # the same arrivals both times
    assert off["callbacks_offered"] == 0 and on["callbacks_offered"] > 0
    # 3 agents, 2 after shrinkage, for up to 48 contacts a half hour: callers hang up without
    # callbacks; with them, fewer do
    assert off["hung_up"] > on["hung_up"]
    first = datetime.fromisoformat(off["by_interval"][0]["start"])
    assert first == datetime(week.year, week.month, week.day, 9, tzinfo=LISBON)

    other = await _other_org_supervisor(server)
    assert (await other.get(f"/api/v1/planning/simulations/{run['id']}")).status_code == 404
    await other.aclose()
    await nikos.aclose()
