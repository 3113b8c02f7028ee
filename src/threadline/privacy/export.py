"""Everything Threadline keeps about one customer, as one JSON document plus their files (the
right of access / data portability): the profile and identities, every thread with its
timeline, the contacts (queue, channel, times, outcome), the callbacks. Read in one snapshot;
a customer merged into this one is included (its identities and threads moved here)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.attachments import AttachmentStore
from threadline.callbacks.models import Callback
from threadline.customers.models import Customer, Identity
from threadline.errors import NotFound
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent

FORMAT = "threadline-customer-export/1"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def customer_document(
    session: AsyncSession, org_id: str, customer_id: str, now: datetime
) -> dict[str, Any]:
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.org_id != org_id:
        raise NotFound("no such customer")
    identities = (
        await session.scalars(select(Identity).where(Identity.customer_id == customer_id))
    ).all()
    threads = (
        await session.scalars(
            select(Thread)
            .where(Thread.org_id == org_id, Thread.customer_id == customer_id)
            .order_by(Thread.created_at)
        )
    ).all()
    thread_ids = [t.id for t in threads]
    events = (
        await session.scalars(
            select(ThreadEvent)
            .where(ThreadEvent.thread_id.in_(thread_ids))
            .order_by(ThreadEvent.thread_id, ThreadEvent.seq)
        )
    ).all()
    by_thread: dict[str, list[dict[str, Any]]] = {t: [] for t in thread_ids}
    for e in events:
        by_thread[e.thread_id].append(
            {
                "at": _time(e.created_at),
                "kind": e.kind,
                "channel": e.channel,
                "author": e.author_type,
                "author_name": e.author_name,
                "body": e.body,
                "data": e.data or {},
            }
        )
    queues = dict(
        (await session.execute(select(Queue.id, Queue.name).where(Queue.org_id == org_id))).all()
    )
    contacts = (
        await session.scalars(
            select(Contact)
            .where(Contact.org_id == org_id, Contact.customer_id == customer_id)
            .order_by(Contact.enqueued_at)
        )
    ).all()
    callbacks = (
        await session.scalars(
            select(Callback)
            .where(Callback.org_id == org_id, Callback.customer_id == customer_id)
            .order_by(Callback.created_at)
        )
    ).all()
    return {
        "format": FORMAT,
        "exported_at": now.isoformat(),
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "language": customer.language,
            "timezone": customer.timezone,
            "attributes": customer.attributes or {},
            "created_at": _time(customer.created_at),
            "erased_at": _time(customer.erased_at),
        },
        "identities": [
            {
                "kind": i.kind,
                "value": i.value,
                "verified": i.verified,
                "created_at": _time(i.created_at),
            }
            for i in identities
        ],
        "threads": [
            {
                "id": t.id,
                "status": t.status,
                "subject": t.subject,
                "language": t.language,
                "created_at": _time(t.created_at),
                "timeline": by_thread[t.id],
            }
            for t in threads
        ],
        "contacts": [
            {
                "thread_id": c.thread_id,
                "queue": queues.get(c.queue_id),
                "channel": c.channel,
                "status": c.status,
                "reason": c.reason,
                "enqueued_at": _time(c.enqueued_at),
                "accepted_at": _time(c.accepted_at),
                "ended_at": _time(c.ended_at),
            }
            for c in contacts
        ],
        "callbacks": [
            {
                "thread_id": cb.thread_id,
                "kind": cb.kind,
                "status": cb.status,
                "phone": cb.phone,
                "window_start": _time(cb.window_start),
                "window_end": _time(cb.window_end),
                "outcome": cb.outcome,
                "created_at": _time(cb.created_at),
            }
            for cb in callbacks
        ],
    }


def files_of(document: dict[str, Any]) -> dict[str, str]:
    """sha256 -> a file name for every attachment the timelines name."""
    found: dict[str, str] = {}
    for thread in document["threads"]:
        for entry in thread["timeline"]:
            for file in entry["data"].get("attachments") or ():
                if isinstance(file, dict) and isinstance(file.get("sha256"), str):
                    name = PurePosixPath(str(file.get("filename") or "file")).name or "file"
                    found[file["sha256"]] = f"{file['sha256'][:12]}-{name}"
    return found


def build_zip(document: dict[str, Any], store: AttachmentStore) -> bytes:
    """customer.json and files/<digest>-<name> for each attachment still on disk (blocking:
    run it off the event loop)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        missing = []
        for digest, name in files_of(document).items():
            try:
                archive.writestr(f"files/{name}", store.path(digest).read_bytes())
            except (OSError, ValueError):
                missing.append(name)
        document = {**document, "files_missing": missing}
        archive.writestr(
            "customer.json", json.dumps(document, ensure_ascii=False, indent=2, default=str)
        )
    return buffer.getvalue()
