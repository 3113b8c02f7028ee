"""Files on a thread's timeline (a customer's email attachments, an agent's uploads, a call's
recording), served to the staff of the thread's organisation. A file is found through the
timeline entry that names it: knowing a digest is not enough, the thread must hold it (so
one organisation's digest opens nothing in another's thread)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.errors import NotFound
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import hidden_from
from threadline.web.media import media_store

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ThreadFile:
    sha256: str
    content_type: str
    filename: str
    data: bytes


def stored_files(data: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """The files a timeline entry names that Threadline keeps: its `attachments` with a
    digest (a provider's media, named by its own id, is not kept here) and its `recording`."""
    data = data or {}
    files = list(data.get("attachments") or ())
    if isinstance(data.get("recording"), Mapping):
        files.append(data["recording"])
    for file in files:
        if isinstance(file, Mapping) and isinstance(file.get("sha256"), str):
            yield file


def _content_type(value: Any) -> str:
    kind = str(value or "").split(";", 1)[0].strip().lower()
    return kind if _CONTENT_TYPE.match(kind) and len(kind) <= 127 else DEFAULT_TYPE


async def thread_file(
    ctx: Context, principal: Principal, thread_id: str, sha256: str
) -> ThreadFile:
    """The file with this digest on one of the thread's entries the agent may read; NotFound
    for a thread of another organisation, a digest the thread does not name, or bytes gone
    (erased)."""
    if not _SHA256.match(sha256):
        raise NotFound("no such file")
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.org_id != principal.org_id:
            raise NotFound("no such thread")
        rows = await session.execute(
            select(ThreadEvent.kind, ThreadEvent.data).where(
                ThreadEvent.org_id == principal.org_id,
                ThreadEvent.thread_id == thread_id,
                ThreadEvent.kind.in_(("message", "note", "edit", "call_recording")),
            )
        )
        named = _named(principal, rows, sha256)
    store = media_store(ctx.settings)
    if named is None or not store.exists(sha256):
        raise NotFound("no such file")
    filename = str(named.get("filename") or "attachment").replace("/", "_")[:255]
    return ThreadFile(
        sha256, _content_type(named.get("content_type")), filename, await store.get(sha256)
    )


def _named(principal: Principal, rows: Any, sha256: str) -> Mapping[str, Any] | None:
    for kind, data in rows:
        if hidden_from(principal, kind, data):
            continue
        for file in stored_files(data):
            if file["sha256"] == sha256:
                return file
    return None
