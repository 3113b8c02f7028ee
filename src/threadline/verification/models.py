"""Continuation codes (stored hashed, single use) and the failed attempts to redeem one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class ContinuationCode(OrgOwned, Base):
    """A one-time code handed to a customer (the app's "call now") so that the call they
    make is matched to their session: who they are, how sure we are, what they entered."""

    __tablename__ = "continuation_codes"
    __table_args__ = (
        Index("ix_continuation_codes_org_hash", "org_id", "code_hash"),
        Index("ix_continuation_codes_org_customer", "org_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # HMAC-SHA256(server secret, org id + code): a leaked table does not give the codes away
    code_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    # the app contact that was waiting when the code was issued (its place in line)
    contact_id: Mapped[str | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id"), default=None)
    min_tier: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str | None] = mapped_column(String(100), default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    assurance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    # the caller who redeemed it (E.164), or "superseded" when a newer code replaced it
    used_by: Mapped[str | None] = mapped_column(String(40), default=None)


class ContinuationFailure(OrgOwned, Base):
    """One wrong, expired or used code entered by a caller: counted to lock out guessing."""

    __tablename__ = "continuation_failures"
    __table_args__ = (
        Index("ix_continuation_failures_org_caller", "org_id", "caller", "failed_at"),
        Index("ix_continuation_failures_org_at", "org_id", "failed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    caller: Mapped[str] = mapped_column(String(40))
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
