"""API shapes of the planning page: the week's plan, the roster, simulations."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from threadline.planning.staffing import MAX_SHRINKAGE, SLOTS_PER_DAY

MAX_PLANNED = 1000  # agents in one half hour of one queue
MAX_CELLS = 7 * SLOTS_PER_DAY


class PlanInterval(BaseModel):
    start: str  # ISO 8601 with the queue's offset; the page shows it in the viewer's zone
    day: date = Field(description="the queue's local day the interval belongs to")
    forecast: float
    actual: int | None  # None: the interval has not ended yet
    handle_s: float
    on_phones: int = Field(description="agents taking contacts the service level needs")
    required: int = Field(description="agents to plan, shrinkage included")
    planned: int
    gap: int = Field(description="planned - required: below 0 understaffed")


class ForecastModel(BaseModel):
    model: str | None
    wape: float | None = Field(description="the chosen model's backtest error (WAPE)")
    baseline_wape: float | None = Field(description="the 4-week mean's backtest error")
    backtest: dict[str, float]
    origin: str
    notes: list[str]


class WeekPlanOut(BaseModel):
    queue_id: str
    queue: str
    timezone: str
    week: date
    sl_target_pct: int
    sl_threshold_s: int
    shrinkage: float
    patience_s: float
    handle_source: Literal["forecast", "history", "default"]
    forecast: ForecastModel
    intervals: list[PlanInterval]


class RosterCell(BaseModel):
    weekday: int = Field(ge=0, le=6, description="0 Monday .. 6 Sunday")
    minute: int = Field(ge=0, lt=24 * 60, description="start of the half hour, local time")
    agents: int = Field(ge=0, le=MAX_PLANNED)


class RosterIn(BaseModel):
    cells: list[RosterCell] = Field(max_length=MAX_CELLS)


class RosterOut(BaseModel):
    queue_id: str
    timezone: str
    cells: list[RosterCell]


class SimulationIn(BaseModel):
    day: date = Field(description="the local day to simulate (its forecast and roster)")
    shrinkage: float = Field(0.3, ge=0.0, le=MAX_SHRINKAGE)
    patience_s: float = Field(300.0, gt=0, le=3600)
    accept_share: float = Field(0.5, ge=0.0, le=1.0)
    answer_p: float = Field(0.8, ge=0.0, le=1.0)
    offer_after_s: float = Field(60.0, ge=0, le=3600)
    seed: int = Field(1, ge=0, le=2**31 - 1)


class SimulationFigures(BaseModel):
    """One run's outcome, in a supervisor's words (docs/planning.md)."""

    contacts: int
    answered: int
    answered_in_time_pct: float | None
    average_wait_s: float | None
    hung_up: int
    hung_up_pct: float | None
    agents_busy_pct: float | None
    callbacks_offered: int
    callbacks_accepted: int
    callbacks_reached: int
    callbacks_failed: int
    still_waiting: int
    by_interval: list[SimulationInterval]


class SimulationInterval(BaseModel):
    start: str
    agents: float
    contacts: int
    answered_in_time_pct: float | None
    hung_up_pct: float | None


class SimulationOut(BaseModel):
    id: str
    queue_id: str
    day: date
    status: Literal["running", "done", "failed"]
    progress: float = Field(description="0 to 1")
    elapsed_s: float
    error: str | None = None
    callbacks_off: SimulationFigures | None = None
    callbacks_on: SimulationFigures | None = None


SimulationFigures.model_rebuild()
