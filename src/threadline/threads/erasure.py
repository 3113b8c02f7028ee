"""What the timeline keeps of an erased customer: who wrote, when, on which channel, and
nothing of what was said. Message bodies, their data (attachments, provider payload
details) and the customer's display name go; the files the customer's threads carried are
deleted from disk after the commit, unless another thread still names the same bytes (the
store is content-addressed)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy import String, cast, select

from threadline.config import Settings
from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased
from threadline.threads.models import Thread, ThreadEvent
from threadline.web.media import media_store

ERASED_BODY = "[erased]"
KEPT_DATA = ("kind", "status", "reason", "contact_id", "queue_id")  # facts, not content


def make_scrubber(settings: Settings) -> Callable[[UnitOfWork, CustomerErased], Awaitable[None]]:
    store = media_store(settings)

    async def scrub(uow: UnitOfWork, event: CustomerErased) -> None:
        threads = (
            await uow.session.scalars(
                select(Thread).where(
                    Thread.org_id == event.org_id, Thread.customer_id == event.customer_id
                )
            )
        ).all()
        thread_ids = [t.id for t in threads]
        for thread in threads:
            thread.subject = None
        if not thread_ids:
            return
        rows = (
            await uow.session.scalars(
                select(ThreadEvent).where(ThreadEvent.thread_id.in_(thread_ids))
            )
        ).all()
        digests: set[str] = set()
        for row in rows:
            data = row.data or {}
            for file in data.get("attachments") or ():
                if isinstance(file, dict) and isinstance(file.get("sha256"), str):
                    digests.add(file["sha256"])
            if row.body is not None:
                row.body = ERASED_BODY
            row.data = {k: data[k] for k in KEPT_DATA if k in data}
            if row.author_type == "customer":
                row.author_name = None
        if not digests:
            return
        await uow.session.flush()
        still_named = set()
        for digest in digests:
            other = await uow.session.scalar(
                select(ThreadEvent.id)
                .where(
                    ThreadEvent.thread_id.not_in(thread_ids),
                    cast(ThreadEvent.data, String).like(f"%{digest}%"),
                )
                .limit(1)
            )
            if other is not None:
                still_named.add(digest)

        async def delete_files() -> None:
            for digest in digests - still_named:
                with contextlib.suppress(OSError, ValueError):
                    store.path(digest).unlink(missing_ok=True)

        uow.after_commit(delete_files)

    return scrub
