"""The reason taxonomy of an organisation and the spikes raised on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class ReasonCode(OrgOwned, Base):
    """One reason of the taxonomy (two levels: `parent` names a top-level reason), its label
    per language, and the bot intents, IVR/app reasons and wrap-up codes that mean it."""

    __tablename__ = "reason_codes"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    code: Mapped[str] = mapped_column(String(64))
    parent: Mapped[str | None] = mapped_column(String(64), default=None)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    intents: Mapped[list[str]] = mapped_column(default=list)
    ivr: Mapped[list[str]] = mapped_column(default=list)
    wrapup: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReasonAlert(OrgOwned, Base):
    """A reason spiked on a local day (at most once per reason and day)."""

    __tablename__ = "reason_alerts"
    __table_args__ = (UniqueConstraint("org_id", "reason", "day"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    reason: Mapped[str] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))  # the organisation's local date, ISO
    count: Mapped[int]
    expected: Mapped[float]
    limit: Mapped[float]
    at: Mapped[datetime] = mapped_column(default=utcnow)
