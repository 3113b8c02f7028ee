"""Channel endpoints (one configured entry point: a chat widget, a number, a mailbox) and the
outbox of messages to send through providers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow
from threadline.encryption import EncryptedText


class Endpoint(OrgOwned, Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))  # public id: widget key, E.164 number, address
    name: Mapped[str] = mapped_column(String(200))
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id"), default=None)
    # Provider/HMAC secret, encrypted at rest; never shown back by the API nor logged.
    secret: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(OrgOwned, Base):
    """One outbound message on a provider channel, written in the same transaction as its
    timeline event (unique per event: never sent twice). Status:
    queued -> sending -> sent -> delivered -> read, or failed; `unknown` when a send was
    interrupted and its outcome cannot be known (see channels/outbox.py)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_outbox_endpoint_provider_msg", "endpoint_id", "provider_msg_id"),
        Index("ix_outbox_org_status", "org_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("thread_events.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))  # the customer: a phone number, ...
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None] = mapped_column(default=None)
    provider_msg_id: Mapped[str | None] = mapped_column(String(128), default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
