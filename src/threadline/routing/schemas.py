"""API shapes for queues, contacts and offers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from threadline.boundary import JsonInt
from threadline.routing import hours
from threadline.routing.callback_policy import InvalidPolicy, parse_policy


class QueueIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    required_skills: list[str] = Field(default_factory=list)
    priority: JsonInt = Field(default=0, ge=0, le=10)
    sl_target_pct: JsonInt = Field(default=80, ge=1, le=100)
    sl_threshold_s: JsonInt = Field(default=20, ge=1, le=86_400)
    offer_timeout_s: JsonInt | None = Field(default=None, ge=5, le=600)
    overflow_after_s: JsonInt | None = Field(default=None, ge=1, le=86_400)
    wrapup_s: JsonInt = Field(
        default=0,
        ge=0,
        le=3_600,
        description="after-contact work: seconds an agent's slot stays busy in wrap-up after "
        "resolving a contact of this queue (until they press Done); 0 means no wrap-up",
    )
    overflow_skills: list[str] | None = None
    overflow_queue_id: str | None = Field(
        default=None,
        max_length=36,
        description="overflow to a named queue: after overflow_after_s the contact requires "
        "that queue's skills (its agents are offered it) instead of overflow_skills; the "
        "contact stays this queue's in reports",
    )
    business_hours: dict[str, Any] = Field(
        default_factory=dict,
        description='{"timezone": "Europe/Lisbon", "days": {"mon": [["09:00", "13:00"], '
        '["14:00", "18:00"]]}, "closed_dates": ["2026-12-24"], "holidays": [{"date": '
        '"2026-12-25", "label": "Christmas", "yearly": true}]}; empty means always open',
    )

    callback_policy: dict[str, Any] = Field(
        default_factory=dict,
        description='{"enabled": true, "offer_after_s": 300, "keep_place": true, '
        '"booking": true, "max_attempts": 3, "retry_after_s": [120, 600], '
        '"window_minutes": 30, "book_days": 7, "timezone": "Europe/Lisbon", '
        '"plan": {"mon": [["09:00", "13:00", 6]]}}; empty means no callbacks',
    )

    @field_validator("callback_policy")
    @classmethod
    def _valid_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            parse_policy(value)
        except InvalidPolicy as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("business_hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return hours.validate(value)
        except hours.InvalidHours as exc:
            raise ValueError(str(exc)) from exc


class QueueOut(QueueIn):
    model_config = ConfigDict(from_attributes=True)

    id: str


class QueueStats(BaseModel):
    queue_id: str
    name: str
    waiting: int
    offered: int
    in_service: int
    longest_wait_s: float
    sl_target_pct: int
    sl_threshold_s: int


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    thread_id: str
    customer_id: str
    queue_id: str
    channel: str
    status: str
    priority: int
    required_skills: list[str]
    language: str | None
    reason: str | None
    context: dict[str, Any]
    enqueued_at: datetime
    agent_id: str | None
    accepted_at: datetime | None
    ended_at: datetime | None
    wrapup_reason: str | None
    wrapup_started_at: datetime | None = None
    wrapup_ended_at: datetime | None = None


class WrapupOut(BaseModel):
    """One of the calling agent's open wrap-ups: after-contact work that holds their slot
    until they press Done or `limit_s` runs out (at `ends_at`)."""

    contact_id: str
    thread_id: str
    queue_id: str
    channel: str
    started_at: datetime
    limit_s: JsonInt
    ends_at: datetime


class OfferCustomer(BaseModel):
    id: str
    name: str | None
    language: str | None


class OfferDetail(BaseModel):
    """An offer as the agent's desktop shows it (also pushed as `offer.created`)."""

    id: str
    created_at: datetime
    expires_at: datetime
    sticky: bool
    contact_id: str
    thread_id: str
    channel: str
    queue: str | None
    reason: str | None
    priority: int
    enqueued_at: datetime
    preview: str | None
    customer: OfferCustomer | None


class ResolveIn(BaseModel):
    reason: str = Field(
        min_length=1, max_length=100, description="wrap-up reason, e.g. card_arrival"
    )
    note: str | None = Field(default=None, max_length=10_000)


class TransferIn(BaseModel):
    queue_id: str | None = None
    agent_id: str | None = None
    note: str | None = Field(default=None, max_length=10_000)
