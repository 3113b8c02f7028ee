"""Incidents, the threads tagged to them, and the customers to tell about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Incident(OrgOwned, Base):
    """Something broken that customers will ask about: what (title, products, regions), what
    every channel says meanwhile (`messages`, per language), and when it is over
    (`resolution_messages`, per language)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_org_status", "org_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    title: Mapped[str] = mapped_column(String(200))
    products: Mapped[list[str]] = mapped_column(default=list)
    regions: Mapped[list[str]] = mapped_column(default=list)
    # what customers write when they ask about it, and the intents that mean it
    keywords: Mapped[list[str]] = mapped_column(default=list)
    intents: Mapped[list[str]] = mapped_column(default=list)
    messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resolution_messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | resolved
    starts_at: Mapped[datetime] = mapped_column(default=utcnow)
    expected_end_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    declared_by: Mapped[str | None] = mapped_column(String(36), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentThread(OrgOwned, Base):
    """A thread about an incident (a customer's message matched it, or the bot or an agent
    said so): reports count contacts per incident from these."""

    __tablename__ = "incident_threads"
    __table_args__ = (UniqueConstraint("incident_id", "thread_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(12))  # message | intent | bot | agent
    tagged_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentNotice(OrgOwned, Base):
    """One customer to tell about an incident, once per phase: they asked to be told when it
    is fixed (`follow`), or the company marked them affected (`affected`: told of the outage
    too, before they ask). One row per customer and incident, so nobody is told twice."""

    __tablename__ = "incident_notices"
    __table_args__ = (
        UniqueConstraint("incident_id", "customer_id"),
        Index("ix_incident_notices_incident_status", "incident_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    reason: Mapped[str] = mapped_column(String(12))  # follow | affected
    # where they asked (a follower); None: the channel they last wrote on
    channel: Mapped[str | None] = mapped_column(String(16), default=None)
    thread_id: Mapped[str | None] = mapped_column(String(36), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    # waiting (for the next phase) | told (told of the end) | skipped (could not be told)
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    # an affected customer, told of the outage while it lasts: None (not yet) | told | skipped
    outage_status: Mapped[str | None] = mapped_column(String(12), default=None)
    told_at: Mapped[datetime | None] = mapped_column(default=None)
    told_on: Mapped[str | None] = mapped_column(String(16), default=None)
    skip_reason: Mapped[str | None] = mapped_column(String(300), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
