"""Flows edited by an organisation's admins: each flow, and every version of its definition
(who saved it, when), one of them published: the one the bot starts new conversations on.
A version is never changed or removed, so a conversation keeps running on the one it
started with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class StoredFlow(OrgOwned, Base):
    """A flow of an organisation, by its id (`flow_id`, the name endpoints give in
    `settings.bot.flow`); `published` is the version the bot runs (None: none yet)."""

    __tablename__ = "flows"
    __table_args__ = (UniqueConstraint("org_id", "flow_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    flow_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    latest: Mapped[int] = mapped_column(default=0)
    published: Mapped[int | None] = mapped_column(default=None)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    published_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlowVersion(OrgOwned, Base):
    """One saved definition of a flow (valid: `load_flow` accepted it), numbered from 1."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_ref", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    flow_ref: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    number: Mapped[int]
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
