"""Surveys (one per contact) and each organisation's survey settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Survey(OrgOwned, Base):
    """The survey of one contact: sent (or skipped, with the reason) once, answered once per
    question. `step` is the question a reply by message answers now (csat, ces, done)."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("contact_id"),
        Index("ix_surveys_customer_sent", "customer_id", "sent_at"),
        Index("ix_surveys_thread_status", "thread_id", "status"),
        Index("ix_surveys_org_answered", "org_id", "answered_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    contact_id: Mapped[str] = mapped_column(String(36))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    customer_id: Mapped[str] = mapped_column(String(36))
    queue_id: Mapped[str | None] = mapped_column(String(36), default=None)
    agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    reason: Mapped[str | None] = mapped_column(String(100), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="en")
    questions: Mapped[list[str]] = mapped_column(default=list)  # csat, ces, in this order
    comment_asked: Mapped[bool] = mapped_column(default=True)
    # sent | answered | skipped (never sent: `skip_reason` says why)
    status: Mapped[str] = mapped_column(String(12), default="sent")
    step: Mapped[str] = mapped_column(String(8), default="csat")
    skip_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    csat: Mapped[int | None] = mapped_column(default=None)
    ces: Mapped[int | None] = mapped_column(default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)


class SurveySettings(OrgOwned, Base):
    """An organisation's survey settings (no row: the defaults, surveys off)."""

    __tablename__ = "survey_settings"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=False)
    channels: Mapped[list[str]] = mapped_column(default=list)
    questions: Mapped[list[str]] = mapped_column(default=list)
    comment: Mapped[bool] = mapped_column(default=True)
    every_days: Mapped[int] = mapped_column(default=7)
    reply_hours: Mapped[int] = mapped_column(default=24)
    link_days: Mapped[int] = mapped_column(default=7)
    whatsapp_template: Mapped[str | None] = mapped_column(String(200), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
