"""API shapes of the reports (GET /api/v1/reports)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KpiRow(BaseModel):
    """One group's KPIs (null where the figure has no denominator in the period); see
    docs/kpis.md for each formula."""

    key: str = Field(description="the queue, agent, channel or reason id, or the interval start")
    label: str = Field(description="the queue's or agent's name, else the key")
    offered: float | None = None
    answered: float | None = None
    abandoned: float | None = Field(None, description="short abandons excluded")
    short_abandoned: float | None = None
    abandon_rate: float | None = None
    service_level: float | None = None
    asa_s: float | None = None
    handled: float | None = None
    aht_s: float | None = None
    occupancy: float | None = None
    transfers: float | None = None
    transfer_rate: float | None = None
    resolved: float | None = None
    fcr: float | None = None
    callbacks_requested: float | None = None
    callbacks_answered: float | None = None
    callbacks_kept: float | None = None
    callbacks_failed: float | None = None
    callbacks_kept_rate: float | None = None
    deflection: float | None = None
    csat: float | None = None
    csat_answers: float | None = None
    ces: float | None = None
    ces_easy: float | None = None
    ces_answers: float | None = None


class ReportOut(BaseModel):
    start: str = Field(description="the period's start, in the caller's time zone")
    end: str = Field(description="the period's end (excluded)")
    tz: str
    group_by: str
    interval: str | None = None
    sl_threshold_s: int | None = Field(None, description="null: each queue's own target")
    sl_variant: str
    short_abandon_s: int
    rows: list[KpiRow]
    total: KpiRow


class DashboardQueue(BaseModel):
    """One queue on the live dashboard: now, the last 30 minutes and today."""

    queue_id: str
    name: str
    sl_target_pct: int = Field(description="the service-level target: this % answered ...")
    sl_threshold_s: int = Field(description="... within this many seconds")
    waiting: int = Field(description="contacts queued now")
    offered_now: int = Field(description="contacts being offered to an agent now")
    in_service: int = Field(description="contacts an agent has now")
    longest_wait_s: float = Field(description="the longest wait of those queued or offered")
    recent: KpiRow = Field(description="the last 30 minutes (whole 15-minute buckets)")
    today: KpiRow = Field(description="since midnight in the caller's time zone")


class DashboardAgent(BaseModel):
    id: str
    name: str
    role: str
    presence: str
    presence_since: str = Field(description="when the agent entered this presence")
    in_service: int = Field(description="contacts the agent has now")
    in_wrapup: int = Field(default=0, description="resolved contacts still in wrap-up")
    wrapup_since: str | None = Field(
        default=None, description="when the agent's oldest open wrap-up began"
    )


class DashboardReason(BaseModel):
    reason: str
    contacts: float = Field(description="today's contacts with this reason")
    figures: KpiRow


class DashboardOut(BaseModel):
    """The live supervisor dashboard (see analytics/dashboard.py)."""

    generated_at: str = Field(description="the moment of the figures, in the caller's zone")
    tz: str
    today_start: str
    recent_start: str
    queues: list[DashboardQueue]
    recent: KpiRow = Field(description="all queues, the last 30 minutes")
    today: KpiRow = Field(description="all queues, today")
    intervals: list[KpiRow] = Field(description="today per 30 minutes (key: interval start)")
    reasons: list[DashboardReason] = Field(description="today's most frequent contact reasons")
    agents: list[DashboardAgent]
