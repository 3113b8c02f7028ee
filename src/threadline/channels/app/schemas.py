"""API shapes of the app channel. The customer's view of their wait is the journey's
(journey/schemas.py); windows, keep-my-place and reschedule bodies are the callbacks'."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from threadline.boundary import JsonInt
from threadline.journey.schemas import CustomerWaitOut

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Answer = Annotated[str, StringConstraints(max_length=500)] | int | float | bool
PHONE = Field(default=None, min_length=3, max_length=32, description="the number to call")


# ---------------------------------------------------------------- session
class AssuranceIn(BaseModel):
    level: str = Field(max_length=16, description="identified | verified | strong")
    method: str | None = Field(default=None, max_length=40, description="e.g. passkey, otp")
    at: str | None = Field(
        default=None, max_length=40, description="when it was reached, ISO 8601 with offset"
    )


class AssuranceOut(BaseModel):
    level: str
    method: str | None = None
    at: datetime | None = None


class AppIdentityIn(BaseModel):
    """Who the customer is, as the company's backend vouches (see docs/app.md)."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    assurance: AssuranceIn | None = None
    hash: str | None = Field(
        default=None,
        max_length=128,
        description="hex HMAC-SHA256 of the canonical identity, covering every field sent",
    )


class AppSessionIn(BaseModel):
    session_token: str | None = Field(default=None, max_length=2000)
    locale: str | None = Field(default=None, max_length=35)
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA, e.g. Europe/Lisbon"
    )
    identity: AppIdentityIn | None = None


class OptionOut(BaseModel):
    value: str
    label: str


class QuestionOut(BaseModel):
    id: str
    label: str
    options: list[OptionOut] | None = None


class ReasonOut(BaseModel):
    code: str
    label: str
    questions: list[QuestionOut]


class AppSessionOut(BaseModel):
    session_token: str = Field(description="signed; send as 'Authorization: Bearer <token>'")
    customer_id: str
    customer_name: str | None
    language: str
    assurance: AssuranceOut | None
    reasons: list[ReasonOut] = Field(description="what the customer may pick, in their language")
    wait: CustomerWaitOut | None = Field(description="their open contact or callback, if any")
    phone: str | None = None


# ---------------------------------------------------------------- contacts and callbacks
class RouteIn(BaseModel):
    """What the customer entered; it travels with them to the agent."""

    reason: Code | None = None
    answers: dict[Code, Answer] = Field(default_factory=dict, max_length=20)
    account: str | None = Field(default=None, max_length=64)
    queue: str | None = Field(default=None, max_length=100, description="a queue's name")
    tier: JsonInt | None = Field(default=None, ge=0, le=5, description="the agents' minimum tier")


class StartContactIn(RouteIn):
    reason: Code


class AppBookIn(RouteIn):
    window_start: AwareDatetime
    phone: str | None = PHONE
    contact_id: str | None = Field(
        default=None, max_length=36, description="the waiting contact this booking replaces"
    )


class CallNowIn(RouteIn):
    contact_id: str | None = Field(
        default=None, max_length=36, description="the waiting contact the call replaces"
    )


class CallNowOut(BaseModel):
    number: str = Field(description="the number to call, E.164")
    code: str = Field(description="the one-time code the IVR asks for")
    expires_at: datetime
    expires_in_s: int
