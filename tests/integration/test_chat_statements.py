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
    _new_visitors,
    do_open_session,
    do_visitor_message,
    visitor_session,
)
from threadline.channels.inbound import _group_commit
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import across_orgs
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import timeline


@contextmanager
def statements(ctx: Context) -> Iterator[list[str]]:
    seen: list[str] = []
    mine = asyncio.current_task()  # not the timers' nor the routing's statements meanwhile
    # an inbound message is written by its organisation's group-commit writer (inbound.py)
    writers = _group_commit(ctx).tasks
    engines = [ctx.db.engine.sync_engine]

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        task = asyncio.current_task()
        if task is mine or task in writers:
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


@contextmanager
def every_statement(ctx: Context) -> Iterator[list[str]]:
    """Every statement on the writer's engine, whichever task runs it."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split())[:80])

    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", record)


async def test_new_visitors_arriving_together_are_written_together(ctx: Context) -> None:
    """A burst of new visitors: their customers and identities are one write, not one each;
    every session then finds its own customer (its socket's auth), in the browser's
    language and time zone."""
    world = await make_world(ctx)
    key = world.widget.key
    with every_statement(ctx) as seen:
        opened = await asyncio.gather(
            *(
                do_open_session(ctx, key, SessionIn(locale="pt-PT", timezone="Europe/Lisbon"))
                for _ in range(10)
            )
        )
    assert len({o.customer_id for o in opened}) == 10
    assert len({o.visitor_token for o in opened}) == 10
    # how many join one write depends on timing (those that come while one commits): at most
    # one each; the grouping itself is shown deterministically below
    inserts = [s for s in seen if s.startswith("INSERT INTO customers")]
    assert 1 <= len(inserts) <= 10, seen
    for o in opened:
        assert o.thread_id is None and o.events == [] and o.wait is None and o.language == "pt"
        session = await visitor_session(ctx, key, o.visitor_token)
        assert session.customer_id == o.customer_id
    with across_orgs():
        async with ctx.db.sessions() as db:
            customer = await db.get(Customer, opened[0].customer_id)
    assert customer is not None
    assert (customer.language, customer.timezone) == ("pt", "Europe/Lisbon")
    # arrivals queued before the writer runs are one INSERT of customers and one of identities
    together = [Customer(id=str(uuid.uuid4()), org_id=world.org_id) for _ in range(10)]
    with every_statement(ctx) as seen:
        await asyncio.gather(*(_new_visitors(ctx).write(c, f"v-{c.id}") for c in together))
    assert len([s for s in seen if s.startswith("INSERT INTO customers")]) == 1, seen
    assert len([s for s in seen if s.startswith("INSERT INTO identities")]) == 1, seen
    # the returning visitor (their token) is the same customer, not a new one, and reads only
    returning = SessionIn(visitor_token=opened[3].visitor_token, timezone="Europe/Madrid")
    with statements(ctx) as seen:  # its own (the timers' may write meanwhile)
        again = await do_open_session(ctx, key, returning)
    assert again.customer_id == opened[3].customer_id
    writes = ("INSERT", "UPDATE", "DELETE", "BEGIN IMMEDIATE")
    assert not [s for s in seen if s.startswith(writes)], seen


async def test_a_returning_visitor_time_zone_is_remembered_once(ctx: Context) -> None:
    """A returning visitor whose customer has no time zone yet: it is written (once)."""
    world = await make_world(ctx)
    key = world.widget.key
    first = await do_open_session(ctx, key, SessionIn(locale="en"))
    again = SessionIn(visitor_token=first.visitor_token, timezone="Europe/Athens")
    assert (await do_open_session(ctx, key, again)).customer_id == first.customer_id
    with across_orgs():
        async with ctx.db.sessions() as db:
            customer = await db.get(Customer, first.customer_id)
    assert customer is not None and customer.timezone == "Europe/Athens"
    later = SessionIn(visitor_token=first.visitor_token, timezone="Asia/Tokyo")
    await do_open_session(ctx, key, later)
    with across_orgs():
        async with ctx.db.sessions() as db:
            customer = await db.get(Customer, first.customer_id)
    assert customer is not None and customer.timezone == "Europe/Athens"  # the first one kept


async def test_a_group_that_cannot_be_written_fails_only_its_own_sessions(ctx: Context) -> None:
    """One transaction per organisation in a group: a write refused for one (here, an
    organisation that does not exist) fails its sessions, and the others' are stored."""
    world = await make_world(ctx)
    writer = _new_visitors(ctx)
    good = Customer(id=str(uuid.uuid4()), org_id=world.org_id)
    orphan = Customer(id=str(uuid.uuid4()), org_id=str(uuid.uuid4()))
    results = await asyncio.gather(
        writer.write(good, str(uuid.uuid4())),
        writer.write(orphan, str(uuid.uuid4())),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], Exception)
    with across_orgs():
        async with ctx.db.sessions() as db:
            assert await db.get(Customer, good.id) is not None
            assert await db.get(Customer, orphan.id) is None


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


async def test_a_new_visitor_first_message_writes_each_row_once(ctx: Context) -> None:
    """A new visitor's first message opens their thread and a contact: the customer is read
    once (SQLite; PostgreSQL reads the thread again under the customer's lock), and the
    thread, its two entries and the contact are each written once, with their final values
    (no UPDATE of a row the same transaction has just inserted)."""
    world = await make_world(ctx)
    opened = await do_open_session(ctx, world.widget.key, SessionIn(locale="en"))
    session = await visitor_session(ctx, world.widget.key, opened.visitor_token)
    with statements(ctx) as seen:
        first = await do_visitor_message(ctx, session, "hello", str(uuid.uuid4()))
    assert first.created and first.opened
    # after the commit, routing reads the contact it places (not this transaction's work)
    mine = [s for s in seen if not s.startswith("SELECT contacts.id, contacts.org_id")]
    reads = [s.split()[1].split(".")[0] for s in mine if s.startswith("SELECT")]
    writes = [s.split()[2] for s in mine if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    if ctx.db.dialect == "sqlite":
        # the customer with their (missing) thread in one read, the queue
        assert reads == ["customers", "queues"], seen
    else:
        # the customer and thread join (no thread), the customer locked, its thread looked
        # for under that lock, the queue
        assert reads == ["customers", "customers", "threads", "queues"], seen
    assert not [s for s in mine if s.startswith(("UPDATE", "DELETE"))], seen
    assert writes.count("threads") == 1 and writes.count("contacts") == 1, seen
    assert writes.count("event_log") == 1 and set(writes) <= {
        "threads",
        "thread_events",
        "contacts",
        "event_log",
    }, seen
    assert len(mine) <= 8, seen  # 14 (BEGIN IMMEDIATE included) and 13 before
    # what was written is what the transaction meant: the entries name the contact, the
    # thread holds its counter, queue, channel and last activity
    entries = await timeline(ctx, world.org_id, thread_id=first.thread.id)
    assert [(e.seq, e.kind, e.contact_id) for e in entries[:2]] == [
        (1, "message", first.opened),
        (2, "queued", first.opened),
    ]
    assert first.event.id == entries[0].id and first.event.contact_id == first.opened
    async with ctx.db.sessions() as read:
        thread = await read.get(Thread, first.thread.id)
    assert thread is not None
    assert thread.last_seq == entries[-1].seq >= 2
    assert (thread.queue_id, thread.channel) == (world.widget.queue_id, "chat")
    assert thread.language == "en" and thread.customer_id == opened.customer_id
    assert thread.created_at <= entries[0].created_at
    if len(entries) == 2:  # nobody was offered it yet: its last activity is the queued entry
        assert thread.updated_at == entries[1].created_at and thread.status == "queued"
