"""Simulations from the planning page (planning/simulations.py): the day's networks from the
forecast and the roster, the limits a request meets, one run at a time per organisation."""

from __future__ import annotations

import asyncio
import math
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from threadline.errors import Conflict, Invalid, NotFound
from threadline.planning import staffing
from threadline.planning.forecasts import QueueForecast
from threadline.planning.schemas import SimulationIn
from threadline.planning.services import WeekPlan
from threadline.planning.simulations import MAX_CONTACTS, SimulationRuns, build_networks
from threadline.routing.models import Queue

LISBON = ZoneInfo("Europe/Lisbon")
MONDAY = date(2026, 11, 30)


def plan_of(forecast: dict[int, float], planned: dict[int, int]) -> WeekPlan:
    """A week whose Monday has `forecast` contacts and `planned` agents in the given half
    hours (index from midnight)."""
    starts = staffing.week_intervals(MONDAY, LISBON)
    queue = Queue(id="q1", org_id="o1", name="Cards", sl_target_pct=80, sl_threshold_s=20)
    queue.callback_policy = {}
    needs = staffing.needs(
        starts,
        [forecast.get(i, 0.0) for i in range(len(starts))],
        [240.0] * len(starts),
        {(0, i * 30): n for i, n in planned.items()},
        LISBON,
        answer_within_s=20,
        target=0.8,
        patience_s=300,
        shrinkage=0.3,
    )
    empty = QueueForecast(starts[0], None, "test")
    return WeekPlan(queue, "Europe/Lisbon", MONDAY, 0.3, 300.0, "default", empty, needs, [])


def test_the_day_runs_from_its_first_to_its_last_busy_half_hour() -> None:
    plan = plan_of({18: 30.0, 19: 60.0, 20: 30.0}, {18: 5, 19: 5, 20: 5, 21: 3})
    first, networks = build_networks(plan, SimulationIn(day=MONDAY))
    assert first.astimezone(LISBON).hour == 9
    off, on = networks["off"], networks["on"]
    assert off.horizon_s == on.horizon_s == 4 * 1800  # 09:00 to 11:00
    assert off.queues[0].callbacks.enabled is False and on.queues[0].callbacks.enabled is True
    assert on.queues[0].callbacks.offer_after_s == 60.0
    assert off.groups[0].staffing == [(0.0, 3), (3 * 1800.0, 2)]  # 5 and 3 after 30%
    rate = off.arrival_rate_per_s
    assert callable(rate) and math.isclose(rate(1800 + 5), 60 / 1800)
    assert off.peak_arrival_rate_per_s == pytest.approx(60 / 1800)
    assert off.seed == on.seed  # the same callers both times


@pytest.mark.parametrize(
    ("forecast", "planned", "why"),
    [
        ({}, {}, "no contacts forecast and no agents planned"),
        ({}, {18: 4}, "no contacts are forecast"),
        ({18: 30.0}, {}, "no agents planned"),
        ({18: 30.0}, {18: 1}, "no agents planned"),  # 1 agent, 0 after shrinkage
        ({18: MAX_CONTACTS + 1.0}, {18: 4}, f"at most {MAX_CONTACTS}"),
    ],
)
def test_a_day_with_nothing_to_simulate_or_too_much_is_refused(
    forecast: dict[int, float], planned: dict[int, int], why: str
) -> None:
    with pytest.raises(Invalid, match=why) as refused:
        build_networks(plan_of(forecast, planned), SimulationIn(day=MONDAY))
    assert refused.value.details == {"field": "day"}


async def test_one_run_at_a_time_per_organisation() -> None:
    runs = SimulationRuns()
    plan = plan_of({18: 40.0, 19: 40.0}, {18: 4, 19: 4})
    first, networks = build_networks(plan, SimulationIn(day=MONDAY))
    run = runs.start("o1", "q1", MONDAY, first, networks)
    with pytest.raises(Conflict, match="already running"):
        runs.start("o1", "q1", MONDAY, first, networks)
    other = runs.start("o2", "q1", MONDAY, first, networks)  # another organisation may
    with pytest.raises(NotFound):
        runs.get("o2", run.id)
    for _ in range(400):
        if run.status != "running" and other.status != "running":
            break
        await asyncio.sleep(0.05)
    assert run.status == "done" and run.out().progress == 1.0
    assert runs.get("o1", run.id).out().callbacks_on is not None
    again = runs.start("o1", "q1", MONDAY, first, networks)  # once done, another may start
    await runs.stop()
    assert again.status in ("done", "failed")
