"""Outbound webhooks: an admin's subscription of a URL to event types, the deliveries made
for it (one per event, kept with every attempt), see webhooks/delivery.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow
from threadline.encryption import EncryptedText


class WebhookSubscription(OrgOwned, Base):
    """A URL that receives an organisation's events of some types ("*": all), signed with
    `secret` (whsec_..., shown once on create and on rotation, never logged)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(EncryptedText)  # encrypted at rest
    active: Mapped[bool] = mapped_column(default=True)
    # why the server disabled it (410 Gone, too many failures); None when an admin did
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # deliveries that failed for good in a row (a delivered one resets it)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # since when it is on (created, or enabled again): events that happened before, while it
    # did not exist or was off, make no delivery, however late the consumer reads them
    active_since: Mapped[datetime] = mapped_column(default=utcnow)

    def wants(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookDelivery(OrgOwned, Base):
    """One event for one subscription: pending -> sending -> delivered, or back to pending
    (a retry is due at `next_attempt_at`), or failed. `event_id` is the `webhook-id` header
    and the payload's `id`: the same on every attempt, so the receiver can deduplicate."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_deliveries_subscription_created", "subscription_id", "created_at"),
        Index("ix_webhook_deliveries_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=1)  # a redelivery allows one more
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(OrgOwned, Base):
    """One HTTP request of a delivery: when, how long, and what came back."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_number", "delivery_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    at: Mapped[datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    response_body: Mapped[str | None] = mapped_column(String(2000), default=None)
