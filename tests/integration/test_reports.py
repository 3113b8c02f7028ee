"""KPI counters and reports end to end (SQLite and PostgreSQL): contacts go through the real
routing engine and API, the durable consumer counts them, the reports API returns the
hand-checked figures; a rebuild from the raw history equals the live counters; roles,
organisations, CSV and Parquet."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, Running, World, eventually, login
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.analytics import kpi
from threadline.analytics.aggregates import rebuild
from threadline.analytics.models import contact_intervals, event_intervals, rollups
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import do_ingest
from threadline.db import utcnow
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact

NO_SHORT = {"short_abandon_s": 0}  # the test's abandon waits a few milliseconds


async def writes(server: Running, world: World, visitor: str, text: str) -> str:
    ingested = await do_ingest(
        server.ctx,
        world.widget,
        InboundMessage(
            channel="chat",
            identity_kind="visitor",
            identity_value=visitor,
            body=text,
            client_msg_id=f"{visitor}-{text}",
        ),
    )
    return ingested.thread.id


async def offer_for(agent: httpx.AsyncClient, thread_id: str) -> dict[str, Any] | None:
    offers = (await agent.get("/api/v1/offers")).json()
    return next((o for o in offers if o["thread_id"] == thread_id), None)


async def accept(agent: httpx.AsyncClient, thread_id: str) -> None:
    offer = await eventually(lambda: offer_for(agent, thread_id))
    response = await agent.post(f"/api/v1/offers/{offer['id']}/accept")
    assert response.status_code == 200, response.text


async def resolve(agent: httpx.AsyncClient, thread_id: str, reason: str) -> None:
    response = await agent.post(f"/api/v1/threads/{thread_id}/resolve", json={"reason": reason})
    assert response.status_code == 200, response.text


async def presence(agent: httpx.AsyncClient, value: str) -> None:
    response = await agent.put("/api/v1/agents/me/presence", json={"presence": value})
    assert response.status_code == 200, response.text


async def a_day_of_contacts(server: Running, world: World) -> None:
    """C1: Rui answers and resolves (card). C2: Rui answers, transfers to Olga, who resolves
    (loan). C3: the first customer again, Rui resolves (card): C1 was not first-contact
    resolved. C4: nobody is free, the customer leaves."""
    rui = await login(server, "rui@example.com")
    olga = await login(server, "olga@example.com")
    await presence(rui, "available")
    first = await writes(server, world, "v1", "my card is lost")
    await accept(rui, first)
    await resolve(rui, first, "card")
    second = await writes(server, world, "v2", "a loan please")
    await accept(rui, second)
    await presence(olga, "available")
    moved = await rui.post(
        f"/api/v1/threads/{second}/transfer", json={"agent_id": world.agents["olga"].id}
    )
    assert moved.status_code == 200, moved.text
    await accept(olga, second)
    await resolve(olga, second, "loan")
    await presence(olga, "away")
    await writes(server, world, "v1", "the card again")
    await accept(rui, first)
    await resolve(rui, first, "card")
    await presence(rui, "away")
    gone = await writes(server, world, "v3", "hello?")
    async with server.ctx.uow() as uow:
        contact = await uow.session.scalar(
            select(Contact).where(Contact.thread_id == gone, Contact.status == "queued")
        )
        assert contact is not None
        assert await server.ctx.routing.abandon(uow, contact, "the customer left")
    await rui.aclose()
    await olga.aclose()


async def report(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    now = kpi.bucket_of(utcnow())
    query = {"from": (now - timedelta(hours=1)).isoformat(), "to": (now + kpi.BUCKET).isoformat()}
    response = await client.get("/api/v1/reports", params={**query, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def counted(server: Running, offered: float) -> bool:
    async with server.ctx.db.sessions() as session:
        total = await session.scalar(select(contact_intervals.c.offered))
        rows = (await session.execute(select(contact_intervals.c.offered))).all()
    return total is not None and sum(r[0] for r in rows) == offered


async def snapshot(server: Running) -> dict[str, dict[tuple[Any, ...], list[float]]]:
    """Every counter row, by table and key (the sums may differ in the last float bit with
    the order they were added in)."""
    out = {}
    async with server.ctx.db.sessions() as session:
        for table in (contact_intervals, event_intervals, rollups):
            rows = (await session.execute(select(table))).all()
            out[table.name] = {
                tuple(v for v in row if not isinstance(v, float)): [
                    v for v in row if isinstance(v, float)
                ]
                for row in rows
            }
    return out


def same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    return all(
        one[t].keys() == other[t].keys()
        and all(one[t][k] == pytest.approx(other[t][k], abs=1e-6) for k in one[t])
        for t in one
    )


async def test_contacts_land_in_the_reports_with_hand_checked_figures(
    server: Running, world: World
) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    nikos = await login(server, "nikos@example.com")

    by_queue = await report(nikos, group_by="queue", **NO_SHORT)
    assert [r["label"] for r in by_queue["rows"]] == ["General"]
    general = by_queue["rows"][0]
    assert (general["offered"], general["answered"], general["abandoned"]) == (4, 3, 1)
    assert (general["handled"], general["transfers"], general["resolved"]) == (4, 1, 3)
    assert general["transfer_rate"] == pytest.approx(1 / 3)
    assert general["fcr"] == pytest.approx(2 / 3)  # C1 came back within 7 days for "card"
    assert general["service_level"] == 0.75  # 3 answered within 20 s of 4
    assert general["asa_s"] < 20 and general["aht_s"] > 0

    by_agent = {r["label"]: r for r in (await report(nikos, group_by="agent", **NO_SHORT))["rows"]}
    assert set(by_agent) == {"Rui", "Olga", "(none)"}
    rui, olga = by_agent["Rui"], by_agent["Olga"]
    assert (rui["answered"], rui["handled"], rui["transfers"], rui["resolved"]) == (3, 3, 1, 2)
    assert rui["fcr"] == 0.5
    assert (olga["answered"], olga["handled"], olga["resolved"], olga["fcr"]) == (0, 1, 1, 1.0)
    assert by_agent["(none)"]["abandoned"] == 1
    assert rui["occupancy"] is not None and rui["occupancy"] > 0  # staffed while available

    by_reason = {r["key"]: r for r in (await report(nikos, group_by="reason"))["rows"]}
    assert by_reason["card"]["resolved"] == 2 and by_reason["card"]["fcr"] == 0.5
    assert by_reason["loan"]["resolved"] == 1
    # with the default 5 s threshold the customer who left at once is a short abandon
    assert by_reason[""]["abandoned"] == 0 and by_reason[""]["short_abandoned"] == 1

    # whole UTC days come from the roll-ups, a filtered report from the 15-minute rows: the
    # same figures
    today = kpi.grain_start(utcnow(), "day")
    days_params = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "group_by": "agent",
    }
    rolled = (await nikos.get("/api/v1/reports", params=days_params)).json()
    rui_id = world.agents["rui"].id
    filtered = (
        await nikos.get("/api/v1/reports", params={**days_params, "agent_id": rui_id})
    ).json()
    assert next(r for r in rolled["rows"] if r["key"] == rui_id) == pytest.approx(
        filtered["rows"][0]
    )
    hours = await report(nikos, group_by="interval", interval="60m", tz="Europe/Athens")
    quarters = await report(nikos, group_by="interval", interval="15m", tz="Europe/Athens")
    assert hours["total"] == pytest.approx(quarters["total"])

    days = await report(nikos, group_by="interval", interval="day", tz="Pacific/Kiritimati")
    assert len(days["rows"]) in (1, 2) and days["total"]["answered"] == 3
    assert days["rows"][0]["key"].endswith("+14:00")
    assert days["start"].endswith("+14:00")
    await nikos.aclose()


async def test_a_rebuild_equals_the_live_counters(server: Running, world: World) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    for name in server.ctx.handlers.consumers:  # every event logged so far is counted
        while await server.ctx.consumers.run_once(name):
            pass
    live = await snapshot(server)
    assert live["kpi_contact_intervals"] and live["kpi_event_intervals"] and live["kpi_rollups"]
    done = await rebuild(server.ctx)
    assert done.contacts == 4
    assert same(await snapshot(server), live)
    # one organisation since a moment: the same again
    await rebuild(server.ctx, world.org_id, kpi.bucket_of(utcnow()) - timedelta(minutes=15))
    assert same(await snapshot(server), live)


async def test_agents_see_their_own_rows_and_organisations_stay_apart(
    server: Running, world: World
) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    olga = await login(server, "olga@example.com")
    mine = await report(olga, group_by="agent")
    assert [r["label"] for r in mine["rows"]] == ["Olga"]
    by_queue = await report(olga, group_by="queue")
    assert by_queue["total"]["handled"] == 1 and by_queue["total"]["offered"] == 0
    others = await olga.get("/api/v1/reports", params={"agent_id": world.agents["rui"].id})
    assert others.status_code == 403
    await olga.aclose()
    # another organisation's supervisor sees none of it
    other = await _other_org_supervisor(server)
    assert (await report(other, group_by="queue"))["rows"] == []
    await other.aclose()


async def _other_org_supervisor(server: Running) -> httpx.AsyncClient:
    org = await do_create_org(server.ctx, "other-org", "Other")
    await do_create_agent(
        server.ctx,
        org.id,
        AgentCreate(
            email="boss@other.example",
            name="Boss",
            password=PASSWORD,
            role="supervisor",
            skills={"general": 1},
            languages=["en"],
        ),
    )
    return await login(server, "boss@other.example")


async def test_csv_and_parquet_exports_parse(server: Running, world: World) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    nikos = await login(server, "nikos@example.com")
    as_json = await report(nikos, group_by="agent")
    now = kpi.bucket_of(utcnow())
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + kpi.BUCKET).isoformat(),
        "group_by": "agent",
    }
    response = await nikos.get("/api/v1/reports", params={**params, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["label"] for r in rows] == [r["label"] for r in as_json["rows"]]
    assert {r["label"]: float(r["handled"]) for r in rows}["Rui"] == 3
    response = await nikos.get("/api/v1/reports", params={**params, "format": "parquet"})
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(response.content)).to_pylist()
    assert {r["label"]: r["resolved"] for r in table} == {
        r["label"]: r["resolved"] for r in as_json["rows"]
    }
    await nikos.aclose()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"from": "2026-12-02", "to": "2026-12-01"}, "before"),
        ({"from": "2025-01-01", "to": "2026-12-01"}, "at most a year"),
        ({"from": "2026-12-01T09:07:00+00:00", "to": "2026-12-02"}, "15-minute"),
        ({"from": "2026-12-01T09:00:00", "to": "2026-12-02"}, "offset"),
        ({"from": "yesterday", "to": "2026-12-02"}, "neither"),
        ({"tz": "Mars/Olympus"}, "time zone"),
        ({"sl_threshold_s": 25}, "wait bins"),
    ],
)
async def test_bad_ranges_are_refused_with_a_reason(
    server: Running, world: World, params: dict[str, Any], says: str
) -> None:
    nikos = await login(server, "nikos@example.com")
    response = await nikos.get("/api/v1/reports", params=params)
    assert response.status_code == 422, response.text
    assert says in response.text
    await nikos.aclose()
