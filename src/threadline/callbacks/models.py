"""Callbacks: a promise to call the customer back, stored with its attempts and outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from threadline.db import Base, OrgOwned, new_id, utcnow
from threadline.routing.models import Contact

KEEP_PLACE = "keep_place"
BOOKED = "booked"

# scheduled: booked, its window not come yet
# waiting:   a virtual contact holds the customer's place in the queue
# dialing:   an agent is reserved and the call is going out
# connected: the customer answered
# retry_wait: not answered; the next attempt is a timer
# completed | failed (attempts used up) | cancelled
OPEN = ("scheduled", "waiting", "dialing", "connected", "retry_wait")
ENDED = ("completed", "failed", "cancelled")


class Callback(OrgOwned, Base):
    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_org_status", "org_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"), index=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("queues.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # keep_place | booked
    status: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(32))  # E.164
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    # the contact that holds the place (keep_place) or is opened when the window comes
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    # set through this when the contact is new in the same flush: the unit of work then
    # inserts the contact first (never loaded through it: lazy="raise")
    contact: Mapped[Contact | None] = relationship(lazy="raise")
    # the place in line a keep-my-place callback keeps (the original contact's)
    place_at: Mapped[datetime | None] = mapped_column(default=None)
    window_start: Mapped[datetime | None] = mapped_column(default=None, index=True)
    window_end: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    call_sid: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
