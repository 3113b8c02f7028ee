"""The chat path after issue 10: a visitor's messages are stored once and in order by the
one-statement read of their customer and thread, and the waits refreshed together from a
queue's change are the views computed in full."""

from __future__ import annotations

import asyncio

from sqlalchemy import select, update

from tests.conftest import CALLBACK_POLICY, make_world
from threadline.channels.chat.schemas import SessionIn
from threadline.channels.chat.services import (
    VisitorSession,
    do_open_session,
    do_visitor_message,
    visitor_session,
)
from threadline.context import Context
from threadline.journey.schemas import CustomerWaitOut
from threadline.journey.services import customer_wait, refresh_views, waiting_now, withdraw
from threadline.routing.models import Queue
from threadline.threads.models import ThreadEvent


async def _visitor(ctx: Context, key: str) -> VisitorSession:
    opened = await do_open_session(ctx, key, SessionIn(locale="en"))
    return await visitor_session(ctx, key, opened.visitor_token)


async def test_messages_are_stored_once_and_in_order(ctx: Context) -> None:
    world = await make_world(ctx)
    visitor = await _visitor(ctx, world.widget.key)
    first = await do_visitor_message(ctx, visitor, "my card was declined", "m1")
    assert first.created and first.opened is not None  # the first one opens a contact
    again = await do_visitor_message(ctx, visitor, "my card was declined", "m1")
    assert not again.created and again.event.id == first.event.id
    # concurrent messages, one of them a retry: each stored once, seqs without a gap
    results = await asyncio.gather(
        *(do_visitor_message(ctx, visitor, f"line {i}", f"m{i}") for i in (2, 3, 4, 5, 3))
    )
    assert sum(r.created for r in results) == 4
    assert all(r.opened is None for r in results)  # the open contact was found
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(ThreadEvent.seq, ThreadEvent.client_msg_id, ThreadEvent.contact_id)
                .where(ThreadEvent.thread_id == first.thread.id, ThreadEvent.kind == "message")
                .order_by(ThreadEvent.seq)
            )
        ).all()
    assert sorted(r.client_msg_id for r in rows) == ["m1", "m2", "m3", "m4", "m5"]
    seqs = [r.seq for r in rows]
    assert seqs == sorted(set(seqs)) and seqs[0] == first.event.seq
    assert {r.contact_id for r in rows} == {first.opened}


async def test_waits_refreshed_from_the_queue_are_the_views_computed_in_full(
    ctx: Context,
) -> None:
    world = await make_world(ctx)  # nobody is available: everyone waits
    queue_id = world.widget.queue_id
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.id == queue_id).values(callback_policy=CALLBACK_POLICY)
        )
    visitors = [await _visitor(ctx, world.widget.key) for _ in range(3)]
    for number, visitor in enumerate(visitors):
        await do_visitor_message(ctx, visitor, "hello, anyone?", f"hello-{number}")
    org_id = world.org_id
    full = {v.customer_id: (await customer_wait(ctx, org_id, v.customer_id)).view for v in visitors}
    assert [view.position if view else None for view in full.values()] == [1, 2, 3]
    assert all(view and view.callback_offer for view in full.values())
    shown = {key: view for key, view in full.items() if view is not None}
    assert await refresh_views(ctx, org_id, shown) == full
    # a contact that just started waiting (only its id known, from routing's event): the
    # batched refresh fills its view as the full computation does, number included
    blank = {key: CustomerWaitOut(contact_id=view.contact_id) for key, view in shown.items()}
    assert await refresh_views(ctx, org_id, blank) == full
    seeded_contacts, seeded_callbacks = await waiting_now(ctx)
    assert {(o, cu, c) for o, cu, c, _q in seeded_contacts} == {
        (org_id, key, view.contact_id) for key, view in shown.items()
    }
    assert seeded_callbacks == []

    # the first one leaves the line: the others move up, the first must be computed in full
    first = visitors[0].customer_id
    assert full[first] is not None and full[first].contact_id is not None
    await withdraw(ctx, org_id, full[first].contact_id, "booked a callback")
    refreshed = await refresh_views(ctx, org_id, shown)
    assert refreshed[first] is None
    for visitor in visitors[1:]:
        again = (await customer_wait(ctx, org_id, visitor.customer_id)).view
        assert refreshed[visitor.customer_id] == again
        assert again is not None and again.position == visitors.index(visitor)
