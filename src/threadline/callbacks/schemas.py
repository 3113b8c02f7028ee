"""API shapes for callbacks and booked windows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from threadline.boundary import JsonInt


class CallbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    thread_id: str
    customer_id: str
    queue_id: str
    kind: str
    status: str
    phone: str
    language: str | None
    contact_id: str | None
    window_start: datetime | None
    window_end: datetime | None
    attempts: int
    max_attempts: int
    agent_id: str | None
    outcome: str | None
    created_at: datetime
    ended_at: datetime | None


class PublicCallbackOut(BaseModel):
    """What the customer's manage link shows: no ids of agents, the number masked."""

    kind: str
    status: str
    phone: str
    window_start: datetime | None
    window_end: datetime | None
    attempts: int
    max_attempts: int
    position: int | None = None
    low_s: float | None = None
    high_s: float | None = None


class KeepPlaceIn(BaseModel):
    phone: str | None = Field(default=None, min_length=3, max_length=32)
    language: str | None = Field(default=None, max_length=8)


class BookIn(BaseModel):
    customer_id: str = Field(max_length=36)
    queue_id: str = Field(max_length=36)
    window_start: AwareDatetime
    phone: str | None = Field(default=None, min_length=3, max_length=32)
    reason: str | None = Field(default=None, max_length=100)
    context: dict[str, Any] = Field(default_factory=dict)
    language: str | None = Field(default=None, max_length=8)
    min_tier: JsonInt = Field(default=0, ge=0, le=10, description="agents of this tier or above")


class RescheduleIn(BaseModel):
    window_start: AwareDatetime


class WindowOut(BaseModel):
    start: datetime
    end: datetime
    room: int


class WaitOut(BaseModel):
    """A waiting contact's place, its wait as a range, and the callback it may take."""

    contact_id: str
    status: str
    position: int | None = None
    agents: int | None = None
    ewt_s: float | None = None
    low_s: float | None = None
    high_s: float | None = None
    callback_offer: dict[str, Any] | None = None
