"""Contact reasons end to end (SQLite and PostgreSQL): the taxonomy API with its roles,
validation and organisation fence; a contact resolved with an unmapped wrap-up classified
from the customer's first message by a small trained intent model; trends; a spike raised
once, with its event."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import PASSWORD, TEST_SECRET, Running, World, eventually, login
from tests.integration.test_reports import accept, presence, resolve, writes
from tests.unit.test_intents_engine import FAST, examples
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.config import Settings
from threadline.db import utcnow
from threadline.events.models import EventRecord
from threadline.intents.engine import IntentModel, train
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import do_create_org
from threadline.reasons.models import ReasonAlert
from threadline.routing.models import Contact


@pytest.fixture(scope="module")
def model() -> IntentModel:
    return train(examples(per_phrase=4, seed=1), FAST)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        offer_timeout_s=20,
        timer_poll_s=0.05,
        intent_models_dir=tmp_path / "models",
        _env_file=None,  # type: ignore[call-arg]
    )


CARDS = {"code": "cards", "labels": {"en": "Cards", "pt": "Cartões", "el": "Κάρτες"}}
CARD_LOST = {
    "code": "card_lost",
    "parent": "cards",
    "labels": {"en": "Lost or stolen card", "ru": "Потеря карты"},
    "intents": ["card_lost"],
    "wrapup": ["lost-card"],
}
BALANCE = {"code": "balance", "labels": {"en": "Balance"}, "intents": ["balance"]}


async def taxonomy(admin: httpx.AsyncClient) -> None:
    for body in (CARDS, CARD_LOST, BALANCE):
        response = await admin.post("/api/v1/reasons", json=body)
        assert response.status_code == 201, response.text


async def test_the_taxonomy_is_edited_by_admins_read_by_supervisors(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    nikos = await login(server, "nikos@example.com")
    rui = await login(server, "rui@example.com")
    await taxonomy(admin)
    listed = (await nikos.get("/api/v1/reasons")).json()
    assert [r["code"] for r in listed] == ["balance", "card_lost", "cards"]
    lost = (await nikos.get("/api/v1/reasons/card_lost")).json()
    assert lost["parent"] == "cards" and lost["labels"]["ru"] == "Потеря карты"
    # roles: a supervisor reads but does not write; an agent does neither
    assert (await nikos.post("/api/v1/reasons", json={**BALANCE, "code": "x"})).status_code == 403
    assert (await nikos.delete("/api/v1/reasons/balance")).status_code == 403
    assert (await rui.get("/api/v1/reasons")).status_code == 403
    # validation
    bad = [
        {**BALANCE, "code": "Bad Code"},
        {**BALANCE, "code": "x", "labels": {"pt": "sem inglês"}},
        {**BALANCE, "code": "x", "labels": {"en": "X", "de": "X"}},
        {**BALANCE, "code": "x", "parent": "nowhere", "intents": []},
        {**BALANCE, "code": "x", "parent": "card_lost", "intents": []},  # three levels
        {**BALANCE, "code": "x", "extra": 1},
    ]
    for body in bad:
        response = await admin.post("/api/v1/reasons", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await admin.post("/api/v1/reasons", json=BALANCE)).status_code == 409
    taken = {**BALANCE, "code": "x", "intents": ["card_lost"]}  # already means card_lost
    assert (await admin.post("/api/v1/reasons", json=taken)).status_code == 409
    # a parent with children cannot itself get a parent, nor be deleted
    moved = await admin.patch("/api/v1/reasons/cards", json={"parent": "balance"})
    assert moved.status_code == 422, moved.text
    assert (await admin.delete("/api/v1/reasons/cards")).status_code == 409
    changed = await admin.patch(
        "/api/v1/reasons/balance", json={"labels": {"en": "Balance", "es": "Saldo"}}
    )
    assert changed.status_code == 200 and changed.json()["labels"]["es"] == "Saldo"
    assert (await admin.patch("/api/v1/reasons/balance", json={"labels": None})).status_code == 422
    assert (await admin.delete("/api/v1/reasons/balance")).status_code == 204
    assert (await nikos.get("/api/v1/reasons/balance")).status_code == 404
    async with server.ctx.db.sessions() as session:
        actions = await session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.org_id == world.org_id, AuditEntry.action.like("reason.%")
            )
        )
        assert sorted(actions) == ["reason.create"] * 3 + ["reason.delete", "reason.update"]
    # another organisation sees none of it and cannot touch it
    org = await do_create_org(server.ctx, "other-org", "Other")
    await do_create_agent(
        server.ctx,
        org.id,
        AgentCreate(
            email="boss@other.example",
            name="Boss",
            password=PASSWORD,
            role="admin",
            skills={"general": 1},
            languages=["en"],
        ),
    )
    other = await login(server, "boss@other.example")
    assert (await other.get("/api/v1/reasons")).json() == []
    assert (await other.get("/api/v1/reasons/cards")).status_code == 404
    assert (await other.patch("/api/v1/reasons/cards", json={"parent": None})).status_code == 404
    assert (await other.delete("/api/v1/reasons/card_lost")).status_code == 404
    assert (await other.post("/api/v1/reasons", json=CARDS)).status_code == 201  # its own
    for client in (admin, nikos, rui, other):
        await client.aclose()


async def reason_of(server: Running, thread_id: str) -> Any:
    async with server.ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(Contact.reason_code, Contact.reason_source, Contact.reason_confidence)
                .where(Contact.thread_id == thread_id, Contact.reason_source.is_not(None))
                .order_by(Contact.enqueued_at.desc())
            )
        ).first()
    return row


async def test_contacts_get_reasons_trends_and_a_spike_once(
    server: Running, world: World, model: IntentModel
) -> None:
    model.save(server.ctx.settings.intent_models_dir / world.org_id)  # type: ignore[operator]
    admin = await login(server, "admin@example.com")
    nikos = await login(server, "nikos@example.com")
    rui = await login(server, "rui@example.com")
    await taxonomy(admin)
    await presence(rui, "available")
    # an unmapped wrap-up: the customer's first message is classified
    first = await writes(server, world, "v1", "I lost my credit card yesterday")
    await accept(rui, first)
    await resolve(rui, first, "other")
    code, source, confidence = await eventually(lambda: reason_of(server, first))
    assert (code, source) == ("card_lost", "classified")
    assert 0.3 <= confidence <= 1
    # a mapped wrap-up is kept as the agent's
    second = await writes(server, world, "v2", "how much money is in my savings")
    await accept(rui, second)
    await resolve(rui, second, "lost-card")
    assert (await eventually(lambda: reason_of(server, second)))[:2] == ("card_lost", "wrapup")
    # trends: per day and per hour in the asked zone
    now = utcnow()
    window = {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    daily = await nikos.get("/api/v1/reasons/trends", params={**window, "tz": "Europe/Athens"})
    assert daily.status_code == 200, daily.text
    assert daily.json()["totals"] == {"card_lost": 2}
    assert all(r["start"].endswith("+02:00") for r in daily.json()["rows"])
    hourly = (
        await nikos.get("/api/v1/reasons/trends", params={**window, "interval": "hour"})
    ).json()
    assert sum(r["count"] for r in hourly["rows"]) == 2
    for params in ({"tz": "Mars/Base"}, {"from": "yesterday"}, {**window, "from": window["to"]}):
        assert (await nikos.get("/api/v1/reasons/trends", params=params)).status_code == 422
    assert (await rui.get("/api/v1/reasons/trends")).status_code == 403
    assert (await nikos.get("/api/v1/reasons/alerts")).json() == []  # 2 is noise
    # history: one card_lost contact on this weekday of each of the last 8 weeks, and 6 more
    # today: 8 today against an expected 1 (limit 1 + 3 * 1 = 4) is a spike
    async with server.ctx.uow() as uow:
        template = (
            await uow.session.scalars(select(Contact).where(Contact.thread_id == first))
        ).first()
        assert template is not None
        moments = [now - timedelta(weeks=w) for w in range(1, 9)] + [now] * 6
        for moment in moments:
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
    for visitor in ("v3", "v4"):  # the next contact raises it, the one after does not again
        thread = await writes(server, world, visitor, "my card was stolen")
        await accept(rui, thread)
        await resolve(rui, thread, "lost-card")
        await eventually(lambda thread=thread: reason_of(server, thread))  # type: ignore[misc]
    alerts = (await nikos.get("/api/v1/reasons/alerts")).json()
    assert len(alerts) == 1
    assert alerts[0]["reason"] == "card_lost"
    assert (alerts[0]["count"], alerts[0]["expected"], alerts[0]["limit"]) == (9, 1.0, 4.0)
    async with server.ctx.db.sessions() as session:
        events = list(
            await session.scalars(
                select(EventRecord.data).where(EventRecord.type == "reason.spiked")
            )
        )
        stored = await session.scalar(select(func.count()).select_from(ReasonAlert))
    assert stored == 1 and len(events) == 1
    assert events[0]["reason"] == "card_lost" and events[0]["org_id"] == world.org_id
    assert events[0]["count"] == 9
    for client in (admin, nikos, rui):
        await client.aclose()
