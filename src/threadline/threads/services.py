"""Threads: the customer's one conversation, its immutable timeline, replies and notes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.db import UnitOfWork, check_new_row, new_id, utcnow
from threadline.errors import Invalid, NotAllowed, NotFound
from threadline.events.domain import (
    MessageSent,
    ReceiptMoved,
    ThreadChanged,
    TimelineEntryAdded,
)
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.schemas import EventOut
from threadline.web.media import media_store

CUSTOMER_VISIBLE_KINDS = frozenset({"message", "assigned", "resolved", "transferred"})
WHISPER = "whisper"  # a supervisor's note to one agent (supervision/): data.to_agent_id


def hidden_from(principal: Principal, kind: str, data: dict[str, Any] | None) -> bool:
    """Whether a timeline entry is kept from this agent: a whisper is for the agent it names
    and for supervisors only (customers never see any internal entry)."""
    if kind != WHISPER or principal.has("supervisor"):
        return False
    return (data or {}).get("to_agent_id") != principal.agent_id


def event_payload(event: ThreadEvent) -> dict[str, Any]:
    return EventOut.model_validate(event).model_dump(mode="json")


def timeline_event(org_id: str, thread: Thread, event: ThreadEvent) -> TimelineEntryAdded:
    """The bus message announcing one new timeline entry."""
    return TimelineEntryAdded(
        org_id=org_id,
        thread_id=thread.id,
        customer_id=thread.customer_id,
        agent_id=thread.assigned_agent_id,
        internal=event.kind not in CUSTOMER_VISIBLE_KINDS,
        event=event_payload(event),
    )


async def lock_thread(uow: UnitOfWork, org_id: str, thread_id: str) -> Thread:
    thread: Thread | None = await uow.lock(Thread, thread_id)
    if thread is None or thread.org_id != org_id:
        raise NotFound("no such thread")
    return thread


_RESERVED_IDS = "threads.reserved_entry_ids"
_NEXT_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('thread_events', 'id')) FROM generate_series(1, :n)"
)


async def reserve_entry_ids(uow: UnitOfWork, count: int) -> None:
    """Take the ids of the next `count` timeline entries this transaction appends
    (`append_event`) in one round trip, for a batch that writes many (a timer batch).

    PostgreSQL: an entry whose id is known is written by the flush with the driver's
    executemany (one short statement, parsed once); without it the flush writes the batch
    as one INSERT ... RETURNING with every row's parameters inline, which psycopg parses
    again on each batch (it caches statements of at most 50 parameters): that parse was
    most of a timer batch's flush. An id left unused is a gap in the sequence, as a
    rolled-back insert leaves. SQLite: nothing to do (no sequence, a cheap parse)."""
    conn = await uow.session.connection()
    if count <= 0 or conn.dialect.name != "postgresql":
        return
    ids = list(await conn.scalars(_NEXT_IDS, {"n": count}))
    ids.reverse()  # popped from the end: in ascending order, after any left from before
    uow.extras[_RESERVED_IDS] = ids + uow.extras.get(_RESERVED_IDS, [])


def append_event(uow: UnitOfWork, thread: Thread, **fields: Any) -> ThreadEvent:
    """Add one entry to the timeline and announce it after commit. Call inside the
    thread's row lock (lock_thread): `seq` is the thread's counter."""
    thread.last_seq += 1
    thread.updated_at = utcnow()
    if reserved := uow.extras.get(_RESERVED_IDS):
        fields["id"] = reserved.pop()
    event = ThreadEvent(
        org_id=thread.org_id,
        thread_id=thread.id,
        seq=thread.last_seq,
        created_at=thread.updated_at,
        data=fields.pop("data", None) or {},
        **fields,
    )
    uow.session.add(event)
    uow.announce_later(lambda: timeline_event(thread.org_id, thread, event))
    uow.announce_later(lambda: thread_changed(thread))
    return event


_THREADS: Table = Thread.__table__  # type: ignore[assignment]  # a mapped class's Table
_EVENTS: Table = ThreadEvent.__table__  # type: ignore[assignment]
# Built once (compiled once): the thread's counter, its activity time and status.
_MOVE_THREAD = (
    _THREADS.update()
    .where(_THREADS.c.id == bindparam("thread_id"), _THREADS.c.org_id == bindparam("org"))
    .values(last_seq=bindparam("seq"), updated_at=bindparam("now"), status=bindparam("st"))
)
_INSERT_EVENT = _EVENTS.insert()
_INSERT_EVENT_RETURNING = _EVENTS.insert().returning(
    _EVENTS.c.id, _EVENTS.c.thread_id, _EVENTS.c.seq
)
_ENTRY_COLUMNS = (
    "kind",
    "channel",
    "author_type",
    "author_id",
    "author_name",
    "body",
    "client_msg_id",
    "provider_msg_id",
    "contact_id",
)


async def append_event_now(
    uow: UnitOfWork, thread: Thread, *, status: str | None = None, **fields: Any
) -> ThreadEvent:
    """`append_event`, written at once by two plain statements (the thread's counter, then
    the entry) instead of by the ORM's flush at the commit: for the hot path of a chat
    message in an open thread, where the flush's bookkeeping cost more than the statements.
    Same preconditions (inside the thread's row lock); `status` moves the thread's status in
    the same UPDATE. The entry returned is not in the session: nothing may change it after
    (use append_event for an entry the transaction goes on editing). A duplicate client or
    provider id raises IntegrityError here, as the flush would have."""
    (entry,) = await append_events_now(uow, [(thread, status, fields)])
    return entry


async def append_events_now(
    uow: UnitOfWork, entries: list[tuple[Thread, str | None, dict[str, Any]]]
) -> list[ThreadEvent]:
    """`append_event_now` for many entries (a batch of inbound messages: each (thread, new
    status or None, fields)), in the order given, a thread's several in turn: the threads'
    counters in one executemany, the entries in one more (PostgreSQL: their ids reserved
    first, so the driver prepares one short INSERT; SQLite: one INSERT ... RETURNING, whose
    rows are matched to the entries by thread and seq)."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    moved: dict[str, dict[str, Any]] = {}  # thread id -> its counter's UPDATE parameters
    for thread, status, given in entries:
        check_new_row("ThreadEvent", thread.org_id)  # as the flush checks the rows it writes
        fields = dict(given)
        row: dict[str, Any] = {name: fields.pop(name, None) for name in _ENTRY_COLUMNS}
        if fields.keys() - {"data"}:
            raise TypeError(f"unknown timeline fields: {sorted(fields.keys() - {'data'})}")
        seq = thread.last_seq + 1
        new_status = thread.status if status is None else status
        row.update(
            org_id=thread.org_id,
            thread_id=thread.id,
            seq=seq,
            created_at=now,
            data=fields.get("data") or {},
        )
        # the session's copy of the row is what the UPDATE below writes: no flush will
        # write it again (and a thread's next entry here counts on from it)
        set_committed_value(thread, "last_seq", seq)
        set_committed_value(thread, "updated_at", now)
        set_committed_value(thread, "status", new_status)
        moved[thread.id] = {
            "thread_id": thread.id,
            "org": thread.org_id,
            "seq": seq,
            "now": now,
            "st": new_status,
        }
        rows.append(row)
    conn = await uow.session.connection()
    result = await conn.execute(_MOVE_THREAD, list(moved.values()))
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(moved):
        raise NotFound("no such thread")
    if len(rows) == 1:
        key = (await conn.execute(_INSERT_EVENT, rows[0])).inserted_primary_key
        rows[0]["id"] = key[0] if key else None
    elif conn.dialect.name == "postgresql":
        await reserve_entry_ids(uow, len(rows))
        reserved: list[int] = uow.extras[_RESERVED_IDS]
        for row in rows:
            row["id"] = reserved.pop()
        await conn.execute(_INSERT_EVENT, rows)
    else:  # one multi-row INSERT; its RETURNING rows come in no promised order: matched by key
        ids = {(t, seq): i for i, t, seq in await conn.execute(_INSERT_EVENT_RETURNING, rows)}
        for row in rows:
            row["id"] = ids[row["thread_id"], row["seq"]]
    made = [ThreadEvent(**row) for row in rows]
    for (thread, _, _), event in zip(entries, made, strict=True):
        _announce_entry(uow, thread, event)
    return made


def _announce_entry(uow: UnitOfWork, thread: Thread, event: ThreadEvent) -> None:
    uow.announce_later(lambda: timeline_event(thread.org_id, thread, event))
    uow.announce_later(lambda: thread_changed(thread))


def thread_changed(thread: Thread) -> ThreadChanged:
    """The bus message telling the inboxes (inbox/) that this thread's row moved."""
    return ThreadChanged(
        org_id=thread.org_id,
        thread_id=thread.id,
        status=thread.status,
        assigned_agent_id=thread.assigned_agent_id,
        updated_at=thread.updated_at.isoformat(),
    )


def agent_event(
    uow: UnitOfWork, thread: Thread, principal: Principal, kind: str, **fields: Any
) -> ThreadEvent:
    """An entry written by an agent (reply, note, assignment, transfer, wrap-up); same
    preconditions as append_event."""
    return append_event(
        uow,
        thread,
        kind=kind,
        author_type="agent",
        author_id=principal.agent_id,
        author_name=principal.name,
        **fields,
    )


async def entry_at(session: AsyncSession, thread_id: str, seq: int) -> ThreadEvent | None:
    """The timeline entry at `seq` of a thread (flushing what this session has pending)."""
    return await session.scalar(
        select(ThreadEvent).where(ThreadEvent.thread_id == thread_id, ThreadEvent.seq == seq)
    )


async def find_by_client_id(
    session: AsyncSession, thread_id: str, client_msg_id: str | None
) -> ThreadEvent | None:
    if not client_msg_id:
        return None
    return await session.scalar(
        select(ThreadEvent).where(
            ThreadEvent.thread_id == thread_id, ThreadEvent.client_msg_id == client_msg_id
        )
    )


async def current_thread(
    session: AsyncSession, org_id: str, customer_id: str, *, for_update: bool = False
) -> Thread | None:
    query = current_thread_query(org_id, customer_id)
    return await session.scalar(query.with_for_update() if for_update else query)


def current_thread_query(org_id: Any, customer_id: Any) -> Select[Thread]:
    """A customer's newest thread (ix_threads_customer_created: one seek, no sort)."""
    return (
        select(Thread)
        .where(Thread.org_id == org_id, Thread.customer_id == customer_id)
        .order_by(Thread.created_at.desc())
        .limit(1)
    )


async def open_thread(
    session: AsyncSession,
    org_id: str,
    customer_id: str,
    language: str | None,
    *,
    for_update: bool = False,
) -> Thread:
    """The customer's one ongoing thread, created on first contact; `for_update` row-locks it
    (PostgreSQL) so the caller may append events."""
    thread, created = await current_or_new_thread(
        session, org_id, customer_id, language, for_update=for_update
    )
    if created:
        await session.flush()
    return thread


async def current_or_new_thread(
    session: AsyncSession,
    org_id: str,
    customer_id: str,
    language: str | None,
    *,
    for_update: bool = False,
    channel: str | None = None,
) -> tuple[Thread, bool]:
    """`open_thread` without its flush, and whether the thread is new (`new_thread`)."""
    thread = await current_thread(session, org_id, customer_id, for_update=for_update)
    if thread is not None:
        return thread, False
    return new_thread(session, org_id, customer_id, language, channel=channel), True


def new_thread(
    session: AsyncSession,
    org_id: str,
    customer_id: str,
    language: str | None,
    *,
    channel: str | None = None,
) -> Thread:
    """A customer's new thread, not written yet: its id is known now, and the flush writes
    it once, with the values the transaction gave it (counter, status, queue), instead of an
    INSERT followed by an UPDATE of the same row. Call inside the customer's row lock, once
    sure they have no thread (`current_thread`). Nothing else orders it before the rows that
    name it: a contact (routing/ writes a new thread before its contact) or a Core
    statement (`append_event_now`) needs it flushed first."""
    now = utcnow()
    thread = Thread(
        id=new_id(),
        org_id=org_id,
        customer_id=customer_id,
        status="queued",
        language=language,
        channel=channel,
        last_seq=0,
        created_at=now,
        updated_at=now,
    )
    session.add(thread)
    return thread


async def get_thread(ctx: Context, org_id: str, thread_id: str) -> Thread:
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
    if thread is None or thread.org_id != org_id:
        raise NotFound("no such thread")
    return thread


async def list_threads(
    ctx: Context,
    org_id: str,
    *,
    status: str | None,
    agent_id: str | None,
    limit: int,
    customer_id: str | None = None,
) -> list[Thread]:
    """The organisation's threads, most recently active first; `customer_id` keeps one
    customer's (the caller checks that the customer is the organisation's)."""
    query = select(Thread).where(Thread.org_id == org_id)
    if customer_id:
        query = query.where(Thread.customer_id == customer_id)
    if status:
        query = query.where(Thread.status == status)
    if agent_id:
        query = query.where(Thread.assigned_agent_id == agent_id)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Thread.updated_at.desc()).limit(limit)))


async def timeline(
    ctx: Context,
    org_id: str,
    *,
    thread_id: str | None = None,
    customer_id: str | None = None,
    after_seq: int = 0,
    customer_view: bool = False,
    limit: int = 500,
) -> list[ThreadEvent]:
    """A thread's timeline (or a customer's across all their threads), oldest first."""
    query = select(ThreadEvent).where(ThreadEvent.org_id == org_id)
    if thread_id:
        query = query.where(ThreadEvent.thread_id == thread_id, ThreadEvent.seq > after_seq)
    elif customer_id:
        query = query.join(Thread, Thread.id == ThreadEvent.thread_id).where(
            Thread.customer_id == customer_id
        )
    else:
        raise Invalid("timeline needs a thread or a customer")
    if customer_view:
        query = query.where(ThreadEvent.kind.in_(CUSTOMER_VISIBLE_KINDS))
    query = query.order_by(ThreadEvent.created_at, ThreadEvent.seq).limit(limit)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query))


def _may_write(principal: Principal, thread: Thread) -> None:
    if thread.assigned_agent_id != principal.agent_id and not principal.has("supervisor"):
        raise NotAllowed("only the assigned agent or a supervisor can write in this thread")


async def do_agent_message(
    ctx: Context,
    principal: Principal,
    thread_id: str,
    body: str | None,
    client_msg_id: str | None,
    channel: str | None = None,
    template: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> ThreadEvent:
    """An agent's reply on the customer's channel (or the one given); retried client ids are
    stored once. On a provider channel the reply is queued in the outbox in the same
    transaction (Invalid: nobody sends on that channel; Conflict: no address for it, or
    outside its service window). A `template` (WhatsApp) goes instead of free text."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        _may_write(principal, thread)
        if existing := await find_by_client_id(uow.session, thread.id, client_msg_id):
            return existing
        reply_channel = channel or await _last_customer_channel(uow.session, thread.id) or "chat"
        if template and reply_channel == "chat":
            raise Invalid("templates cannot be sent on chat")
        if attachments and reply_channel == "chat":
            raise Invalid("files cannot be sent on chat yet: send a link")
        data: dict[str, Any] = {}
        if template:
            data["template"] = template
        if attachments:
            data["attachments"] = attachments
        event = agent_event(
            uow,
            thread,
            principal,
            "message",
            channel=reply_channel,
            body=body or (_template_text(template) if template else None),
            client_msg_id=client_msg_id,
            data=data or None,
        )
        # the channel's outbox queues it in this transaction (a MessageSent handler)
        uow.emit(
            MessageSent(
                org_id=thread.org_id,
                thread_id=thread.id,
                customer_id=thread.customer_id,
                agent_id=principal.agent_id,
                channel=reply_channel,
                seq=event.seq,
                body=event.body,
                attachments=len(attachments or ()),
            )
        )
        if thread.status in ("assigned", "queued"):
            thread.status = "waiting_customer" if thread.assigned_agent_id else thread.status
        thread.agent_read_seq = thread.last_seq
    return event


MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # above what any channel sends (email: 25 MB)


async def do_upload(
    ctx: Context, principal: Principal, thread_id: str, data: bytes, filename: str, kind: str
) -> dict[str, Any]:
    """Keep a file an agent will send in this thread; returns what a reply names it by.
    Stored by its SHA-256 (the same file twice is kept once); the channel's limits are
    checked when the reply is queued."""
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
    if thread is None or thread.org_id != principal.org_id:
        raise NotFound("no such thread")
    _may_write(principal, thread)
    if not data:
        raise Invalid("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(f"files are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    sha256 = await media_store(ctx.settings).put(data)
    name = filename.replace("/", "_").replace("\\", "_").strip()[:255] or "attachment"
    return {"sha256": sha256, "filename": name, "content_type": kind, "size": len(data)}


def _template_text(template: dict[str, Any]) -> str:
    """How a template message reads on the timeline (its text is kept at the provider)."""
    params = ", ".join(template.get("params") or ())
    return f"Template {template.get('name')} ({template.get('language')})" + (
        f": {params}" if params else ""
    )


async def do_add_note(ctx: Context, principal: Principal, thread_id: str, body: str) -> ThreadEvent:
    """An internal note: on the timeline for agents, never shown to the customer."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        return agent_event(uow, thread, principal, "note", body=body)


async def _last_customer_channel(session: AsyncSession, thread_id: str) -> str | None:
    return await session.scalar(
        select(ThreadEvent.channel)
        .where(
            ThreadEvent.thread_id == thread_id,
            ThreadEvent.author_type == "customer",
            ThreadEvent.kind == "message",
        )
        .order_by(ThreadEvent.seq.desc())
        .limit(1)
    )


async def do_mark_read(
    ctx: Context, org_id: str, thread_id: str, by: str, seq: int, pointer: str = "read"
) -> Thread:
    """Move a read/delivered pointer forward ("has everything up to seq"); never backwards."""
    fields = {
        ("customer", "read"): ("customer_read_seq", "customer_delivered_seq"),
        ("customer", "delivered"): ("customer_delivered_seq",),
        ("agent", "read"): ("agent_read_seq",),
    }.get((by, pointer))
    if fields is None:
        raise Invalid(f"no {pointer} pointer for {by}")
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, org_id, thread_id)
        seq = min(seq, thread.last_seq)
        moved = [field for field in fields if seq > getattr(thread, field)]
        for field in moved:
            setattr(thread, field, seq)
        if moved:
            uow.emit(
                ReceiptMoved(
                    org_id=org_id,
                    thread_id=thread_id,
                    customer_id=thread.customer_id,
                    agent_id=thread.assigned_agent_id,
                    by=by,
                    pointer=pointer,
                    read_seq=seq,
                )
            )
    return thread


async def get_current_thread_id(ctx: Context, org_id: str, customer_id: str) -> str | None:
    async with ctx.db.sessions() as session:
        thread = await current_thread(session, org_id, customer_id)
    return thread.id if thread else None
