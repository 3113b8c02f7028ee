"""How a callback changes state: its row locked, each transition written on the thread's
timeline and published, the timer worker woken for the timers a transition sets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from threadline.callbacks.models import Callback
from threadline.context import Context
from threadline.db import UnitOfWork
from threadline.errors import NotFound
from threadline.events.domain import CallbackChanged
from threadline.routing.callback_policy import CallbackPolicy, parse_policy
from threadline.routing.models import Queue
from threadline.threads.models import Thread
from threadline.threads.services import append_event


def policy_of(queue: Queue) -> CallbackPolicy:
    """The queue's callback policy, parsed."""
    return parse_policy(queue.callback_policy or {})


def aware(moment: datetime) -> datetime:
    """A stored moment as UTC-aware (SQLite returns naive datetimes)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def mask(phone: str) -> str:
    """The number as the customer and the timeline see it: its last two digits."""
    return phone[:-4].rstrip() + "\u2022\u2022" + phone[-2:] if len(phone) > 6 else phone


async def lock_callback(uow: UnitOfWork, org_id: str | None, callback_id: str) -> Callback:
    """The callback, row-locked; NotFound when it is not the organisation's (org_id None:
    a timer or the customer's signed link, no organisation to check)."""
    callback: Callback | None = await uow.lock(Callback, callback_id)
    if callback is None or (org_id is not None and callback.org_id != org_id):
        raise NotFound("no such callback")
    return callback


def record(uow: UnitOfWork, thread: Thread, callback: Callback, action: str, **data: Any) -> None:
    """A transition on the thread's timeline, and CallbackChanged emitted."""
    append_event(
        uow,
        thread,
        kind="callback",
        channel="voice",
        author_type="system",
        contact_id=callback.contact_id,
        body=None,
        data={
            "callback_id": callback.id,
            "action": action,
            "kind": callback.kind,
            "status": callback.status,
            "phone": mask(callback.phone),
            "attempts": callback.attempts,
            **data,
        },
    )
    uow.emit(
        CallbackChanged(
            org_id=callback.org_id,
            callback_id=callback.id,
            thread_id=callback.thread_id,
            customer_id=callback.customer_id,
            status=callback.status,
            action=action,
            queue_id=callback.queue_id,
        )
    )


def wake(ctx: Context) -> Callable[[], Awaitable[None]]:
    """After commit: wake the timer worker, so a timer just set is seen at once."""

    async def wake_worker() -> None:
        ctx.timers.wake()

    return wake_worker
