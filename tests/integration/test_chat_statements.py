"""What one chat message costs the database: the statements of a visitor's message once
their thread exists (the hot path of bench/chat_ingest.py), counted on the real engine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from tests.conftest import make_world
from threadline.channels.chat.schemas import SessionIn
from threadline.channels.chat.services import (
    do_open_session,
    do_visitor_message,
    visitor_session,
)
from threadline.context import Context
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import timeline


@contextmanager
def statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []
    mine = asyncio.current_task()  # not the timers' nor the routing's statements meanwhile
    engines = [ctx.db.engine.sync_engine]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if asyncio.current_task() is mine:
            seen.append(" ".join(statement.split())[:80])

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_a_message_in_an_open_thread_is_few_statements(ctx: Context) -> None:
    world = await make_world(ctx)
    opened = await do_open_session(ctx, world.widget.key, SessionIn(locale="en"))
    session = await visitor_session(ctx, world.widget.key, opened.visitor_token)
    first = await do_visitor_message(ctx, session, "hello", str(uuid.uuid4()))
    assert first.opened  # the first message queues a contact
    with statements(ctx) as seen:
        last = first.event.seq
        for n in range(5):
            ingested = await do_visitor_message(ctx, session, f"again {n}", str(uuid.uuid4()))
            assert ingested.created and ingested.event.seq > last
            last = ingested.event.seq
    # the customer, thread and open contact in one SELECT (BEGIN IMMEDIATE on SQLite; the
    # contact after the locks on PostgreSQL), the thread's counter, the entry, the log row
    assert len(seen) <= 5 * 5, seen


async def test_a_message_in_an_open_thread_is_stored_once_and_moves_the_thread(
    ctx: Context,
) -> None:
    """The open-thread path writes with plain statements: a retried client id still finds
    the stored entry, the thread's counter and status move, and the timeline agrees."""
    world = await make_world(ctx)
    opened = await do_open_session(ctx, world.widget.key, SessionIn(locale="en"))
    session = await visitor_session(ctx, world.widget.key, opened.visitor_token)
    first = await do_visitor_message(ctx, session, "hello", str(uuid.uuid4()))
    assert first.opened
    async with ctx.uow() as uow:  # as after an agent's reply: the thread waits for them
        thread = await uow.lock_existing(Thread, first.thread.id)
        thread.status = "waiting_customer"
        before = thread.last_seq
    client_id = str(uuid.uuid4())
    stored = await do_visitor_message(ctx, session, "once", client_id)
    again = await do_visitor_message(ctx, session, "once", client_id)
    assert stored.created and not again.created
    assert again.event.id == stored.event.id and again.event.seq == stored.event.seq
    assert stored.event.seq == before + 1
    assert stored.event.contact_id == first.opened
    async with ctx.db.sessions() as read:
        row = await read.get(Thread, first.thread.id)
        bodies = list(
            await read.scalars(
                select(ThreadEvent.body).where(
                    ThreadEvent.thread_id == first.thread.id, ThreadEvent.client_msg_id == client_id
                )
            )
        )
    assert row is not None
    assert bodies == ["once"]
    assert row.last_seq == stored.event.seq
    assert row.status == "assigned"
    assert row.updated_at == stored.event.created_at
    entries = await timeline(ctx, world.org_id, thread_id=first.thread.id, after_seq=before)
    assert [(e.seq, e.body, e.id) for e in entries] == [(stored.event.seq, "once", stored.event.id)]
