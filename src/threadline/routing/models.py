"""Queues, contacts and offers: the stored side of routing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Queue(OrgOwned, Base):
    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(100))
    required_skills: Mapped[list[str]] = mapped_column(default=list)
    priority: Mapped[int] = mapped_column(default=0)
    sl_target_pct: Mapped[int] = mapped_column(default=80)  # service level: X% ...
    sl_threshold_s: Mapped[int] = mapped_column(default=20)  # ... answered within Y s
    offer_timeout_s: Mapped[int | None] = mapped_column(default=None)
    overflow_after_s: Mapped[int | None] = mapped_column(default=None)
    # after-contact work: how long an agent's slot stays busy in wrap-up after they resolve
    # a contact of this queue (until they press Done or this runs out); 0: no wrap-up
    wrapup_s: Mapped[int] = mapped_column(default=0, server_default="0")
    overflow_skills: Mapped[list[str] | None] = mapped_column(default=None)
    # overflow to a named queue: once overflow_after_s has passed, the contact requires that
    # queue's skills instead of this one's (it stays this queue's contact in reports)
    overflow_queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id"), default=None)
    # {"timezone": "Europe/Lisbon", "days": {"mon": [["09:00","18:00"]], ...}}; empty = 24/7
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # routing/callback_policy.py: when to offer, retries, booked windows and the staffing plan
    callback_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(OrgOwned, Base):
    """One episode of demand that needs an agent."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_org_status", "org_id", "status"),
        # start-up (routing/services.py): every organisation's waiting and held contacts
        Index("ix_contacts_status_agent", "status", "agent_id"),
        # start-up (routing/waits.py): each queue's last ended contacts, newest first
        Index("ix_contacts_queue_ended", "queue_id", "ended_at"),
        # analytics (first-contact resolution): a customer's contact before another
        Index("ix_contacts_customer_enqueued", "customer_id", "enqueued_at"),
        # reasons (trends, spikes): a reason's contacts of a period
        Index("ix_contacts_org_reason_enqueued", "org_id", "reason_code", "enqueued_at"),
        # routing: what one agent holds (read at each presence change)
        Index("ix_contacts_agent", "agent_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    # queued|offered|assigned|resolved|abandoned
    status: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(default=0)
    required_skills: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    min_tier: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(100), default=None)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    excluded_agents: Mapped[list[str]] = mapped_column(default=list)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    wrapup_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    # the agent's wrap-up after resolving (routing/wrapup.py): open while started and not
    # ended, the agent's slot on the channel stays busy meanwhile
    wrapup_started_at: Mapped[datetime | None] = mapped_column(default=None)
    wrapup_ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # the taxonomy's reason once the contact ended (reasons/services.py): its code, where it
    # came from (ivr|app|bot|wrapup|classified) and the classifier's confidence
    reason_code: Mapped[str | None] = mapped_column(String(64), default=None)
    reason_source: Mapped[str | None] = mapped_column(String(12), default=None)
    reason_confidence: Mapped[float | None] = mapped_column(default=None)


class Offer(OrgOwned, Base):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_agent_status", "agent_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    contact_id: Mapped[str] = mapped_column(ForeignKey("contacts.id"), index=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    # pending|accepted|rejected|timed_out|cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sticky: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None] = mapped_column(default=None)
