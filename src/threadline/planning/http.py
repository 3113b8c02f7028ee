"""/api/v1/planning: a queue's week (forecast against actual, required against planned
agents), its roster, and simulations of a day. Supervisors and admins, their own
organisation only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from threadline.auth.dependencies import Ctx, Supervisor
from threadline.db import utcnow
from threadline.errors import PROBLEM_RESPONSES
from threadline.planning import services, staffing
from threadline.planning.schemas import (
    ForecastModel,
    PlanInterval,
    RosterIn,
    RosterOut,
    SimulationIn,
    SimulationOut,
    WeekPlanOut,
)
from threadline.planning.simulations import runs_of, start_simulation

router = APIRouter(prefix="/api/v1/planning", tags=["planning"], responses=PROBLEM_RESPONSES)


@router.get("/queues/{queue_id}/week", response_model=WeekPlanOut)
async def week(
    queue_id: str,
    principal: Supervisor,
    ctx: Ctx,
    week: Annotated[
        date | None, Query(description="any day of the week; default: this week")
    ] = None,
    shrinkage: Annotated[
        float,
        Query(ge=0.0, le=staffing.MAX_SHRINKAGE, description="share of paid time off the phones"),
    ] = staffing.DEFAULT_SHRINKAGE,
    patience_s: Annotated[
        float, Query(gt=0, le=3600, description="mean patience of a waiting customer (Erlang A)")
    ] = 300.0,
) -> WeekPlanOut:
    """Each half hour of the week: contacts forecast and arrived, agents required and planned."""
    plan = await services.week_plan(
        ctx,
        principal.org_id,
        queue_id,
        week=week or utcnow().date(),
        shrinkage=shrinkage,
        patience_s=patience_s,
    )
    return _week_out(plan)


def _week_out(plan: services.WeekPlan) -> WeekPlanOut:
    result = plan.forecast.result
    return WeekPlanOut(
        queue_id=plan.queue.id,
        queue=plan.queue.name,
        timezone=plan.zone,
        week=plan.monday,
        sl_target_pct=plan.queue.sl_target_pct,
        sl_threshold_s=plan.queue.sl_threshold_s,
        shrinkage=plan.shrinkage,
        patience_s=plan.patience_s,
        handle_source=plan.handle_source,  # type: ignore[arg-type]
        forecast=ForecastModel(
            model=None if result is None else result.model,
            wape=None if result is None or result.wape is None else round(result.wape, 4),
            baseline_wape=_rounded(services.baseline_wape(plan.forecast)),
            backtest={} if result is None else {k: round(v, 4) for k, v in result.backtest.items()},
            origin=plan.forecast.origin.isoformat(),
            notes=[plan.forecast.note] if result is None else list(result.notes),
        ),
        intervals=[
            PlanInterval(
                start=need.start.isoformat(),
                day=need.start.date(),
                forecast=round(need.forecast, 2),
                actual=actual,
                handle_s=round(need.handle_s, 1),
                on_phones=need.on_phones,
                required=need.required,
                planned=need.planned,
                gap=need.gap,
            )
            for need, actual in zip(plan.needs, plan.actual, strict=True)
        ],
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@router.get("/queues/{queue_id}/roster", response_model=RosterOut)
async def read_roster(queue_id: str, principal: Supervisor, ctx: Ctx) -> RosterOut:
    """Agents planned per weekday and half hour (the queue's local time)."""
    zone, cells = await services.roster(ctx, principal.org_id, queue_id)
    return RosterOut(queue_id=queue_id, timezone=zone, cells=cells)


@router.put("/queues/{queue_id}/roster", response_model=RosterOut)
async def set_roster(queue_id: str, body: RosterIn, principal: Supervisor, ctx: Ctx) -> RosterOut:
    """Set the agents planned in the cells given (0 clears a cell); others are kept."""
    zone, cells = await services.do_set_roster(ctx, principal, queue_id, body.cells)
    return RosterOut(queue_id=queue_id, timezone=zone, cells=cells)


@router.post("/queues/{queue_id}/simulations", response_model=SimulationOut, status_code=202)
async def simulate(
    queue_id: str, body: SimulationIn, principal: Supervisor, ctx: Ctx
) -> SimulationOut:
    """Start simulating a day from its forecast and roster, callbacks off and on (one run
    at a time per organisation); poll it for progress and results."""
    return await start_simulation(ctx, principal.org_id, queue_id, body)


@router.get("/simulations/{run_id}", response_model=SimulationOut)
async def simulation(run_id: str, principal: Supervisor, ctx: Ctx) -> SimulationOut:
    """A simulation's progress, and its results once done."""
    return runs_of(ctx).get(principal.org_id, run_id).out()
