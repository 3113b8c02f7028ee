"""Outage mode through the API, on SQLite and PostgreSQL: a supervisor declares an incident
(agents may not, another organisation never sees it); the widget shows it as a banner in the
visitor's language and calls hear it before the menu; a customer's message about it tags
their thread; a visitor who asked to be told, and texters the company marked affected, are
told once when it is fixed (the texters by SMS through the fake Twilio, and of the outage
itself before they ask), however often the supervisor clicks resolve."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, authed_socket, eventually, login
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from tests.integration.test_voice import IVR, NUMBER, said, twiml
from threadline.orgs.services import do_create_org
from threadline.selfservice.incidents.models import IncidentNotice, IncidentThread
from threadline.threads.models import ThreadEvent

TEXTER = "+351912000111"
INCIDENT = {
    "title": "Card payments failing",
    "messages": {
        "en": "Card payments are failing since 9:00. We are fixing it.",
        "pt": "Os pagamentos com cartão estão a falhar desde as 9:00. Estamos a resolver.",
    },
    "resolution_messages": {"pt": "Os pagamentos com cartão voltaram a funcionar."},
    "keywords": ["card payment", "cartão"],
    "products": ["cards"],
}


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def declare(server: Running, **changes: Any) -> dict[str, Any]:
    supervisor = await login(server, "nikos@example.com")
    created = await supervisor.post("/api/v1/incidents", json={**INCIDENT, **changes})
    await supervisor.aclose()
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_only_supervisors_of_the_organisation_manage_incidents(
    server: Running, world: World
) -> None:
    agent = await login(server, "rui@example.com")
    refused = await agent.post("/api/v1/incidents", json=INCIDENT)
    assert refused.status_code == 403
    incident = await declare(server)
    assert incident["status"] == "active" and incident["starts_at"]
    supervisor = await login(server, "nikos@example.com")
    bad = await supervisor.post("/api/v1/incidents", json={**INCIDENT, "messages": {"xx": "hi"}})
    assert bad.status_code == 422 and "unknown language" in bad.text
    naive = await supervisor.post(
        "/api/v1/incidents", json={**INCIDENT, "expected_end_at": "2026-12-06T10:00:00"}
    )
    assert naive.status_code == 422 and "time zone" in naive.text
    past = await supervisor.post(
        "/api/v1/incidents", json={**INCIDENT, "expected_end_at": "2020-01-01T10:00:00Z"}
    )
    assert past.status_code == 422 and "after the start" in past.text
    listed = (await supervisor.get("/api/v1/incidents?status=active")).json()
    assert [i["id"] for i in listed] == [incident["id"]]
    assert listed[0]["counts"]["followers"] == 0 and listed[0]["counts"]["threads"] == 0

    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    from threadline.agents.schemas import AgentCreate
    from threadline.agents.services import do_create_agent

    await do_create_agent(
        server.ctx,
        other.id,
        AgentCreate(
            email="boss@other.example",
            name="Boss",
            password="correct horse battery staple",
            role="supervisor",
            skills={"general": 1},
            languages=["en"],
        ),
    )
    outsider = server.client()
    logged = await outsider.post(
        "/api/v1/auth/login",
        json={"email": "boss@other.example", "password": "correct horse battery staple"},
    )
    assert logged.status_code == 200, logged.text
    assert (await outsider.get(f"/api/v1/incidents/{incident['id']}")).status_code == 404
    assert (await outsider.get("/api/v1/incidents")).json() == []
    assert (
        await outsider.post(f"/api/v1/incidents/{incident['id']}/resolve", json={})
    ).status_code == 404
    for client in (agent, supervisor, outsider):
        await client.aclose()


async def test_banner_tag_follow_and_told_once_when_fixed(server: Running, world: World) -> None:
    incident = await declare(server)
    browser = server.client()
    banners = await browser.get(f"/api/v1/widget/{world.widget.key}/incidents?lang=pt-PT")
    assert banners.status_code == 200, banners.text
    [banner] = banners.json()
    assert banner["message"].startswith("Os pagamentos com cartão")
    [english] = (await browser.get(f"/api/v1/widget/{world.widget.key}/incidents?lang=el")).json()
    assert english["message"].startswith("Card payments are failing")  # no Greek: English
    assert (await browser.get("/api/v1/widget/nope/incidents")).status_code == 404

    session = (
        await browser.post(f"/api/v1/widget/{world.widget.key}/session", json={"locale": "pt-PT"})
    ).json()
    token = session["visitor_token"]
    async with authed_socket(f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", token) as ws:
        await ws.send(
            json.dumps({"type": "message", "client_id": "c1", "text": "O meu cartão falhou"})
        )

        async def tagged() -> list[IncidentThread] | None:
            async with server.ctx.db.sessions() as db:
                return list(await db.scalars(select(IncidentThread))) or None

        [tag] = await eventually(tagged)
        assert tag.incident_id == incident["id"] and tag.source == "message"

        headers = {"Authorization": f"Bearer {token}"}
        follow = f"/api/v1/widget/{world.widget.key}/incidents/follow?lang=pt"
        for _ in range(2):  # asking twice is one notice
            followed = await browser.post(
                follow, json={"incident_id": incident["id"]}, headers=headers
            )
            assert followed.status_code == 200, followed.text
            assert followed.json()["following"] is True
            assert followed.json()["message"] == "Avisamos aqui quando estiver resolvido."
        forged = await browser.post(
            follow, json={"incident_id": incident["id"]}, headers={"Authorization": "Bearer x"}
        )
        assert forged.status_code == 401

        supervisor = await login(server, "nikos@example.com")
        for _ in range(2):  # a double click resolves once and tells once
            resolved = await supervisor.post(f"/api/v1/incidents/{incident['id']}/resolve")
            assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"

        while True:  # the widget hears it on its socket, in Portuguese
            frame = json.loads(await ws.recv())
            if frame["type"] == "event" and frame["event"]["author_type"] == "system":
                break
        assert frame["event"]["body"] == "Os pagamentos com cartão voltaram a funcionar."

    async def told() -> list[IncidentNotice] | None:
        async with server.ctx.db.sessions() as db:
            rows = list(await db.scalars(select(IncidentNotice)))
            return rows if rows and all(n.status != "waiting" for n in rows) else None

    [notice] = await eventually(told)
    assert notice.status == "told" and notice.told_on == "chat" and notice.reason == "follow"
    async with server.ctx.db.sessions() as db:
        system = list(
            await db.scalars(select(ThreadEvent).where(ThreadEvent.author_type == "system"))
        )
    told_events = [e for e in system if e.data.get("incident_id") == incident["id"]]
    assert len(told_events) == 1 and told_events[0].channel == "chat"
    assert (await browser.get(f"/api/v1/widget/{world.widget.key}/incidents")).json() == []
    [listed] = (await supervisor.get("/api/v1/incidents?status=resolved")).json()
    detail = (await supervisor.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert listed["counts"] == detail["counts"]
    assert detail["counts"] == {
        "followers": 1,
        "affected": 0,
        "waiting": 0,
        "told": 1,
        "skipped": 0,
        "threads": 1,
    }
    late = await browser.post(
        f"/api/v1/widget/{world.widget.key}/incidents/follow",
        json={"incident_id": incident["id"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert late.json()["following"] is False
    await browser.aclose()
    await supervisor.aclose()


async def test_affected_texters_are_told_before_they_ask_and_when_fixed(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await add_endpoint(
        server,
        channel="sms",
        key=NUMBER,
        name="Support line",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={"account_sid": ACCOUNT_SID, "api_base": twilio.base_url},
    )
    texted = await twilio.post_signed(
        f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}",
        {
            "MessageSid": "SM1",
            "From": TEXTER,
            "To": NUMBER,
            "Body": "Bom dia, preciso de ajuda com a minha conta",
            "NumMedia": "0",
        },
    )
    assert texted.status_code == 200, texted.text
    incident = await declare(server)
    supervisor = await login(server, "nikos@example.com")
    marked = await supervisor.post(
        f"/api/v1/incidents/{incident['id']}/affected.csv?tell_now=true",
        content=f"name;phone\nAna;{TEXTER}\nNobody;+15550000000\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"matched": 1, "added": 1, "unknown": ["+15550000000"]}
    again = await supervisor.post(
        f"/api/v1/incidents/{incident['id']}/affected", json={"phones": [TEXTER]}
    )
    assert again.json()["added"] == 0  # marked once
    no_column = await supervisor.post(
        f"/api/v1/incidents/{incident['id']}/affected.csv", content=b"name\nAna\n"
    )
    assert no_column.status_code == 422 and "phone" in no_column.text

    async def sent(n: int) -> bool:
        return len([m for m in twilio.messages if m.to == TEXTER]) >= n

    await eventually(lambda: sent(1))
    [outage] = [m for m in twilio.messages if m.to == TEXTER]
    assert outage.body.startswith("Os pagamentos com cartão estão a falhar")  # their language
    resolved = await supervisor.post(f"/api/v1/incidents/{incident['id']}/resolve", json={})
    assert resolved.status_code == 200
    await eventually(lambda: sent(2))
    bodies = [m.body for m in twilio.messages if m.to == TEXTER]
    assert bodies[1] == "Os pagamentos com cartão voltaram a funcionar."
    await supervisor.aclose()


async def test_calls_hear_the_incident_before_the_menu(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await add_endpoint(
        server,
        channel="voice",
        key=NUMBER,
        name="Phone line",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={"account_sid": ACCOUNT_SID, "api_base": twilio.base_url, "ivr": IVR},
    )
    url = f"{server.base_url}/webhooks/voice/twilio/{quote(NUMBER, safe='')}"
    before = twiml(await twilio.call_webhook(url, "CA1", TEXTER, NUMBER, "ringing"))
    assert said(before)[0] == "Welcome to Test Bank."
    await declare(server)
    during = twiml(await twilio.call_webhook(url, "CA2", TEXTER, NUMBER, "ringing"))
    assert said(during)[:2] == [
        "Card payments are failing since 9:00. We are fixing it.",
        "Welcome to Test Bank.",
    ]
