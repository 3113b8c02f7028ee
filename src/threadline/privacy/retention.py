"""The retention policy: each organisation may say how long resolved conversations keep
their content (`organizations.retention_days`). A durable timer per organisation
(`retention_sweep`, in the timers table: it survives restarts and fires on one node) removes
the content of resolved threads quiet for longer than that, a batch per transaction through
the `threads.purged` event (each domain removes its share: threads/erasure.py,
routing/erasure.py, selfservice/erasure.py), then sets itself again: at once while a batch
came back full, else a day later. Setting the policy (or clearing it) replaces the timer."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from threadline.db import UnitOfWork, utcnow
from threadline.events.domain import ThreadsPurged
from threadline.orgs.models import Organization
from threadline.threads.models import Thread
from threadline.workers import timers
from threadline.workers.models import Timer

RETENTION_SWEEP = "retention_sweep"
BATCH = 200
EVERY = timedelta(days=1)
MIN_DAYS, MAX_DAYS = 7, 3650


def plan(uow: UnitOfWork, org_id: str, due_at: datetime) -> None:
    """(Re)schedule the organisation's sweep; call inside the transaction that sets the
    policy (the previous timer is cancelled first)."""
    timers.schedule(uow.session, org_id, RETENTION_SWEEP, org_id, due_at)


async def replan(uow: UnitOfWork, org_id: str, days: int | None) -> None:
    await timers.cancel(uow.session, RETENTION_SWEEP, org_id)
    if days is not None:
        plan(uow, org_id, utcnow())


async def on_sweep(uow: UnitOfWork, timer: Timer) -> None:
    org = await uow.session.get(Organization, timer.org_id)
    if org is None or org.retention_days is None:
        return  # the policy was cleared: no next sweep
    now = utcnow()
    cutoff = now - timedelta(days=org.retention_days)
    due = (
        await uow.session.scalars(
            select(Thread.id)
            .where(
                Thread.org_id == org.id,
                Thread.status == "resolved",
                Thread.updated_at < cutoff,
                Thread.content_purged_at.is_(None),
            )
            .order_by(Thread.updated_at)
            .limit(BATCH)
        )
    ).all()
    if due:
        uow.emit(
            ThreadsPurged(org_id=org.id, thread_ids=list(due), older_than_days=org.retention_days)
        )
    plan(uow, org.id, now if len(due) == BATCH else now + EVERY)
