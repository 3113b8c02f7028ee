"""The live supervisor dashboard (GET /api/v1/dashboard) end to end on SQLite and
PostgreSQL: contacts go through the real routing engine and API (the day of
tests/integration/test_reports.py), the durable consumer counts them, and the dashboard shows
the hand-checked figures per queue, in total and per 30 minutes, with the agents by presence;
only supervisors read it, and only their own organisation's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Running, World, eventually, login
from tests.integration.test_reports import (
    _other_org_supervisor,
    a_day_of_contacts,
    counted,
    presence,
    writes,
)


async def board(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/dashboard", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_dashboard_shows_the_day_of_contacts(server: Running, world: World) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    nikos = await login(server, "nikos@example.com")
    seen = await board(nikos, tz="Europe/Athens")
    assert seen["generated_at"].endswith("+02:00") and seen["today_start"].endswith(
        "T00:00:00+02:00"
    )

    queues = {q["name"]: q for q in seen["queues"]}
    assert set(queues) == {"General", "Cards"}
    general = queues["General"]
    assert (general["sl_target_pct"], general["sl_threshold_s"]) == (80, 20)
    assert (general["waiting"], general["offered_now"], general["in_service"]) == (0, 0, 0)
    for span in ("today", "recent"):
        figures = general[span]
        # the customer who left at once is a short abandon (default 5 s): neither offered nor
        # abandoned, and so not against the service level
        assert (figures["offered"], figures["answered"]) == (3, 3), span
        assert (figures["abandoned"], figures["short_abandoned"]) == (0, 1), span
        assert figures["service_level"] == 1.0  # 3 of 3 answered within 20 s
        assert figures["asa_s"] < 20 and figures["aht_s"] > 0
        assert figures["abandon_rate"] == 0
    # a queue nobody wrote to: its figures are empty, not missing
    cards = queues["Cards"]["today"]
    assert cards["offered"] is None or cards["offered"] == 0
    assert cards["service_level"] is None and cards["label"] == "Cards"
    assert seen["today"]["offered"] == 3 and seen["today"]["answered"] == 3

    # counting every abandon: 4 offered, 1 abandoned, 3 of 4 within the target
    every = await board(nikos, short_abandon_s=0)
    general = next(q for q in every["queues"] if q["name"] == "General")["today"]
    assert (general["offered"], general["abandoned"]) == (4, 1)
    assert general["abandon_rate"] == 0.25 and general["service_level"] == 0.75

    # today per 30 minutes, in the supervisor's zone: they add up to the day
    intervals = seen["intervals"]
    assert intervals and sum(r["offered"] or 0 for r in intervals) == 3
    for row in intervals:
        start = datetime.fromisoformat(row["key"])
        assert start.utcoffset() is not None and start.minute in (0, 30)

    # today's reasons, the most frequent first: C1 and C3 were "card", C2 "loan"
    assert [(r["reason"], r["contacts"]) for r in seen["reasons"]] == [("card", 2), ("loan", 1)]
    assert seen["reasons"][0]["figures"]["resolved"] == 2

    agents = {a["name"]: a for a in seen["agents"]}
    assert {"Rui", "Olga", "Nikos", "Admin"} <= set(agents)
    assert agents["Rui"]["presence"] == "away" and agents["Rui"]["in_service"] == 0
    assert datetime.fromisoformat(agents["Rui"]["presence_since"]).utcoffset() is not None
    await nikos.aclose()


async def test_waiting_and_in_service_are_live(server: Running, world: World) -> None:
    nikos = await login(server, "nikos@example.com")
    rui = await login(server, "rui@example.com")
    await writes(server, world, "w1", "anyone there?")  # nobody is available: it waits

    async def waiting() -> dict[str, Any] | None:
        general = next(q for q in (await board(nikos))["queues"] if q["name"] == "General")
        return general if general["waiting"] == 1 else None

    general = await eventually(waiting)
    assert general["longest_wait_s"] >= 0

    await presence(rui, "available")  # offered to Rui, who accepts it

    async def served() -> dict[str, Any] | None:
        offers = (await rui.get("/api/v1/offers")).json()
        if offers:
            await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
        seen = await board(nikos)
        rui_now = next(a for a in seen["agents"] if a["name"] == "Rui")
        return seen if rui_now["in_service"] == 1 else None

    seen = await eventually(served)
    general = next(q for q in seen["queues"] if q["name"] == "General")
    assert (general["waiting"], general["in_service"]) == (0, 1)
    assert next(a for a in seen["agents"] if a["name"] == "Rui")["presence"] == "available"
    await rui.aclose()
    await nikos.aclose()


async def test_agents_are_refused_and_organisations_stay_apart(
    server: Running, world: World
) -> None:
    await a_day_of_contacts(server, world)
    await eventually(lambda: counted(server, 4))
    olga = await login(server, "olga@example.com")
    refused = await olga.get("/api/v1/dashboard")
    assert refused.status_code == 403
    await olga.aclose()
    other = await _other_org_supervisor(server)
    seen = await board(other)
    assert seen["queues"] == [] and seen["intervals"] == [] and seen["reasons"] == []
    assert not seen["today"]["offered"] and seen["today"]["service_level"] is None
    assert [a["name"] for a in seen["agents"]] == ["Boss"]
    await other.aclose()


@pytest.mark.parametrize(
    "params", [{"tz": "Mars/Olympus"}, {"tz": "x" * 65}, {"short_abandon_s": 7}]
)
async def test_bad_input_is_refused_with_a_reason(
    server: Running, world: World, params: dict[str, Any]
) -> None:
    nikos = await login(server, "nikos@example.com")
    response = await nikos.get("/api/v1/dashboard", params=params)
    assert response.status_code in (400, 422), response.text
    assert response.json()["message"]
    await nikos.aclose()
