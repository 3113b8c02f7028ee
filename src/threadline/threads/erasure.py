"""What the timeline keeps once a customer is erased or a retention policy removes old
content: who wrote, when, on which channel, and nothing of what was said. Message bodies and
their data (attachments, provider payload details) go; the files those threads carried are
deleted from disk after the commit, unless another thread still names the same bytes (the
store is content-addressed). Erasure also drops the customer's display name; retention keeps
the customer's profile (only old conversations' content goes)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import String, cast, select

from threadline.attachments import AttachmentStore
from threadline.config import Settings
from threadline.db import UnitOfWork, utcnow
from threadline.events.domain import CustomerErased, ThreadsPurged
from threadline.threads.files import stored_files
from threadline.threads.models import Thread, ThreadEvent
from threadline.web.media import media_store

ERASED_BODY = "[erased]"
PURGED_BODY = "[removed: retention policy]"
KEPT_DATA = ("kind", "status", "reason", "contact_id", "queue_id")  # facts, not content


async def remove_content(
    uow: UnitOfWork,
    store: AttachmentStore,
    threads: Sequence[Thread],
    placeholder: str,
    *,
    customer_names: bool,
) -> None:
    """Empty these threads' timelines of content, in this transaction; their files go after
    the commit unless a thread not among them names the same bytes."""
    thread_ids = [t.id for t in threads]
    now = utcnow()
    for thread in threads:
        thread.subject = None
        thread.content_purged_at = now
    if not thread_ids:
        return
    rows = (
        await uow.session.scalars(select(ThreadEvent).where(ThreadEvent.thread_id.in_(thread_ids)))
    ).all()
    digests: set[str] = set()
    for row in rows:
        data = row.data or {}
        digests.update(file["sha256"] for file in stored_files(data))  # a call's recording too
        if row.body is not None:
            row.body = placeholder
        row.data = {k: data[k] for k in KEPT_DATA if k in data}
        if customer_names and row.author_type == "customer":
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


def make_scrubber(settings: Settings) -> Callable[[UnitOfWork, CustomerErased], Awaitable[None]]:
    """The threads' share of erasing a customer."""
    store = media_store(settings)

    async def scrub(uow: UnitOfWork, event: CustomerErased) -> None:
        threads = (
            await uow.session.scalars(
                select(Thread).where(
                    Thread.org_id == event.org_id, Thread.customer_id == event.customer_id
                )
            )
        ).all()
        await remove_content(uow, store, threads, ERASED_BODY, customer_names=True)

    return scrub


def make_purger(settings: Settings) -> Callable[[UnitOfWork, ThreadsPurged], Awaitable[None]]:
    """The threads' share of a retention sweep."""
    store = media_store(settings)

    async def purge(uow: UnitOfWork, event: ThreadsPurged) -> None:
        threads = (
            await uow.session.scalars(
                select(Thread).where(Thread.org_id == event.org_id, Thread.id.in_(event.thread_ids))
            )
        ).all()
        await remove_content(uow, store, threads, PURGED_BODY, customer_names=False)

    return purge
