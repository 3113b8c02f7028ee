"""API shapes of outbound webhooks. The secret is shown once: in the answer to create and
to rotate-secret, never in any other answer.

What a receiver gets (the body of every delivery, JSON):
`{"id": <event id, also the webhook-id header>, "type": "contact.resolved",
"timestamp": <when it happened, ISO 8601 UTC>, "org_id": ..., "data": {<the event's fields>}}`
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from threadline.events.domain import durable_types

DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]
ALL = "*"


def _known_types(types: list[str]) -> list[str]:
    known = set(durable_types())
    unknown = [t for t in types if t != ALL and t not in known]
    if unknown:
        raise ValueError(
            f"unknown event type(s) {unknown}; use '*' or any of: {', '.join(sorted(known))}"
        )
    return [ALL] if ALL in types else sorted(set(types))


EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=100, description="event types to send, or ['*'] for all"),
    AfterValidator(_known_types),
]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="https URL on a public address (plain http to localhost only where the "
        "server allows it)",
        examples=["https://crm.example.com/threadline/events"],
    ),
]


class SubscriptionIn(BaseModel):
    url: Url
    event_types: EventTypes
    description: str = Field(default="", max_length=500)
    active: bool = Field(default=True, strict=True)


class SubscriptionPatch(BaseModel):
    """Fields left out stay as they are; enabling a subscription the server disabled
    clears its failure count."""

    url: Url | None = None
    event_types: EventTypes | None = None
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = Field(default=None, strict=True)


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    description: str
    event_types: list[str]
    active: bool
    disabled_reason: str | None = Field(
        description="why the server disabled it: the receiver answered 410 Gone, or this "
        "many deliveries in a row failed after every retry (webhooks_disable_after_failures)"
    )
    consecutive_failures: int = Field(description="deliveries failed for good, in a row")
    created_at: datetime
    updated_at: datetime


class SecretOut(BaseModel):
    secret: str = Field(
        description="whsec_<base64>: the HMAC key of the Standard Webhooks signature; shown "
        "only now, keep it"
    )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="whsec_<base64>; shown only now, keep it")


class EventTypesOut(BaseModel):
    event_types: list[str]


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    at: datetime
    duration_ms: int
    status_code: int | None = Field(description="the receiver's HTTP status; null: no answer")
    error: str | None
    response_body: str | None = Field(description="the start of the receiver's answer")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="when the next attempt is due")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]
    attempt_log: list[AttemptOut]
