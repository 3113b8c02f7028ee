"""The durable event log, and where each consumer has read up to.

`event_log.position` is assigned in commit order (see events/log.py), so a consumer that
has handled everything up to position N never finds a smaller position committed later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, utcnow

# BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY (64-bit anyway)
Position = BigInteger().with_variant(Integer(), "sqlite")


class EventRecord(OrgOwned, Base):
    __tablename__ = "event_log"
    __table_args__ = (Index("ix_event_log_occurred_at", "occurred_at"),)

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36))  # the event's own id (receivers dedupe on it)
    org_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)  # read whole; JSON is cheaper to write


class EventConsumer(Base):
    """One durable consumer's stored position (the last position it has handled)."""

    __tablename__ = "event_consumers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Position, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000), default=None)
