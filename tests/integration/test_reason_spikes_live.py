"""A contact reason's spike reaches the supervisors' stream live (SQLite and PostgreSQL): the
`reason.spiked` event the reasons consumer emits is a frame on every supervisor's
/api/v1/stream of the organisation (the dashboard flags the reason with it), and not on an
agent's."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Running, World, eventually, login
from tests.integration.test_reports import accept, presence, resolve, writes
from tests.integration.test_stream_fanout import _desk, _until_sentinel
from threadline.db import utcnow
from threadline.routing.models import Contact

CARDS = {"code": "cards", "labels": {"en": "Cards"}}
CARD_LOST = {
    "code": "card_lost",
    "parent": "cards",
    "labels": {"en": "Lost or stolen card", "pt": "Cartão perdido ou roubado"},
    "wrapup": ["lost-card"],
}


async def reason_of(server: Running, thread_id: str) -> str | None:
    async with server.ctx.db.sessions() as session:
        return await session.scalar(
            select(Contact.reason_code).where(
                Contact.thread_id == thread_id, Contact.status == "resolved"
            )
        )


async def a_quiet_history(server: Running, world: World, agent: httpx.AsyncClient) -> None:
    """The taxonomy (card_lost, wrap-up "lost-card"), one contact resolved as a lost card
    now, one on this weekday of each of the last 8 weeks and 6 more today: 7 today against
    an expected 1 (limit 4). The next lost card makes 8: a spike."""
    admin = await login(server, "admin@example.com")
    for body in (CARDS, CARD_LOST):
        response = await admin.post("/api/v1/reasons", json=body)
        assert response.status_code == 201, response.text
    await admin.aclose()
    await presence(agent, "available")
    first = await writes(server, world, "v1", "I lost my card")
    await accept(agent, first)
    await resolve(agent, first, "lost-card")
    assert await eventually(lambda: reason_of(server, first)) == "card_lost"
    now = utcnow()
    async with server.ctx.uow() as uow:
        template = await uow.session.scalar(select(Contact).where(Contact.thread_id == first))
        assert template is not None
        for moment in [now - timedelta(weeks=w) for w in range(1, 9)] + [now] * 6:
            uow.session.add(
                Contact(
                    org_id=world.org_id,
                    thread_id=template.thread_id,
                    customer_id=template.customer_id,
                    queue_id=template.queue_id,
                    channel="chat",
                    status="resolved",
                    enqueued_at=moment,
                    ended_at=moment,
                    reason_code="card_lost",
                    reason_source="wrapup",
                )
            )


async def one_more_lost_card(server: Running, world: World, agent: httpx.AsyncClient) -> None:
    thread = await writes(server, world, "v2", "my card was stolen")
    await accept(agent, thread)
    await resolve(agent, thread, "lost-card")


async def _frame(ws: Any, wanted: str, timeout: float = 8) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return dict(frame)

    return await asyncio.wait_for(_loop(), timeout)


async def test_a_spike_reaches_supervisors_streams_and_no_agents(
    server: Running, world: World
) -> None:
    rui = await login(server, "rui@example.com")
    nikos = await login(server, "nikos@example.com")
    await a_quiet_history(server, world, rui)
    supervisor_ws, agent_ws = await _desk(server, nikos), await _desk(server, rui)
    try:
        await one_more_lost_card(server, world, rui)
        frame = await _frame(supervisor_ws, "reason.spiked")
        assert frame["reason"] == "card_lost" and frame["org_id"] == world.org_id
        assert (frame["count"], frame["expected"], frame["limit"]) == (8, 1.0, 4.0)
        alerts = (await nikos.get("/api/v1/reasons/alerts")).json()
        assert [a["reason"] for a in alerts] == ["card_lost"]
        # the agent's stream: everything up to a sentinel every desktop receives
        await presence(rui, "away")
        seen = await asyncio.wait_for(_until_sentinel(agent_ws, "away"), 8)
        assert all(f["type"] != "reason.spiked" for f in seen), seen
    finally:
        await supervisor_ws.close()
        await agent_ws.close()
        await rui.aclose()
        await nikos.aclose()
