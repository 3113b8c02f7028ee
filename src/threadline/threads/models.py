"""Threads and their immutable event timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Thread(OrgOwned, Base):
    __tablename__ = "threads"
    __table_args__ = (
        Index("ix_threads_org_status", "org_id", "status"),
        # the inbox's views, newest activity first (inbox/services.py)
        Index("ix_threads_org_updated", "org_id", "updated_at"),
        Index("ix_threads_org_agent_updated", "org_id", "assigned_agent_id", "updated_at"),
        Index("ix_threads_org_queue_updated", "org_id", "queue_id", "updated_at"),
        # the open threads only, newest first: the queues view walks these, not every
        # resolved thread the organisation ever had (a query names the status as a literal,
        # `OPEN_THREAD`, for the database to see that the index covers it)
        Index(
            "ix_threads_open_updated",
            "org_id",
            "updated_at",
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        # a customer's newest thread, read by every inbound message (one seek, no sort)
        Index("ix_threads_customer_created", "customer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # bot|queued|assigned|waiting_customer|callback_scheduled|resolved
    status: Mapped[str] = mapped_column(String(24), default="queued")
    subject: Mapped[str | None] = mapped_column(String(300), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    assigned_agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    last_seq: Mapped[int] = mapped_column(default=0)
    # Read/delivery pointers: "has seen everything up to seq N".
    customer_delivered_seq: Mapped[int] = mapped_column(default=0)
    customer_read_seq: Mapped[int] = mapped_column(default=0)
    agent_read_seq: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the inbox's filters: the queue of its latest contact, the channel it last came in on
    queue_id: Mapped[str | None] = mapped_column(String(36), default=None)
    channel: Mapped[str | None] = mapped_column(String(16), default=None)
    # snoozed by its agent until then (a timer or the customer's next message wakes it)
    snoozed_until: Mapped[datetime | None] = mapped_column(default=None)
    # when its content was removed (erasure, retention policy: threads/erasure.py)
    content_purged_at: Mapped[datetime | None] = mapped_column(default=None)


# a thread that is not resolved, with the status written into the SQL (not a bound value):
# the partial index ix_threads_open_updated serves a query only when the database sees
# that its condition holds, and neither SQLite nor a prepared PostgreSQL plan looks into a
# bound value for that
OPEN_THREAD = Thread.status != literal_column("'resolved'")


class ThreadEvent(OrgOwned, Base):
    """One immutable entry of a thread's timeline; `seq` orders it within the thread."""

    __tablename__ = "thread_events"
    __table_args__ = (
        UniqueConstraint("thread_id", "seq"),
        UniqueConstraint("thread_id", "client_msg_id"),
        UniqueConstraint("org_id", "channel", "provider_msg_id"),
        # analytics: the entries of the contacts that ended (analytics/aggregates.py)
        Index("ix_thread_events_contact", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    seq: Mapped[int]
    # message|note|queued|assigned|transferred|resolved|identified|status|...; a customer's
    # `reaction` to or `edit` of an earlier message names it in data.relates_to ({event_id,
    # seq, provider_msg_id}): the message stays as it was said, readers show the latest
    kind: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str | None] = mapped_column(String(16), default=None)
    author_type: Mapped[str] = mapped_column(String(12))  # customer|agent|bot|system
    author_id: Mapped[str | None] = mapped_column(String(36), default=None)
    author_name: Mapped[str | None] = mapped_column(String(200), default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_msg_id: Mapped[str | None] = mapped_column(String(64), default=None)
    provider_msg_id: Mapped[str | None] = mapped_column(String(128), default=None)
    contact_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
