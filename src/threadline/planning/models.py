"""The roster: how many agents are planned on a queue per weekday and half hour (the
queue's local time), as the supervisor edits it on the planning page."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned


class PlannedAgents(OrgOwned, Base):
    """Agents planned on `queue_id` on `weekday` (0 Monday .. 6 Sunday) in the half hour
    starting `minute` minutes after local midnight. No row: none planned."""

    __tablename__ = "planned_agents"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    queue_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    )
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    agents: Mapped[int] = mapped_column(Integer)
