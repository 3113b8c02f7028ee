"""What the customer is texted about their callback (SMS, through the outbox, in their
language, on the timeline), and how a booked window is worded in their time zone."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.callbacks.models import Callback
from threadline.callbacks.transitions import aware
from threadline.channels.models import Endpoint
from threadline.channels.outbox import enqueue_outbound
from threadline.context import Context
from threadline.customers.models import Customer, Identity
from threadline.db import UnitOfWork
from threadline.i18n.waits import wait_phrase
from threadline.routing.callback_policy import CallbackPolicy
from threadline.threads.models import Thread
from threadline.threads.services import append_event, lock_thread
from threadline.web.i18n import pick_language, translate


def when(callback: Callback, zone: str) -> str:
    """A booked window as the customer reads it, in their time zone ("Tue 09 Jun 10:00-10:30")."""
    if callback.window_start is None or callback.window_end is None:
        return ""
    tz = ZoneInfo(zone)
    start = aware(callback.window_start).astimezone(tz)
    end = aware(callback.window_end).astimezone(tz)
    return f"{start:%a %d %b %H:%M}\u2013{end:%H:%M}"


async def customer_zone(session: AsyncSession, customer_id: str, policy: CallbackPolicy) -> str:
    """The customer's time zone (their device told it), else the queue's policy's."""
    customer = await session.get(Customer, customer_id)
    zone = getattr(customer, "timezone", None)
    return zone or policy.timezone


def range_text(language: str, low_s: float | None, high_s: float | None) -> str:
    """A wait as a range, worded as the widget words it."""
    return wait_phrase(language, low_s or 0.0, high_s)


async def send_text(
    ctx: Context,
    uow: UnitOfWork,
    thread: Thread,
    key: str,
    language: str,
    *,
    data: dict[str, Any] | None = None,
    **values: str,
) -> None:
    """A system text (SMS, through the outbox) in the customer's language, on the timeline."""
    event = append_event(
        uow,
        thread,
        kind="message",
        channel="sms",
        author_type="system",
        body=translate(language, key, **values),
        data=data,
    )
    await enqueue_outbound(ctx, uow, thread, event)


async def text_customer(
    ctx: Context, uow: UnitOfWork, thread: Thread, callback: Callback, key: str, **values: str
) -> bool:
    """Text the customer (SMS through the outbox) in their language, if an SMS endpoint is
    configured; returns whether a message was queued."""
    endpoint = await uow.session.scalar(
        select(Endpoint.id).where(
            Endpoint.org_id == callback.org_id, Endpoint.channel == "sms", Endpoint.active.is_(True)
        )
    )
    if endpoint is None:
        return False
    reachable = await uow.session.scalar(
        select(Identity.id)
        .where(Identity.customer_id == callback.customer_id, Identity.kind == "phone")
        .limit(1)
    )
    if reachable is None:
        return False  # the number given is another customer's: we call it, but text nobody
    language = pick_language(callback.language)
    await send_text(ctx, uow, thread, key, language, data={"callback_id": callback.id}, **values)
    return True


async def text_about(ctx: Context, callback: Callback, key: str) -> None:
    """Text the customer about their callback, in a transaction of its own."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, callback.org_id, callback.thread_id)
        await text_customer(ctx, uow, thread, callback, key)
