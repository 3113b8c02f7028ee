"""Surveys' share of erasing a customer or purging old threads: the free-text comment goes;
the scores, the contact's queue, agent and channel stay (CSAT and CES do not change)."""

from __future__ import annotations

from sqlalchemy import update

from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased, ThreadsPurged
from threadline.surveys.models import Survey


async def scrub_surveys(uow: UnitOfWork, event: CustomerErased) -> None:
    await uow.session.execute(
        update(Survey)
        .where(Survey.org_id == event.org_id, Survey.customer_id == event.customer_id)
        .values(comment=None)
    )


async def purge_surveys(uow: UnitOfWork, event: ThreadsPurged) -> None:
    await uow.session.execute(
        update(Survey)
        .where(Survey.org_id == event.org_id, Survey.thread_id.in_(event.thread_ids))
        .values(comment=None)
    )
