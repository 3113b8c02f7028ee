"""The KPI counters: additive rows per (organisation, 15-minute bucket, queue, channel,
agent, reason), from which every KPI of any coarser interval is summed (analytics/kpi.py).

Two tables, because they are rebuilt from different raw history: the contact counters from
the contacts and their timelines (kept for ever), the event counters (staffed time,
callbacks, the bot, surveys) from the durable event log (kept for its retention). A
dimension that does not apply is "" (never NULL: it is part of the key).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Double, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from threadline.analytics.kpi import CONTACT_COUNTERS, COUNTERS, EVENT_COUNTERS
from threadline.db import Base, OrgOwned, UTCDateTime

DIMENSIONS = ("queue_id", "channel", "agent_id", "reason")


def _counters_table(name: str, counters: tuple[str, ...]) -> Table:
    return Table(
        name,
        Base.metadata,
        Column("org_id", String(36), ForeignKey("organizations.id"), primary_key=True),
        Column("bucket", UTCDateTime(timezone=True), primary_key=True),
        Column("queue_id", String(36), primary_key=True),
        Column("channel", String(16), primary_key=True),
        Column("agent_id", String(36), primary_key=True),
        Column("reason", String(100), primary_key=True),
        *(Column(c, Double(), nullable=False, default=0.0) for c in counters),
    )


contact_intervals = _counters_table("kpi_contact_intervals", CONTACT_COUNTERS)
event_intervals = _counters_table("kpi_event_intervals", EVENT_COUNTERS)


rollups = Table(
    "kpi_rollups",
    Base.metadata,
    Column("org_id", String(36), ForeignKey("organizations.id"), primary_key=True),
    Column("grain", String(8), primary_key=True),  # day | hour | quarter (UTC)
    Column("start", UTCDateTime(timezone=True), primary_key=True),
    Column("dimension", String(16), primary_key=True),  # queue|channel|agent|reason|all
    Column("value", String(100), primary_key=True),
    *(Column(c, Double(), nullable=False, default=0.0) for c in COUNTERS),
)


class KpiRollup(OrgOwned, Base):
    """The counters summed per UTC day for one dimension (or all), and per UTC hour and 15
    minutes for all: what a report over months reads (kpi.rollup)."""

    __table__ = rollups


class KpiContactInterval(OrgOwned, Base):
    __table__ = contact_intervals


class KpiEventInterval(OrgOwned, Base):
    __table__ = event_intervals


class KpiAgentPresence(OrgOwned, Base):
    """Each agent's presence as the KPI consumer last saw it: the start of the span whose
    staffed time is counted when the next change comes."""

    __tablename__ = "kpi_agent_presence"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    presence: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
