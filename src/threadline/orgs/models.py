"""Organisations (tenants) and the audit log of admin actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Retention policy: resolved conversations' content is removed after this many days of
    # quiet (privacy/retention.py); None keeps it.
    retention_days: Mapped[int | None] = mapped_column(default=None)
    # Where national-format phone numbers are read from (ISO 3166 region, "PT"); None: only
    # international (+351...) numbers are understood.
    phone_region: Mapped[str | None] = mapped_column(String(2), default=None)
    # The languages the organisation serves customers in (ISO 639-1), the first the default.
    languages: Mapped[list[str]] = mapped_column(
        default=lambda: ["en"], server_default=text("'[\"en\"]'")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(OrgOwned, Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    actor_agent_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
