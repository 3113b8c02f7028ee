"""An erased customer's continuation codes are deleted: nobody continues as them."""

from __future__ import annotations

from sqlalchemy import delete

from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased
from threadline.verification.models import ContinuationCode


async def scrub_continuations(uow: UnitOfWork, event: CustomerErased) -> None:
    await uow.session.execute(
        delete(ContinuationCode).where(
            ContinuationCode.org_id == event.org_id,
            ContinuationCode.customer_id == event.customer_id,
        )
    )
