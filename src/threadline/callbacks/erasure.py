"""An erased customer's callbacks lose the number to call. Open ones are cancelled through
the callbacks service before the erasure (privacy/http.py), so only finished ones remain."""

from __future__ import annotations

from sqlalchemy import update

from threadline.callbacks.models import Callback
from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased


async def scrub_callbacks(uow: UnitOfWork, event: CustomerErased) -> None:
    await uow.session.execute(
        update(Callback)
        .where(Callback.org_id == event.org_id, Callback.customer_id == event.customer_id)
        .values(phone="")
    )
