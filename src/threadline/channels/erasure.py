"""An erased customer's outbox rows lose the address and the text; those not yet sent are
not sent (status failed, `customer erased`)."""

from __future__ import annotations

from sqlalchemy import select, update

from threadline.channels.models import OutboxMessage
from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased
from threadline.threads.models import Thread


async def scrub_outbox(uow: UnitOfWork, event: CustomerErased) -> None:
    threads = select(Thread.id).where(
        Thread.org_id == event.org_id, Thread.customer_id == event.customer_id
    )
    mine = (OutboxMessage.org_id == event.org_id, OutboxMessage.thread_id.in_(threads))
    await uow.session.execute(
        update(OutboxMessage)
        .where(*mine, OutboxMessage.status.in_(("queued", "sending", "unknown")))
        .values(status="failed", last_error="customer erased")
    )
    await uow.session.execute(update(OutboxMessage).where(*mine).values(address="", body=""))
