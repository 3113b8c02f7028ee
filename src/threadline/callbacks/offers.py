"""What a waiting contact is offered instead of waiting (keep my place, book a window),
once its queue's policy says the wait is long enough, and its wait as a range."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.callbacks.schemas import WaitOut
from threadline.callbacks.transitions import policy_of
from threadline.context import Context
from threadline.errors import NotFound
from threadline.routing.callback_policy import should_offer
from threadline.routing.models import Contact, Queue


@dataclass(frozen=True, slots=True)
class CallbackOffer:
    """What a waiting customer may choose instead of waiting."""

    contact_id: str
    keep_place: bool
    booking: bool
    position: int | None
    ewt_s: float | None
    low_s: float | None
    high_s: float | None


async def callback_offer(ctx: Context, org_id: str, contact_id: str) -> CallbackOffer | None:
    """The callback offer for a waiting contact, when its wait passes its queue's
    threshold (None otherwise)."""
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
        if contact is None or contact.org_id != org_id or contact.status != "queued":
            return None
        if contact.context.get("callback_id"):
            return None
        queue = await session.get_one(Queue, contact.queue_id)
    policy = policy_of(queue)
    estimate = await ctx.routing.estimate(org_id, contact_id)
    ewt_s = None if estimate is None else estimate.ewt_s
    if not should_offer(policy, ewt_s):
        return None
    return CallbackOffer(
        contact_id=contact_id,
        keep_place=policy.keep_place,
        booking=policy.booking,
        position=estimate.position if estimate else None,
        ewt_s=ewt_s,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
    )


async def contact_wait(ctx: Context, org_id: str, contact_id: str) -> WaitOut:
    """A contact's live place, its wait as a range, and the callback it may take."""
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
    if contact is None or contact.org_id != org_id:
        raise NotFound("no such contact")
    estimate = await ctx.routing.estimate(org_id, contact_id)
    offer = await callback_offer(ctx, org_id, contact_id)
    return WaitOut(
        contact_id=contact.id,
        status=contact.status,
        position=estimate.position if estimate else None,
        agents=estimate.agents if estimate else None,
        ewt_s=estimate.as_data()["ewt_s"] if estimate else None,
        low_s=estimate.low_s if estimate else None,
        high_s=estimate.high_s if estimate else None,
        callback_offer=(
            {"keep_place": offer.keep_place, "booking": offer.booking, "queue_id": contact.queue_id}
            if offer
            else None
        ),
    )
