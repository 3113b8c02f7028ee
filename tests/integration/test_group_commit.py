"""Inbound messages arriving together are written together (channels/inbound.py's group
commit): one transaction for the batch, every message stored once and answered with its own
entry, and a message the batch cannot take (a refused one, a retry of another) costs the
others nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_world
from tests.integration.test_chat_statements import every_statement
from threadline.channels.chat.schemas import SessionIn
from threadline.channels.chat.services import do_open_session, do_visitor_message, visitor_session
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.context import Context
from threadline.db import across_orgs
from threadline.errors import Conflict
from threadline.threads.models import ThreadEvent


async def _visitors(ctx: Context, key: str, count: int) -> list[Any]:
    """Visitors whose thread (and contact) their first message, sent alone, opened."""
    sessions = []
    for _ in range(count):
        opened = await do_open_session(ctx, key, SessionIn(locale="en"))
        session = await visitor_session(ctx, key, opened.visitor_token)
        await do_visitor_message(ctx, session, "hello", str(uuid.uuid4()))
        sessions.append(session)
    return sessions


async def _stored(ctx: Context, **where: Any) -> list[ThreadEvent]:
    with across_orgs():
        async with ctx.db.sessions() as session:
            query = select(ThreadEvent).filter_by(**where).order_by(ThreadEvent.seq)
            return list(await session.scalars(query))


async def test_messages_sent_together_are_one_transaction(ctx: Context) -> None:
    world = await make_world(ctx)
    visitors = await _visitors(ctx, world.widget.key, 8)
    with every_statement(ctx) as seen:
        ingested = await asyncio.gather(
            *(do_visitor_message(ctx, v, f"question {i}", f"c-{i}") for i, v in enumerate(visitors))
        )
    # queued before the writer ran: one batch, so one append to the event log (the
    # transaction's last write), where each message alone would make one
    assert len([s for s in seen if s.startswith("INSERT INTO event_log")]) == 1, seen
    # ongoing chats (a thread with its contact open): the customers and threads read
    # together, the entries and the threads' counters written together
    assert len([s for s in seen if s.startswith("INSERT INTO thread_events")]) == 1, seen
    assert len([s for s in seen if s.startswith("UPDATE threads")]) == 1, seen
    reads = [s for s in seen if s.startswith("SELECT customers.")]
    assert len(reads) == 1, seen
    for i, (visitor, got) in enumerate(zip(visitors, ingested, strict=True)):
        assert got.created and got.event.body == f"question {i}"
        assert got.event.client_msg_id == f"c-{i}"
        assert got.thread.customer_id == visitor.customer_id
        rows = await _stored(ctx, thread_id=got.thread.id)
        assert [r.body for r in rows if r.author_type == "customer"] == ["hello", f"question {i}"]
        assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
        (row,) = [r for r in rows if r.body == f"question {i}"]
        assert (row.id, row.seq) == (got.event.id, got.event.seq)  # the entry as stored
        assert got.thread.last_seq == row.seq


async def test_a_refused_message_costs_its_batch_nothing(ctx: Context) -> None:
    world = await make_world(ctx)
    visitors = await _visitors(ctx, world.widget.key, 3)
    stranger = InboundMessage(
        channel="chat", identity_kind="visitor", identity_value="v-x", body="let me in"
    )
    results = await asyncio.gather(
        do_visitor_message(ctx, visitors[0], "first", "a-1"),
        do_ingest(ctx, world.widget, stranger, customer_id=str(uuid.uuid4())),
        do_visitor_message(ctx, visitors[1], "second", "a-2"),
        do_visitor_message(ctx, visitors[2], "third", "a-3"),
        return_exceptions=True,
    )
    assert isinstance(results[1], Conflict)  # its own error, and only its own
    for got, body in zip((results[0], *results[2:]), ("first", "second", "third"), strict=True):
        assert not isinstance(got, BaseException), got
        assert got.created and got.event.body == body
        assert [r.body for r in await _stored(ctx, thread_id=got.thread.id)].count(body) == 1


@pytest.mark.parametrize("twice", ["client", "provider"])
async def test_a_retry_in_the_same_batch_is_stored_once(ctx: Context, twice: str) -> None:
    """A widget that resends before its ack, a provider that retries its webhook at once:
    both copies may land in one batch; the message is stored once and both are answered
    with that one entry."""
    world = await make_world(ctx)
    (visitor,) = await _visitors(ctx, world.widget.key, 1)
    if twice == "client":
        sends = [do_visitor_message(ctx, visitor, "once only", "dup-1") for _ in range(2)]
    else:
        message = InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value=visitor.visitor.visitor_id,
            body="once only",
            provider_msg_id="p-dup-1",
        )
        sends = [
            do_ingest(ctx, world.widget, message, customer_id=visitor.customer_id) for _ in range(2)
        ]
    other = do_visitor_message(ctx, (await _visitors(ctx, world.widget.key, 1))[0], "else", "o")
    first, second, third = await asyncio.gather(*sends, other)
    assert first.event.id == second.event.id
    assert sorted([first.created, second.created]) == [False, True]
    assert third.created and third.event.body == "else"
    with across_orgs():
        async with ctx.db.sessions() as session:
            copies = await session.scalar(
                select(func.count()).where(ThreadEvent.body == "once only")
            )
    assert copies == 1
