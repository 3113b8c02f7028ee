"""Surveys after a resolved contact, on the channel the customer used: inline in the widget
(answered through the widget API), by SMS digits through the fake Twilio (the replies open
no contact), WhatsApp buttons inside the 24-hour window, an email's signed page; one per
customer every N days, none to a customer who opted out; roles and organisations; on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import (
    Running,
    World,
    add_endpoint,
    authed_socket,
    count,
    eventually,
    login,
    set_capacity,
    take_thread,
)
from tests.fakes.meta import (
    PAGE_ID,
    PHONE_NUMBER_ID,
    FakeGraph,
    messenger_message,
    running_fake_graph,
    whatsapp_message,
)
from tests.fakes.telegram import FakeTelegram, running_fake_telegram
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_messenger import PSID
from tests.integration.test_sms import inbound, sms_endpoint, webhook_url
from tests.integration.test_whatsapp import WA_ID, whatsapp_thread_with_agent
from threadline.channels.models import Endpoint
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.config import Settings
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.events.models import EventRecord
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact
from threadline.surveys.models import Survey
from threadline.threads.models import ThreadEvent

ON = {"enabled": True, "every_days": 7}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"outbox_backoff_s": 0.1, "outbox_backoff_max_s": 0.3, "event_poll_s": 0.1}
    )


async def turn_on(server: Running, **body: Any) -> dict[str, Any]:
    admin = await login(server, "admin@example.com")
    try:
        put = await admin.put("/api/v1/surveys/settings", json={**ON, **body})
    finally:
        await admin.aclose()
    assert put.status_code == 200, put.text
    return dict(put.json())


async def survey_of(server: Running, thread_id: str, n: int = 1) -> Survey | None:
    async with server.ctx.db.sessions() as db:
        rows = list(await db.scalars(select(Survey).where(Survey.thread_id == thread_id)))
    return rows[-1] if len(rows) >= n else None


async def logged(server: Running, type_: str) -> list[dict[str, Any]]:
    async with server.ctx.db.sessions() as db:
        rows = await db.scalars(select(EventRecord.data).where(EventRecord.type == type_))
        return [dict(r) for r in rows]


async def visitor_chat(
    server: Running, world: World, text: str = "my card is blocked", locale: str = "pt-PT"
) -> tuple[str, str, httpx.AsyncClient]:
    """A visitor writes in the widget, Rui takes it and resolves it: (visitor token, thread
    id, Rui's client). The socket is closed again."""
    browser = server.client()
    session = (
        await browser.post(f"/api/v1/widget/{world.widget.key}/session", json={"locale": locale})
    ).json()
    await browser.aclose()
    token = session["visitor_token"]
    async with authed_socket(f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", token) as ws:
        await ws.send(json.dumps({"type": "message", "client_id": "c1", "text": text}))

        async def thread_id() -> str | None:
            async with server.ctx.db.sessions() as db:
                return await db.scalar(select(Contact.thread_id))

        thread = await eventually(thread_id)
    rui = await take_thread(server, "rui@example.com", thread)
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card_blocked"})
    assert resolved.status_code == 200, resolved.text
    return token, thread, rui


async def test_a_resolved_chat_gets_the_survey_in_the_widget_answered_once(
    server: Running, world: World
) -> None:
    settings = await turn_on(server)
    assert settings["questions"] == ["csat", "ces"] and "chat" in settings["channels"]
    token, thread, rui = await visitor_chat(server, world)
    survey = await eventually(lambda: survey_of(server, thread))
    assert survey.status == "sent" and survey.channel == "chat" and survey.language == "pt"
    assert survey.agent_id == world.agents["rui"].id and survey.reason == "card_blocked"
    [asked] = [
        e
        for e in await _timeline(rui, thread)
        if e["kind"] == "message" and e["data"].get("survey")
    ]
    assert asked["author_type"] == "system" and asked["body"].startswith("Qual é o seu grau")
    assert asked["data"]["survey"]["id"] == survey.id
    assert asked["data"]["survey"]["texts"]["ces"] == "Foi fácil resolver o seu assunto?"
    # the widget's socket sees it on resume
    async with authed_socket(f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", token) as ws:
        await ws.send(json.dumps({"type": "resume", "after_seq": 0}))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "event" and frame["event"]["data"].get("survey"):
                break
        assert frame["event"]["data"]["survey"]["questions"] == ["csat", "ces"]

    url = f"/api/v1/widget/{world.widget.key}/surveys/{survey.id}/answers"
    auth = {"Authorization": f"Bearer {token}"}
    async with server.client() as browser:
        assert (await browser.post(url, json={"csat": 4})).status_code == 401
        bad = await browser.post(url, json={"csat": 6}, headers=auth)
        assert bad.status_code == 422, bad.text
        first = await browser.post(url, json={"csat": 4}, headers=auth)
        assert first.status_code == 200, first.text
        assert first.json()["step"] == "ces" and first.json()["status"] == "sent"
        for _ in range(2):  # a retry stores nothing twice
            done = await browser.post(
                url, json={"ces": 6, "comment": "Rápido, obrigado"}, headers=auth
            )
            assert done.status_code == 200, done.text
        again = await browser.post(url, json={"csat": 1}, headers=auth)
        assert again.json()["csat"] == 4  # what is stored stays
    assert done.json()["status"] == "answered" and done.json()["ces"] == 6

    answered = await logged(server, "survey.answered")
    assert sorted((a["kind"], a["score"]) for a in answered) == [("ces", 6), ("csat", 4)]
    ces = next(a for a in answered if a["kind"] == "ces")
    assert ces["comment"] == "Rápido, obrigado" and ces["queue_id"] == world.queues["general"].id
    assert ces["agent_id"] == world.agents["rui"].id and ces["reason"] == "card_blocked"
    assert ces["channel"] == "chat" and ces["contact_id"] == survey.contact_id
    assert len(await logged(server, "survey.sent")) == 1
    entries = [e for e in await _timeline(rui, thread) if e["kind"] == "survey"]
    assert [(e["data"].get("csat"), e["data"].get("ces")) for e in entries] == [
        (4, None),
        (None, 6),
    ]
    assert entries[1]["body"] == "Rápido, obrigado"

    nikos = await login(server, "nikos@example.com")
    summary = await nikos.get("/api/v1/surveys/summary")
    assert summary.status_code == 200, summary.text
    today = summary.json()
    assert today["sent"] == 1 and today["answered"] == 1
    assert today["csat"] == {"responses": 1, "mean": 4.0, "satisfied_share": 1.0}
    assert today["ces"] == {"responses": 1, "mean": 6.0, "easy_share": 1.0}
    assert today["by_channel"][0]["channel"] == "chat"
    for client in (rui, nikos):
        await client.aclose()


async def _timeline(client: httpx.AsyncClient, thread: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/threads/{thread}/events")
    assert response.status_code == 200, response.text
    return list(response.json())


# ---------------------------------------------------------------- SMS
@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def sms(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    created = await add_endpoint(server, **sms_endpoint(twilio, world.queues["general"].id))
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3)
    return created


async def texted_and_resolved(
    server: Running, twilio: FakeTwilio, sid: str, text: str = "my card is blocked"
) -> tuple[httpx.AsyncClient, str]:
    posted = await twilio.post_signed(webhook_url(server), inbound(sid, text))
    assert posted.status_code == 200, posted.text

    async def open_contact() -> str | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(
                select(Contact.thread_id).where(Contact.status.in_(("queued", "offered")))
            )

    thread = await eventually(open_contact)
    rui = await take_thread(server, "rui@example.com", thread)
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    assert resolved.status_code == 200, resolved.text
    return rui, thread


async def sent_texts(twilio: FakeTwilio, n: int) -> list[str]:
    async def enough() -> list[str] | None:
        return [m.body for m in twilio.messages] if len(twilio.messages) >= n else None

    return await eventually(enough)


async def test_an_sms_survey_is_answered_by_digits_and_opens_no_contact(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    await turn_on(server)
    rui, thread = await texted_and_resolved(server, twilio, "SM-in-1")
    [question] = await sent_texts(twilio, 1)
    assert "How satisfied" in question and "1 (very dissatisfied) to 5" in question
    survey = await eventually(lambda: survey_of(server, thread))
    assert survey.channel == "sms" and survey.step == "csat"

    for sid in ("SM-in-2", "SM-in-2"):  # Twilio retries: one answer
        posted = await twilio.post_signed(webhook_url(server), inbound(sid, "5"))
        assert posted.status_code == 200, posted.text
    texts = await sent_texts(twilio, 2)
    assert "How easy" in texts[1] and "1 (very difficult) to 7" in texts[1]
    nine = await twilio.post_signed(webhook_url(server), inbound("SM-in-3", "9"))
    assert nine.status_code == 200
    texts = await sent_texts(twilio, 3)
    assert "How easy" in texts[2]  # out of the scale: asked again
    posted = await twilio.post_signed(webhook_url(server), inbound("SM-in-4", " 2. "))
    assert posted.status_code == 200, posted.text
    texts = await sent_texts(twilio, 4)
    assert texts[3] == "Thank you for your feedback!"

    assert await count(server, Contact) == 1  # the digits were answers, not new demand
    async with server.ctx.db.sessions() as db:
        stored = await db.get(Survey, survey.id)
    assert stored is not None and (stored.csat, stored.ces, stored.status) == (5, 2, "answered")
    answered = await logged(server, "survey.answered")
    assert sorted((a["kind"], a["score"], a["channel"]) for a in answered) == [
        ("ces", 2, "sms"),
        ("csat", 5, "sms"),
    ]
    kinds = [e["kind"] for e in await _timeline(rui, thread)]
    assert kinds.count("survey") == 2

    # the survey is over: the next text is a new matter for a person
    again = await twilio.post_signed(webhook_url(server), inbound("SM-in-5", "5"))
    assert again.status_code == 200
    assert await eventually(lambda: _contacts_at_least(server, 2))
    await rui.aclose()


async def _contacts_at_least(server: Running, n: int) -> bool:
    return await count(server, Contact) >= n


async def test_one_survey_per_customer_every_n_days_and_none_when_opted_out(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    await turn_on(server, every_days=7)
    rui, _ = await texted_and_resolved(server, twilio, "SM-a")
    await sent_texts(twilio, 1)
    await rui.aclose()
    rui, _ = await texted_and_resolved(server, twilio, "SM-b", "and my other card")

    async def two() -> list[Survey] | None:
        async with server.ctx.db.sessions() as db:
            rows = list(await db.scalars(select(Survey).order_by(Survey.created_at)))
        return rows if len(rows) == 2 else None

    first, second = await eventually(two)
    assert first.status == "sent"
    assert second.status == "skipped" and "within 7 days" in (second.skip_reason or "")
    assert len(twilio.messages) == 1
    await rui.aclose()

    # eight days later a survey goes again, unless the customer said no to surveys
    async with server.ctx.db.sessions() as db:
        await db.execute(update(Survey).values(sent_at=utcnow() - timedelta(days=8)))
        await db.execute(update(Customer).values(attributes={"opt_out": ["surveys"]}))
        await db.commit()
    rui, _ = await texted_and_resolved(server, twilio, "SM-c", "and the third")

    async def three() -> list[Survey] | None:
        async with server.ctx.db.sessions() as db:
            rows = list(await db.scalars(select(Survey).order_by(Survey.created_at)))
        return rows if len(rows) == 3 else None

    third = (await eventually(three))[2]
    assert third.status == "skipped" and third.skip_reason == "the customer opted out"
    assert len(twilio.messages) == 1
    await rui.aclose()


# ---------------------------------------------------------------- WhatsApp
@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
async def whatsapp(server: Running, world: World, graph: FakeGraph) -> dict[str, Any]:
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp", world.queues["general"].id)
    created = await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3, whatsapp=3)
    return created


async def _interactive(graph: FakeGraph, n: int) -> list[dict[str, Any]] | None:
    found = [m.payload["interactive"] for m in graph.messages if "interactive" in m.payload]
    return found if len(found) >= n else None


def _tap(wamid: str, row_id: str) -> dict[str, Any]:
    reply = {"id": row_id, "title": row_id.rsplit(":", 1)[1]}
    return whatsapp_message(wamid, WA_ID, "interactive", type="list_reply", list_reply=reply)


async def test_whatsapp_asks_with_a_list_inside_the_window(
    server: Running, world: World, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    await turn_on(server)
    rui, thread = await whatsapp_thread_with_agent(server, graph)
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    assert resolved.status_code == 200, resolved.text
    [csat] = await eventually(lambda: _interactive(graph, 1))
    assert csat["type"] == "list" and "How satisfied" in csat["body"]["text"]
    rows = csat["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f"survey:csat:{n}" for n in range(1, 6)]
    assert rows[4]["description"] == "Very satisfied"
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"
    assert (await graph.notify(hook, _tap("wamid.S1", "survey:csat:5"))).status_code == 200
    asked = await eventually(lambda: _interactive(graph, 2))
    assert [r["id"] for r in asked[1]["action"]["sections"][0]["rows"]][-1] == "survey:ces:7"
    stale = _tap("wamid.S2", "survey:csat:1")  # the first list's button, tapped late
    assert (await graph.notify(hook, stale)).status_code == 200
    assert (await graph.notify(hook, _tap("wamid.S3", "survey:ces:6"))).status_code == 200

    async def thanked() -> bool:
        return any(
            m.payload.get("text", {}).get("body") == "Thank you for your feedback!"
            for m in graph.messages
        )

    await eventually(thanked)
    survey = await survey_of(server, thread)
    assert survey is not None and (survey.csat, survey.ces) == (5, 6)
    assert await count(server, Contact) == 1
    await rui.aclose()


async def test_whatsapp_outside_the_window_sends_the_template_or_nothing(
    server: Running, world: World, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    await turn_on(server, whatsapp_template="csat_survey")
    rui, thread = await whatsapp_thread_with_agent(server, graph)
    async with server.ctx.uow() as uow:  # the customer last wrote 25 hours ago
        await uow.session.execute(
            update(ThreadEvent)
            .where(ThreadEvent.provider_msg_id == "wamid.IN1")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    assert resolved.status_code == 200, resolved.text

    async def template() -> dict[str, Any] | None:
        found = [m.payload["template"] for m in graph.messages if "template" in m.payload]
        return found[0] if found else None

    sent = await eventually(template)
    assert sent["name"] == "csat_survey"
    survey = await eventually(lambda: survey_of(server, thread))
    assert survey.status == "sent"
    await rui.aclose()


# ---------------------------------------------------------------- roles and organisations
async def other_widget(server: Running) -> Endpoint:
    org = await do_create_org(server.ctx, f"other-{uuid.uuid4().hex[:6]}", "Other Bank")
    async with server.ctx.uow() as uow:
        widget = Endpoint(org_id=org.id, channel="chat", key=f"w-{uuid.uuid4().hex[:8]}", name="O")
        uow.session.add(widget)
    return widget


async def test_settings_are_the_admins_and_checked(server: Running, world: World) -> None:
    agent = await login(server, "rui@example.com")
    supervisor = await login(server, "nikos@example.com")
    admin = await login(server, "admin@example.com")
    assert (await agent.get("/api/v1/surveys/settings")).status_code == 403
    assert (await supervisor.put("/api/v1/surveys/settings", json=ON)).status_code == 403
    assert (await agent.get("/api/v1/surveys/summary")).status_code == 403
    default = await admin.get("/api/v1/surveys/settings")
    assert default.status_code == 200 and default.json()["enabled"] is False
    for wrong in (
        {"enabled": True, "questions": []},
        {"enabled": True, "questions": ["nps"]},
        {"enabled": True, "channels": ["app"]},
        {"enabled": True, "channels": ["sms", "sms"]},
        {"enabled": True, "every_days": -1},
        {"enabled": True, "whatsapp_template": "Not A Name"},
        {"enabled": True, "colour": "red"},
        {},
    ):
        refused = await admin.put("/api/v1/surveys/settings", json=wrong)
        assert refused.status_code == 422, (wrong, refused.text)
    saved = await admin.put(
        "/api/v1/surveys/settings",
        json={"enabled": True, "channels": ["sms"], "questions": ["ces"], "every_days": 0},
    )
    assert saved.status_code == 200, saved.text
    assert (await admin.get("/api/v1/surveys/settings")).json()["questions"] == ["ces"]
    naive = await supervisor.get("/api/v1/surveys/summary?from=2026-12-01T00:00:00")
    assert naive.status_code == 422
    backwards = await supervisor.get(
        "/api/v1/surveys/summary?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"
    )
    assert backwards.status_code == 422
    for client in (agent, supervisor, admin):
        await client.aclose()


async def test_a_survey_is_its_customers_and_its_organisations(
    server: Running, world: World
) -> None:
    await turn_on(server, channels=["chat"])
    token, thread, rui = await visitor_chat(server, world, locale="en")
    survey = await eventually(lambda: survey_of(server, thread))
    assert survey.language == "en"
    other = await other_widget(server)  # another organisation's widget
    async with server.client() as browser:
        stranger = (
            await browser.post(f"/api/v1/widget/{world.widget.key}/session", json={})
        ).json()["visitor_token"]
        outsider = (await browser.post(f"/api/v1/widget/{other.key}/session", json={})).json()[
            "visitor_token"
        ]
        ours = f"/api/v1/widget/{world.widget.key}/surveys/{survey.id}/answers"
        theirs = f"/api/v1/widget/{other.key}/surveys/{survey.id}/answers"
        another = await browser.post(
            ours, json={"csat": 1}, headers={"Authorization": f"Bearer {stranger}"}
        )
        assert another.status_code == 404  # another visitor of the same widget
        across = await browser.post(
            theirs, json={"csat": 1}, headers={"Authorization": f"Bearer {outsider}"}
        )
        assert across.status_code == 404
        wrong_widget = await browser.post(
            theirs, json={"csat": 1}, headers={"Authorization": f"Bearer {token}"}
        )
        assert wrong_widget.status_code == 404  # not that widget's organisation's survey
        comment_alone = await browser.post(
            ours, json={"comment": "hi"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert comment_alone.status_code == 422
    assert (await survey_of(server, thread)).csat is None  # type: ignore[union-attr]
    nikos = await login(server, "nikos@example.com")
    assert (await nikos.get("/api/v1/surveys/summary")).json()["sent"] == 1
    await rui.aclose()
    await nikos.aclose()


# ---------------------------------------------------------------- Messenger
@pytest.fixture
async def page(server: Running, world: World, graph: FakeGraph) -> dict[str, Any]:
    body = graph.endpoint("messenger", PAGE_ID, "Bank page", world.queues["general"].id)
    created = await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, messenger=3)
    return created


def _quick_reply(mid: str, title: str, payload: str) -> dict[str, Any]:
    event = messenger_message(mid, PSID, title)
    event["entry"][0]["messaging"][0]["message"]["quick_reply"] = {"payload": payload}
    return event


async def test_messenger_numbers_in_the_text_and_quick_replies_in_the_data(
    server: Running, world: World, graph: FakeGraph, page: dict[str, Any]
) -> None:
    await turn_on(server)
    hook = f"{server.base_url}/webhooks/messenger/{PAGE_ID}"
    posted = await graph.notify(hook, messenger_message("m.IN1", PSID, "my card is blocked"))
    assert posted.status_code == 200, posted.text

    async def open_thread() -> str | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(select(Contact.thread_id))

    thread = await eventually(open_thread)
    rui = await take_thread(server, "rui@example.com", thread)
    assert (
        await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    ).status_code == 200

    async def texts(n: int) -> list[str] | None:
        found = [m.payload["message"].get("text", "") for m in graph.messages]
        return found if len(found) >= n else None

    [asked] = await eventually(lambda: texts(1))
    assert "How satisfied" in asked and "1 (very dissatisfied) to 5" in asked
    [entry] = [e for e in await _timeline(rui, thread) if e["data"].get("survey")]
    assert [r["payload"] for r in entry["data"]["quick_replies"]][-1] == "survey:csat:5"
    tapped = _quick_reply("m.IN2", "4", "survey:csat:4")
    assert (await graph.notify(hook, tapped)).status_code == 200
    assert "How easy" in (await eventually(lambda: texts(2)))[1]
    typed = messenger_message("m.IN3", PSID, "7")
    assert (await graph.notify(hook, typed)).status_code == 200
    assert (await eventually(lambda: texts(3)))[2] == "Thank you for your feedback!"
    survey = await survey_of(server, thread)
    assert survey is not None and (survey.csat, survey.ces) == (4, 7)
    assert await count(server, Contact) == 1
    await rui.aclose()


# ---------------------------------------------------------------- Telegram
@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with running_fake_telegram() as fake:
        yield fake


async def test_telegram_in_the_customers_language_with_a_keyboard_in_the_data(
    server: Running, world: World, telegram: FakeTelegram
) -> None:
    created = await add_endpoint(server, **telegram.endpoint("Bot", world.queues["general"].id))
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, telegram=3)
    await do_register_telegram_webhook(server.ctx, world.org_id, created["id"])
    await turn_on(server)
    sent = await telegram.post_update(telegram.private_message("O meu cartão foi bloqueado"))
    assert sent.status_code == 200, sent.text

    async def open_thread() -> str | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(select(Contact.thread_id))

    thread = await eventually(open_thread)
    rui = await take_thread(server, "rui@example.com", thread)
    assert (
        await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    ).status_code == 200

    async def texts(n: int) -> list[str] | None:
        found = [m.text for m in telegram.messages]
        return found if len(found) >= n else None

    [asked] = await eventually(lambda: texts(1))
    assert asked.startswith("Qual é o seu grau de satisfação") and "a 5 (muito satisfeito)" in asked
    [entry] = [e for e in await _timeline(rui, thread) if e["data"].get("survey")]
    keyboard = entry["data"]["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in keyboard[0]] == [f"survey:csat:{n}" for n in range(1, 6)]
    for text in ("5", "3"):
        posted = await telegram.post_update(telegram.private_message(text))
        assert posted.status_code == 200, posted.text
    assert (await eventually(lambda: texts(3)))[2] == "Obrigado pela sua opinião!"
    survey = await survey_of(server, thread)
    assert survey is not None and (survey.csat, survey.ces, survey.language) == (5, 3, "pt")
    assert await count(server, Contact) == 1
    await rui.aclose()


async def test_the_surveys_page_is_the_admins(server: Running, world: World) -> None:
    async with server.client() as anonymous:
        page = await anonymous.get("/admin/surveys", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login"
    for who in ("olga", "nikos"):  # an agent, a supervisor
        client = await login(server, f"{who}@example.com")
        try:
            assert (await client.get("/admin/surveys")).status_code == 403
        finally:
            await client.aclose()
    admin = await login(server, "admin@example.com")
    try:
        page = await admin.get("/admin/surveys", headers={"Accept-Language": "ru"})
        assert page.status_code == 200 and "Опросы" in page.text
        assert "Телефон (клавиши после звонка)" in page.text  # the channels, voice among them
        assert "<script>" not in page.text  # CSP: no inline script
    finally:
        await admin.aclose()
