"""An erased customer's contacts keep their queue, times, channel and outcome (the reports'
facts) and lose their context: the bot's transcript, the slots, what the IVR heard."""

from __future__ import annotations

from sqlalchemy import update

from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased
from threadline.routing.models import Contact


async def scrub_contacts(uow: UnitOfWork, event: CustomerErased) -> None:
    await uow.session.execute(
        update(Contact)
        .where(Contact.org_id == event.org_id, Contact.customer_id == event.customer_id)
        .values(context={})
    )
