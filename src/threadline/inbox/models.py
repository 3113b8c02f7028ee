"""Labels on threads, canned replies and macros: what an organisation (or one agent)
keeps to work its inbox faster. The search index is not a model: it is built per database
by the migration (inbox/search.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Label(OrgOwned, Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(60))
    colour: Mapped[str] = mapped_column(String(7), default="#6b7280")  # #rrggbb
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadLabel(OrgOwned, Base):
    """A label on a thread; (org, label) finds a label's threads for the filter."""

    __tablename__ = "thread_labels"
    __table_args__ = (Index("ix_thread_labels_org_label", "org_id", "label_id"),)

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    label_id: Mapped[str] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CannedReply(OrgOwned, Base):
    """A reply kept for reuse: the organisation's (owner None) or one agent's own. Its
    body may name {customer.name}, {customer.email}, {customer.phone}, {agent.name}."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_org_owner", "org_id", "owner_agent_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    owner_agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    shortcut: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Macro(OrgOwned, Base):
    """A named sequence an agent runs on a thread in one go: a reply (a canned body, with
    its variables), labels to add, then resolve (with a reason) or snooze (minutes)."""

    __tablename__ = "macros"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(80))
    reply: Mapped[str | None] = mapped_column(Text, default=None)
    label_ids: Mapped[list[str]] = mapped_column(default=list)
    then: Mapped[str | None] = mapped_column(String(12), default=None)  # resolve|snooze
    resolve_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    snooze_minutes: Mapped[int | None] = mapped_column(default=None)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
