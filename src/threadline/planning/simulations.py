"""Simulations started from the planning page: one local day of a queue, its forecast as
the arrivals and its roster (after shrinkage) as the agents, run by the engine of
`threadline simulate` (simulation/network.py) twice on the same arrivals, callbacks off and
on, in a worker thread; the page polls the run for its progress.

Bounded: one run at a time per organisation, one day at most, ``MAX_CONTACTS`` forecast
contacts at most; the last ``KEEP_PER_ORG`` runs of an organisation are kept, in this
process (a poll must reach the node that started the run).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Literal

from threadline.context import Context, per_context
from threadline.errors import Conflict, Invalid, NotFound
from threadline.planning import staffing
from threadline.planning.schemas import (
    SimulationFigures,
    SimulationIn,
    SimulationInterval,
    SimulationOut,
)
from threadline.planning.services import WeekPlan, day_bounds, local_day_intervals, week_plan
from threadline.routing.callback_policy import CallbackPolicy, InvalidPolicy, parse_policy
from threadline.simulation.network import (
    AgentGroup,
    Network,
    NetworkResult,
    QueueDemand,
    simulate_network,
)

MAX_CONTACTS = 20_000
KEEP_PER_ORG = 5
MODES = ("off", "on")


class Cancelled(Exception):
    """The run was stopped (the server is shutting down)."""


@dataclass
class Run:
    id: str
    org_id: str
    queue_id: str
    day: date
    first: datetime  # the start of the day's first simulated interval
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    status: Literal["running", "done", "failed"] = "running"
    done: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MODES, 0.0))
    error: str | None = None
    results: dict[str, SimulationFigures] = field(default_factory=dict)
    cancelled: bool = False

    def out(self) -> SimulationOut:
        end = self.finished if self.finished is not None else time.monotonic()
        return SimulationOut(
            id=self.id,
            queue_id=self.queue_id,
            day=self.day,
            status=self.status,
            progress=round(sum(self.done.values()) / len(MODES), 3),
            elapsed_s=round(end - self.started, 2),
            error=self.error,
            callbacks_off=self.results.get("off"),
            callbacks_on=self.results.get("on"),
        )


class SimulationRuns:
    """The runs of one context: started, polled, stopped on shutdown."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, org_id: str, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None or run.org_id != org_id:
            raise NotFound("no such simulation")
        return run

    def start(
        self, org_id: str, queue_id: str, day: date, first: datetime, networks: dict[str, Network]
    ) -> Run:
        if any(r.org_id == org_id and r.status == "running" for r in self._runs.values()):
            raise Conflict("a simulation is already running: wait for it to finish")
        run = Run(uuid.uuid4().hex, org_id, queue_id, day, first)
        self._forget_old(org_id)
        self._runs[run.id] = run
        task = asyncio.create_task(self._run(run, networks))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def _forget_old(self, org_id: str) -> None:
        mine = [r for r in self._runs.values() if r.org_id == org_id]
        for old in mine[: max(0, len(mine) - KEEP_PER_ORG + 1)]:
            del self._runs[old.id]

    async def _run(self, run: Run, networks: dict[str, Network]) -> None:
        try:
            for mode, network in networks.items():
                result = await asyncio.to_thread(_simulate, run, mode, network)
                run.results[mode] = figures(result, run.first)
            run.status = "done"
        except Cancelled:
            run.status, run.error = "failed", "stopped: the server is shutting down"
        except Exception as exc:  # shown to the supervisor; the run is over either way
            run.status, run.error = "failed", f"the simulation failed: {exc}"
        finally:
            run.finished = time.monotonic()

    async def stop(self) -> None:
        for run in self._runs.values():
            run.cancelled = True
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _simulate(run: Run, mode: str, network: Network) -> NetworkResult:
    def progress(done: int, total: int) -> None:
        if run.cancelled:
            raise Cancelled
        run.done[mode] = done / total if total else 1.0

    return simulate_network(network, progress=progress)


# the runs of this context (one registry per running app)
runs_of = per_context(lambda _ctx: SimulationRuns())


# ---------------------------------------------------------------- building the run
async def start_simulation(
    ctx: Context, org_id: str, queue_id: str, body: SimulationIn
) -> SimulationOut:
    """Simulate `body.day` of the queue from the planning page's forecast and roster."""
    plan = await week_plan(
        ctx,
        org_id,
        queue_id,
        week=body.day,
        shrinkage=body.shrinkage,
        patience_s=body.patience_s,
    )
    first, networks = build_networks(plan, body)
    return runs_of(ctx).start(org_id, queue_id, body.day, first, networks).out()


def build_networks(plan: WeekPlan, body: SimulationIn) -> tuple[datetime, dict[str, Network]]:
    """The day's two networks (callbacks off and on, the same arrivals); Invalid when the
    day has nothing to simulate or more than a request may start."""
    needs = local_day_intervals(plan, body.day)
    bounds = day_bounds(needs)
    if bounds is None:
        raise Invalid("no contacts forecast and no agents planned that day", field="day")
    needs = needs[bounds[0] : bounds[1]]
    total = sum(n.forecast for n in needs)
    if total <= 0:
        raise Invalid("no contacts are forecast that day", field="day")
    if total > MAX_CONTACTS:
        raise Invalid(f"at most {MAX_CONTACTS} contacts per simulation", field="day")
    if not any(staffing.available(n.planned, body.shrinkage) for n in needs):
        raise Invalid("no agents planned that day (after shrinkage)", field="day")
    interval_s = staffing.INTERVAL_MINUTES * 60.0
    rates = [n.forecast / interval_s for n in needs]
    handle_s = sum(n.forecast * n.handle_s for n in needs) / total
    policy = replace(_policy(plan), enabled=True, offer_after_s=body.offer_after_s)
    steps = staffing.staffing_steps([n.planned for n in needs], body.shrinkage)
    networks = {}
    for mode in MODES:
        queue = QueueDemand(
            id=plan.queue.id,
            mean_handle_s=handle_s,
            mean_patience_s=body.patience_s,
            answer_within_s=float(plan.queue.sl_threshold_s),
            callbacks=replace(policy, enabled=mode == "on"),
            accept_share=body.accept_share,
            answer_p=body.answer_p,
        )
        networks[mode] = Network(
            queues=[queue],
            groups=[AgentGroup("agents", steps)],
            arrival_rate_per_s=_Piecewise(rates, interval_s),
            peak_arrival_rate_per_s=max(rates),
            horizon_s=len(needs) * interval_s,
            interval_s=interval_s,
            seed=body.seed,
        )
    return needs[0].start, networks


class _Piecewise:
    """An arrival rate constant over each interval (the forecast's)."""

    def __init__(self, rates: Sequence[float], interval_s: float) -> None:
        self.rates, self.interval_s = list(rates), interval_s

    def __call__(self, t: float) -> float:
        index = min(max(int(t // self.interval_s), 0), len(self.rates) - 1)
        return self.rates[index]


def _policy(plan: WeekPlan) -> CallbackPolicy:
    """The queue's own callback policy (its retries, ring time), or the defaults."""
    try:
        return parse_policy(plan.queue.callback_policy or {})
    except InvalidPolicy:
        return CallbackPolicy()


def _pct(value: float) -> float | None:
    return None if not math.isfinite(value) else round(100.0 * value, 1)


def figures(result: NetworkResult, first: datetime) -> SimulationFigures:
    total, cb = result.total, result.callbacks
    return SimulationFigures(
        contacts=total.arrivals,
        answered=total.answered,
        answered_in_time_pct=_pct(total.service_level) if total.arrivals else None,
        average_wait_s=round(total.asa_s, 1) if math.isfinite(total.asa_s) else None,
        hung_up=total.abandoned,
        hung_up_pct=_pct(total.p_abandon) if total.arrivals else None,
        agents_busy_pct=_pct(result.occupancy),
        callbacks_offered=cb.offered,
        callbacks_accepted=cb.accepted,
        callbacks_reached=cb.answered,
        callbacks_failed=cb.failed,
        still_waiting=total.still_waiting,
        by_interval=[
            SimulationInterval(
                start=(first + timedelta(seconds=i.start_s)).isoformat(),
                agents=round(i.agents, 2),
                contacts=i.arrivals,
                answered_in_time_pct=_pct(i.service_level) if i.arrivals else None,
                hung_up_pct=_pct(i.p_abandon) if i.arrivals else None,
            )
            for i in result.intervals
        ],
    )
