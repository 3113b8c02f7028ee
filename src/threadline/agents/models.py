"""Agents: the people who handle contacts, with their routing profile and presence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class Agent(OrgOwned, Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("org_id", "email"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="agent")  # agent|supervisor|admin
    # Routing profile: skill -> level 1..5, languages (ISO 639-1), tier, capacity per channel.
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    languages: Mapped[list[str]] = mapped_column(default=list)
    tier: Mapped[int] = mapped_column(default=1)
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_total: Mapped[int | None] = mapped_column(default=None)
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    presence_since: Mapped[datetime] = mapped_column(default=utcnow)
    idle_since: Mapped[datetime] = mapped_column(default=utcnow)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(default=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True, default=None)
    # When a desktop of this agent was last seen open (agents/desktops.py); None: never.
    desktop_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(OrgOwned, Base):
    """A group of agents (each in one team at most), with an optional supervisor."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # an agent of the organisation (checked by the service; no foreign key: agents point
    # at teams already, and a cycle of foreign keys has no creation order)
    supervisor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
