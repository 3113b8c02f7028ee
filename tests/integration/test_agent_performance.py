"""Agent performance through the reports API (SQLite and PostgreSQL): a morning of three
contacts, two agents, a transfer, staffed time and survey answers, counted through the same
folds the live consumer uses, read back with group_by=agent against figures worked out by
hand: contacts handled, AHT, ASA of their own answers, transfer rate, occupancy, CSAT, CES.

C1  enqueued 09:00:00, Rui answers 09:00:10 (wait 10 s), resolves 09:05:10 (talk 300 s)
C2  enqueued 09:10:00, Rui answers 09:10:30 (wait 30 s), transfers 09:14:30 (talk 240 s);
    Olga accepts 09:15:00, resolves 09:21:00 (talk 360 s)
C3  enqueued 09:20:00, Olga answers 09:20:20 (wait 20 s), resolves 09:22:40 (talk 140 s)
Rui available 09:00-10:00 (3,600 s staffed), Olga 09:00-09:30 (1,800 s).
Surveys: C1 CSAT 5 and CES 6 (Rui's); C2 CSAT 3, C3 CSAT 4 and CES 2 (Olga's).

Rui:  answered 2, ASA (10+30)/2 = 20 s, handled 2, AHT (300+240)/2 = 270 s, transfers 1 of 2
      answered = 50 %, occupancy 540/3,600 = 15 %, CSAT 1/1 = 100 %, CES 6 (easy 100 %).
Olga: answered 1, ASA 20 s, handled 2, AHT (360+140)/2 = 250 s, transfers 0 of 1 = 0 %,
      occupancy 500/1,800 = 27.8 %, CSAT 1/2 = 50 % (3 is not satisfied), CES 2 (easy 0 %).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Running, World, login
from threadline.analytics import aggregates, kpi
from threadline.analytics.models import contact_intervals, event_intervals

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


def _contact(
    world: World, cid: str, enqueued: datetime, ended: datetime, last: str
) -> kpi.ContactRow:
    return kpi.ContactRow(
        id=cid,
        customer_id=f"cust-{cid}",
        queue_id=world.queues["general"].id,
        channel="chat",
        status="resolved",
        reason="card",
        wrapup_reason=None,
        agent_id=last,
        enqueued_at=enqueued,
        ended_at=ended,
    )


def a_morning(world: World) -> tuple[kpi.Deltas, kpi.Deltas]:
    rui, olga = world.agents["rui"].id, world.agents["olga"].id

    def entry(seq: int, kind: str, who: str, moment: datetime) -> kpi.Entry:
        return kpi.Entry(seq, kind, "agent", who, moment)

    contacts = [
        (
            _contact(world, "c1", at(9, 0), at(9, 5, 10), rui),
            [entry(1, "assigned", rui, at(9, 0, 10)), entry(2, "resolved", rui, at(9, 5, 10))],
        ),
        (
            _contact(world, "c2", at(9, 10), at(9, 21), olga),
            [
                entry(1, "assigned", rui, at(9, 10, 30)),
                entry(2, "transferred", rui, at(9, 14, 30)),
                entry(3, "assigned", olga, at(9, 15)),
                entry(4, "resolved", olga, at(9, 21)),
            ],
        ),
        (
            _contact(world, "c3", at(9, 20), at(9, 22, 40), olga),
            [entry(1, "assigned", olga, at(9, 20, 20)), entry(2, "resolved", olga, at(9, 22, 40))],
        ),
    ]
    counted: kpi.Deltas = {}
    facts = {}
    for row, entries in contacts:
        fact = kpi.build_facts(row, entries, target_s=20)
        assert fact is not None
        facts[row.id] = fact
        kpi.fold_contact(counted, fact)
    events: kpi.Deltas = {}
    kpi.fold_presence(events, rui, "available", at(9, 0), at(10, 0))
    kpi.fold_presence(events, olga, "available", at(9, 0), at(9, 30))
    for cid, kind, score in (
        ("c1", "csat", 5),
        ("c1", "ces", 6),
        ("c2", "csat", 3),
        ("c3", "csat", 4),
        ("c3", "ces", 2),
    ):
        fact = facts[cid]
        key = (fact.enqueued_at, fact.queue_id, fact.channel, fact.last_agent_id, fact.reason)
        kpi.fold_survey(events, fact.ended_at + timedelta(minutes=2), key, kind, score)
    return counted, events


async def test_agent_performance_matches_the_hand_computed_figures(
    server: Running, world: World
) -> None:
    counted, events = a_morning(world)
    async with server.ctx.uow() as uow:
        await aggregates.add(uow, contact_intervals, world.org_id, counted)
        await aggregates.add(uow, event_intervals, world.org_id, events)
    nikos = await login(server, "nikos@example.com")
    params = {"from": "2026-11-02", "to": "2026-11-03", "group_by": "agent", "tz": "UTC"}
    response = await nikos.get("/api/v1/reports", params=params)
    assert response.status_code == 200, response.text
    by_agent = {r["label"]: r for r in response.json()["rows"]}
    assert set(by_agent) == {"Rui", "Olga"}
    rui, olga = by_agent["Rui"], by_agent["Olga"]

    assert (rui["answered"], rui["handled"], rui["transfers"], rui["resolved"]) == (2, 2, 1, 1)
    assert rui["asa_s"] == pytest.approx(20)
    assert rui["aht_s"] == pytest.approx(270)
    assert rui["transfer_rate"] == pytest.approx(0.5)
    assert rui["occupancy"] == pytest.approx(540 / 3600)
    assert (rui["csat"], rui["csat_answers"]) == (1.0, 1)
    assert (rui["ces"], rui["ces_easy"], rui["ces_answers"]) == (6.0, 1.0, 1)

    assert (olga["answered"], olga["handled"], olga["transfers"], olga["resolved"]) == (1, 2, 0, 2)
    assert olga["asa_s"] == pytest.approx(20)
    assert olga["aht_s"] == pytest.approx(250)
    assert olga["transfer_rate"] == 0
    assert olga["occupancy"] == pytest.approx(500 / 1800)
    assert (olga["csat"], olga["csat_answers"]) == (0.5, 2)
    assert (olga["ces"], olga["ces_easy"], olga["ces_answers"]) == (2.0, 0.0, 1)

    # one agent's own figures (read from the 15-minute rows, not the daily roll-ups) agree,
    # and an agent reads only their own
    alone = await nikos.get(
        "/api/v1/reports", params={**params, "agent_id": world.agents["rui"].id}
    )
    assert alone.json()["rows"] == [pytest.approx(rui)]
    olga_client = await login(server, "olga@example.com")
    mine = (await olga_client.get("/api/v1/reports", params=params)).json()
    assert [r["label"] for r in mine["rows"]] == ["Olga"]
    assert mine["rows"][0] == pytest.approx(olga)
    await nikos.aclose()
    await olga_client.aclose()
