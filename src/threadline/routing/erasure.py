"""An erased customer's contacts, and a purged thread's, keep their queue, times, channel
and outcome (the reports' facts) and lose their context: the bot's transcript, the slots,
what the IVR heard."""

from __future__ import annotations

from sqlalchemy import update

from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased, ThreadsPurged
from threadline.routing.models import Contact


async def scrub_contacts(uow: UnitOfWork, event: CustomerErased) -> None:
    await uow.session.execute(
        update(Contact)
        .where(Contact.org_id == event.org_id, Contact.customer_id == event.customer_id)
        .values(context={})
    )


async def purge_contacts(uow: UnitOfWork, event: ThreadsPurged) -> None:
    await uow.session.execute(
        update(Contact)
        .where(Contact.org_id == event.org_id, Contact.thread_id.in_(event.thread_ids))
        .values(context={})
    )
