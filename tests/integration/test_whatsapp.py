"""WhatsApp Cloud API against a fake Graph API speaking its real HTTP API: the verify-token
handshake, signed notifications landing in the customer's one thread (once per wamid), bad
posts storing nothing, agent replies going out once through the outbox, delivery reports,
the 24-hour customer-service window (templates outside it), one customer across SMS and
WhatsApp, and one app's webhook routed to each number's endpoint; on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
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
    events_of,
    login,
    recorded_payload,
    set_capacity,
    take_thread,
)
from tests.fakes.meta import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeGraph,
    batched,
    running_fake_graph,
    whatsapp_message,
    whatsapp_status,
)
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_sms import count, eventually, outbox_row, sms_endpoint
from tests.integration.test_sms import inbound as sms_inbound
from tests.integration.test_sms import webhook_url as sms_webhook_url
from threadline.channels.models import OutboxMessage
from threadline.config import Settings
from threadline.customers.models import Customer, Identity
from threadline.db import utcnow
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

WA_ID = "351912345678"
CUSTOMER = "+351912345678"
SECRET = json.dumps({"app_secret": APP_SECRET, "access_token": ACCESS_TOKEN})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"outbox_backoff_s": 0.1, "outbox_backoff_max_s": 0.3, "outbox_send_timeout_s": 2.0}
    )


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
async def whatsapp(server: Running, world: World, graph: FakeGraph) -> dict[str, Any]:
    """A WhatsApp number configured by the admin through the API, pointing at the fake; Rui
    may take WhatsApp (and SMS) conversations."""
    queue_id = world.queues["general"].id
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp support", queue_id)
    created = await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3, whatsapp=3)
    return created


def hook(server: Running, key: str = PHONE_NUMBER_ID) -> str:
    return f"{server.base_url}/webhooks/whatsapp/{key}"


def text(wamid: str, body: str, wa_id: str = WA_ID) -> dict[str, Any]:
    return whatsapp_message(wamid, wa_id, "text", body=body)


async def _offers(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    return (await client.get("/api/v1/offers")).json() or None


async def whatsapp_thread_with_agent(
    server: Running, graph: FakeGraph, body: str = "my card is blocked"
) -> tuple[httpx.AsyncClient, str]:
    """The customer writes on WhatsApp, Rui accepts the offer: his client and the thread."""
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    posted = await graph.notify(hook(server), text("wamid.IN1", body))
    assert posted.status_code == 200, posted.text
    offers = await eventually(lambda: _offers(rui))
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return rui, offers[0]["thread_id"]


async def test_the_verify_token_handshake(
    server: Running, whatsapp: dict[str, Any], graph: FakeGraph
) -> None:
    assert whatsapp["has_secret"] is True
    assert VERIFY_TOKEN not in json.dumps(whatsapp) and ACCESS_TOKEN not in json.dumps(whatsapp)
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201"}
    async with httpx.AsyncClient(timeout=10) as meta:
        ok = await meta.get(hook(server), params=params)
        wrong = await meta.get(hook(server), params={**params, "hub.verify_token": "guess-it"})
        no_mode = await meta.get(hook(server), params={**params, "hub.mode": "unsubscribe"})
        nobody = await meta.get(hook(server, "999999999"), params=params)
    assert ok.status_code == 200 and ok.text == "1158201"
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 403 and no_mode.status_code == 403
    assert nobody.status_code == 404


async def test_a_signed_message_lands_in_the_thread_and_opens_a_contact(
    server: Running, world: World, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    response = await graph.notify(hook(server), text("wamid.A1", "hello from WhatsApp"))
    assert response.status_code == 200, response.text
    photo = whatsapp_message(
        "wamid.A2", WA_ID, "image", id="1479537139650973", mime_type="image/jpeg", caption="card"
    )
    assert (await graph.notify(hook(server), photo)).status_code == 200
    async with server.ctx.db.sessions() as db:
        event = await db.scalar(
            select(ThreadEvent).where(ThreadEvent.provider_msg_id == "wamid.A1")
        )
        assert event is not None and event.channel == "whatsapp"
        assert (event.body, event.author_type, event.author_name) == (
            "hello from WhatsApp",
            "customer",
            "Ana",
        )
        image = await db.scalar(
            select(ThreadEvent).where(ThreadEvent.provider_msg_id == "wamid.A2")
        )
        assert image is not None and image.thread_id == event.thread_id and image.body == "card"
        assert image.data["attachments"] == [
            {
                "type": "image",
                "media_id": "1479537139650973",
                "mime_type": "image/jpeg",
                "caption": "card",
            }
        ]
        contact = await db.scalar(select(Contact).where(Contact.thread_id == event.thread_id))
        assert contact is not None and contact.queue_id == world.queues["general"].id
        assert contact.channel == "whatsapp"
        identity = await db.scalar(select(Identity).where(Identity.kind == "phone"))
        assert identity is not None and identity.value == CUSTOMER
        assert identity.customer_id == contact.customer_id
    assert await count(server, Contact) == 1


async def test_a_notification_meta_retries_is_stored_once(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    for _ in range(3):
        response = await graph.notify(hook(server), text("wamid.DUP", "once"))
        assert response.status_code == 200, response.text
    assert await count(server, ThreadEvent, ThreadEvent.provider_msg_id == "wamid.DUP") == 1
    assert await count(server, Contact) == 1


async def test_unsigned_forged_and_malformed_notifications_store_nothing(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    payload = text("wamid.BAD", "let me in")
    body = json.dumps(payload).encode()
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=10) as anyone:
        unsigned = await anyone.post(hook(server), content=body, headers=json_type)
        tampered = await anyone.post(  # signed, then changed
            hook(server),
            content=body.replace(b"let me in", b"let me out"),
            headers={**json_type, "X-Hub-Signature-256": graph.sign(body)},
        )
        not_hmac = await anyone.post(
            hook(server), content=body, headers={"X-Hub-Signature-256": "sha256=00"}
        )
        sha1 = await anyone.post(  # the old X-Hub-Signature scheme is not enough
            hook(server), content=body, headers={"X-Hub-Signature": "sha1=00"}
        )
    forged = await graph.notify(hook(server), payload, secret="not-the-app-secret")
    for response in (unsigned, tampered, not_hmac, sha1, forged):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    malformed = [
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account", "entry": "nope"},
    ]
    for wrong in malformed:
        response = await graph.notify(hook(server), wrong)
        assert response.status_code == 422, (wrong, response.text)
    # a message that cannot be read is skipped, not retried forever: Meta gets its 200
    unreadable = [
        text("wamid.BAD2", "hi", wa_id="not-a-number"),
        whatsapp_message("", WA_ID, "text", body="no id"),
    ]
    for skipped in unreadable:
        response = await graph.notify(hook(server), skipped)
        assert response.status_code == 200, (skipped, response.text)
    async with httpx.AsyncClient(timeout=10) as meta:
        garbage = b"\xff\x00{"
        not_json = await meta.post(
            hook(server), content=garbage, headers={"X-Hub-Signature-256": graph.sign(garbage)}
        )
    assert not_json.status_code == 422
    assert (await graph.notify(hook(server, "999999999"), payload)).status_code == 404
    assert await count(server, ThreadEvent) == 0
    assert await count(server, Customer) == 0


async def test_an_agent_reply_goes_out_once_and_delivery_reports_track_it(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    rui, thread_id = await whatsapp_thread_with_agent(server, graph)
    for _ in range(2):  # a retried client id is one message, one send
        reply = await rui.post(
            f"/api/v1/threads/{thread_id}/messages",
            json={"body": "Unblocked it for you.", "client_msg_id": "r-1"},
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["channel"] == "whatsapp"
    row = await eventually(lambda: outbox_row(server, status="sent"))
    [sent] = graph.messages
    assert sent.path == f"{PHONE_NUMBER_ID}/messages"
    assert sent.payload["to"] == WA_ID and sent.payload["messaging_product"] == "whatsapp"
    assert sent.payload["type"] == "text"
    assert sent.payload["text"]["body"] == "Unblocked it for you."
    assert row.provider_msg_id == sent.id and row.address == CUSTOMER
    for status in ("delivered", "read", "sent"):  # the late "sent" moves nothing back
        report = await graph.notify(hook(server), whatsapp_status(sent.id, status, WA_ID))
        assert report.status_code == 200, report.text
    read = await eventually(lambda: outbox_row(server, status="read"))
    assert read.id == row.id
    unknown = await graph.notify(hook(server), whatsapp_status("wamid.NOT-OURS", "read", WA_ID))
    assert unknown.status_code == 200  # acknowledged, nothing to update
    assert len(graph.messages) == 1
    await rui.aclose()


async def test_a_failed_report_and_a_refused_send_show_on_the_timeline(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    rui, thread_id = await whatsapp_thread_with_agent(server, graph)
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "First"})
    row = await eventually(lambda: outbox_row(server, status="sent"))
    error = [{"code": 131026, "title": "Message undeliverable"}]
    report = await graph.notify(
        hook(server), whatsapp_status(row.provider_msg_id, "failed", WA_ID, error)
    )
    assert report.status_code == 200
    failed = await eventually(lambda: outbox_row(server, status="failed"))
    assert "131026" in (failed.last_error or "")
    graph.fail_with = 400
    await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Second"})
    refused = await eventually(lambda: outbox_row(server, status="failed", body="Second"))
    assert refused.attempts == 1
    events = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    assert [e["kind"] for e in events].count("delivery_failed") == 2
    await rui.aclose()


async def test_outside_the_24_hour_window_only_a_template_goes(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    rui, thread_id = await whatsapp_thread_with_agent(server, graph)
    async with server.ctx.uow() as uow:  # the customer last wrote 25 hours ago
        await uow.session.execute(
            update(ThreadEvent)
            .where(ThreadEvent.provider_msg_id == "wamid.IN1")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    refused = await rui.post(
        f"/api/v1/threads/{thread_id}/messages", json={"body": "Are you still there?"}
    )
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "conflict"
    assert problem["message"] == "outside WhatsApp's 24-hour window: send a template"
    assert await count(server, OutboxMessage) == 0
    agent_messages = (ThreadEvent.author_type == "agent", ThreadEvent.kind == "message")
    assert await count(server, ThreadEvent, *agent_messages) == 0
    template = {"name": "case_update", "language": "pt_PT", "params": ["Ana", "4471"]}
    sent = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"template": template})
    assert sent.status_code == 201, sent.text
    assert sent.json()["body"] == "Template case_update (pt_PT): Ana, 4471"
    assert sent.json()["data"]["template"] == template
    await eventually(lambda: outbox_row(server, status="sent"))
    [message] = graph.messages
    assert message.payload["type"] == "template"
    assert message.payload["template"] == {
        "name": "case_update",
        "language": {"code": "pt_PT"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "4471"}],
            }
        ],
    }
    # the customer answers: the window opens again and free text goes
    assert (await graph.notify(hook(server), text("wamid.IN2", "yes"))).status_code == 200
    free = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Great"})
    assert free.status_code == 201, free.text
    await eventually(lambda: outbox_row(server, status="sent", body="Great"))
    bad = [
        {"template": {"name": "Not A Name"}},
        {},
        {"template": {"name": "ok", "language": "portuguese"}},
    ]
    for wrong in bad:
        response = await rui.post(f"/api/v1/threads/{thread_id}/messages", json=wrong)
        assert response.status_code == 422, (wrong, response.text)
    await rui.aclose()


async def test_templates_go_only_where_a_channel_sends_them(
    server: Running, world: World, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    rui, thread_id = await whatsapp_thread_with_agent(server, graph)
    for channel in ("chat", "sms"):
        response = await rui.post(
            f"/api/v1/threads/{thread_id}/messages",
            json={"template": {"name": "case_update"}, "channel": channel},
        )
        assert response.status_code == 422, (channel, response.text)
    assert await count(server, OutboxMessage) == 0
    await rui.aclose()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def test_one_phone_on_sms_and_whatsapp_is_one_customer_with_one_thread(
    server: Running, world: World, graph: FakeGraph, twilio: FakeTwilio, whatsapp: dict[str, Any]
) -> None:
    await add_endpoint(server, **sms_endpoint(twilio, world.queues["general"].id))
    texted = await twilio.post_signed(sms_webhook_url(server), sms_inbound("SM-1", "by SMS"))
    assert texted.status_code == 200, texted.text
    written = await graph.notify(hook(server), text("wamid.X1", "and on WhatsApp"))
    assert written.status_code == 200, written.text
    async with server.ctx.db.sessions() as db:
        events = list(
            await db.scalars(select(ThreadEvent).where(ThreadEvent.author_type == "customer"))
        )
    assert {e.channel for e in events} == {"sms", "whatsapp"}
    assert len({e.thread_id for e in events}) == 1
    assert await count(server, Customer) == 1
    assert await count(server, Contact) == 1  # the second message joins the open contact
    # and the agent may answer on either channel: each reaches its own provider
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    offers = await eventually(lambda: _offers(rui))
    assert (await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")).status_code == 200
    thread_id = events[0].thread_id
    on_sms = await rui.post(
        f"/api/v1/threads/{thread_id}/messages", json={"body": "By SMS", "channel": "sms"}
    )
    on_whatsapp = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "By WA"})
    assert on_sms.status_code == 201 and on_whatsapp.status_code == 201
    assert on_whatsapp.json()["channel"] == "whatsapp"
    await eventually(lambda: _both_sent(twilio, graph))
    assert [m.body for m in twilio.messages] == ["By SMS"]
    assert [m.payload["text"]["body"] for m in graph.messages] == ["By WA"]
    await rui.aclose()


async def _both_sent(twilio: FakeTwilio, graph: FakeGraph) -> bool:
    return bool(twilio.messages and graph.messages)


SALES_NUMBER_ID = "106540352242999"
NOBODYS_NUMBER_ID = "109999999999999"
OTHER_APPS_NUMBER_ID = "106540352240000"
BEA = "351934567890"


async def test_one_app_webhook_routes_each_number_to_its_endpoint(
    server: Running,
    world: World,
    graph: FakeGraph,
    whatsapp: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Meta delivers all of an app's numbers to the one webhook URL configured for the app:
    each message goes to its number's endpoint and is answered from that number; a number
    nobody configured here, or one of another Meta app, is acknowledged and stored nowhere."""
    queue_id = world.queues["general"].id
    sales = await add_endpoint(
        server, **graph.endpoint("whatsapp", SALES_NUMBER_ID, "WhatsApp sales", queue_id)
    )
    await add_endpoint(
        server,
        **graph.endpoint(
            "whatsapp", OTHER_APPS_NUMBER_ID, "Other app", app_secret="another-apps-secret"
        ),
    )

    def to(number: str, wamid: str, words: str) -> dict[str, Any]:
        return whatsapp_message(wamid, BEA, "text", "Bea", number, body=words)

    notification = batched(
        text("wamid.SUPPORT", "to support"),
        to(SALES_NUMBER_ID, "wamid.SALES", "to sales"),
        to(NOBODYS_NUMBER_ID, "wamid.NOBODY", "to nobody"),
        to(OTHER_APPS_NUMBER_ID, "wamid.FOREIGN", "to another app's number"),
    )
    for _ in range(2):  # Meta retries: each message still stored once
        response = await graph.notify(hook(server), notification)
        assert response.status_code == 200, response.text
    alone = await graph.notify(hook(server), to(NOBODYS_NUMBER_ID, "wamid.LONE", "anyone?"))
    assert alone.status_code == 200, alone.text
    async with server.ctx.db.sessions() as db:
        stored = {
            e.provider_msg_id: e
            for e in await db.scalars(select(ThreadEvent).where(ThreadEvent.kind == "message"))
        }
    assert set(stored) == {"wamid.SUPPORT", "wamid.SALES"}
    assert stored["wamid.SUPPORT"].data["endpoint_id"] == whatsapp["id"]
    assert stored["wamid.SALES"].data["endpoint_id"] == sales["id"]
    assert await count(server, Customer) == 2
    logged = capsys.readouterr().out
    assert "meta.unknown_recipient" in logged and NOBODYS_NUMBER_ID in logged
    assert OTHER_APPS_NUMBER_ID in logged

    # Rui answers Bea: the reply leaves from the sales number she wrote to
    bea_thread = stored["wamid.SALES"].thread_id
    rui = await take_thread(server, "rui@example.com", bea_thread)
    reply = await rui.post(f"/api/v1/threads/{bea_thread}/messages", json={"body": "Hi Bea"})
    assert reply.status_code == 201, reply.text
    row = await eventually(lambda: outbox_row(server, status="sent"))
    [sent] = graph.messages
    assert sent.path == f"{SALES_NUMBER_ID}/messages" and sent.payload["to"] == BEA
    assert row.endpoint_id == sales["id"]
    # its delivery report comes with the sales number's metadata, through the same URL
    report = await graph.notify(
        hook(server), whatsapp_status(sent.id, "delivered", BEA, phone_number_id=SALES_NUMBER_ID)
    )
    assert report.status_code == 200, report.text
    await eventually(lambda: outbox_row(server, status="delivered"))
    await rui.aclose()


# ---- payloads as Meta really sends them (tests/channels/fixtures/whatsapp) -----------------

SHEENA = "+16505551234"  # the customer of Meta's examples (wa_id 16505551234)


def recorded(name: str) -> dict[str, Any]:
    return recorded_payload("whatsapp", name)


async def test_a_contacts_message_does_not_sink_the_notification_it_came_in(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    for _ in range(2):  # and Meta's retry of it is stored once
        response = await graph.notify(hook(server), recorded("batch_with_contacts"))
        assert response.status_code == 200, response.text
    stored = await events_of(server, ThreadEvent.kind == "message")
    assert [e.provider_msg_id for e in stored] == [
        "wamid.BATCH.1",
        "wamid.BATCH.2",
        "wamid.BATCH.3",
    ]
    assert [e.body for e in stored] == ["Here is my colleague", "", "Please call her"]
    [card] = stored[1].data["contacts"]
    assert card["name"] == "Barbara J. Johnson"
    assert card["phones"] == [{"phone": "+1 (415) 555-0829", "type": "MOBILE"}]
    assert card["emails"] == [{"email": "bjohnson@socialtsunami.com", "type": "WORK"}]
    assert {e.author_name for e in stored} == {"Sheena Nelson"}
    async with server.ctx.db.sessions() as db:
        customer = await db.scalar(select(Customer))
    assert customer is not None and customer.name == "Sheena Nelson"
    # a message of a type nobody knows yet is kept as what it is, never refused
    assert (await graph.notify(hook(server), recorded("unsupported"))).status_code == 200
    unsupported = (await events_of(server, ThreadEvent.kind == "message"))[-1]
    assert unsupported.data["unsupported"] == {
        "type": "unsupported",
        "reason": "Message type unknown",
    }


async def test_a_location_and_a_contact_card_are_stored_as_what_they_are(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    for name in ("location", "contacts"):
        assert (await graph.notify(hook(server), recorded(name))).status_code == 200
    place, contacts = await events_of(server, ThreadEvent.kind == "message")
    assert place.data["location"] == {
        "latitude": 37.483253479003906,
        "longitude": -122.14960479736328,
        "name": "Main Street Beach",
        "address": "1 Hacker Way, Menlo Park, CA 94025",
        "url": "https://foursquare.com/v/4d7031d35b5df7744",
    }
    assert place.body == "" and "Location" not in json.dumps(place.data)
    assert contacts.data["contacts"][0]["org"] == "Social Tsunami"


async def test_a_reaction_lands_on_the_message_it_refers_to_and_removal_removes_it(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    # the customer's own message (the wamid the reactions name), then an agent's reply
    reacted_to = text("wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=", "hi")
    original = recorded("text")["entry"][0]["changes"][0]["value"]
    reacted_to["entry"][0]["changes"][0]["value"]["contacts"] = original["contacts"]
    reacted_to["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "16505551234"
    assert (await graph.notify(hook(server), reacted_to)).status_code == 200
    for name in ("reaction", "reaction", "reaction_removed"):  # a retry changes nothing
        assert (await graph.notify(hook(server), recorded(name))).status_code == 200
    [message] = await events_of(server, ThreadEvent.kind == "message")
    added, removed = await events_of(server, ThreadEvent.kind == "reaction")
    for reaction in (added, removed):
        assert reaction.thread_id == message.thread_id and reaction.author_type == "customer"
        assert reaction.data["relates_to"] == {
            "provider_msg_id": message.provider_msg_id,
            "event_id": message.id,
            "seq": message.seq,
        }
    assert (added.data["emoji"], removed.data["emoji"]) == ("\U0001f44d", "")
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 1
    assert await count(server, Contact) == 1  # a reaction is no new demand


async def test_a_reaction_to_an_agent_reply_names_the_reply(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    rui, thread_id = await whatsapp_thread_with_agent(server, graph)
    reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Done!"})
    assert reply.status_code == 201, reply.text
    await eventually(lambda: outbox_row(server, status="sent"))
    [sent] = graph.messages
    thumbs = whatsapp_message("wamid.R1", WA_ID, "reaction", message_id=sent.id, emoji="\u2764")
    assert (await graph.notify(hook(server), thumbs)).status_code == 200
    [reaction] = await events_of(server, ThreadEvent.kind == "reaction")
    assert reaction.data["relates_to"]["event_id"] == reply.json()["id"]
    assert reaction.data["emoji"] == "\u2764" and reaction.thread_id == thread_id
    timeline = (await rui.get(f"/api/v1/threads/{thread_id}/events")).json()
    assert timeline[-1]["kind"] == "reaction"
    assert timeline[-1]["data"]["relates_to"]["seq"] == reply.json()["seq"]
    await rui.aclose()


async def test_an_edit_is_an_edit_of_the_original_with_its_new_caption_and_file(
    server: Running, graph: FakeGraph, whatsapp: dict[str, Any]
) -> None:
    assert (await graph.notify(hook(server), recorded("image"))).status_code == 200
    for _ in range(2):
        assert (await graph.notify(hook(server), recorded("edit"))).status_code == 200
    [original] = await events_of(server, ThreadEvent.kind == "message")
    [edit] = await events_of(server, ThreadEvent.kind == "edit")
    assert original.body == "This is a caption"  # the history is kept
    assert edit.body == "The blue one, not the red one"
    assert edit.data["relates_to"]["event_id"] == original.id
    assert edit.data["attachments"] == [
        {
            "type": "image",
            "media_id": "1003383421387299",
            "mime_type": "image/jpeg",
            "provider_sha256": "c2hhMjU2IG9mIHRoZSBuZXcgaW1hZ2UgYnl0ZXMgaGVyZQ==",
            "caption": "The blue one, not the red one",
        }
    ]
    assert "does not show" not in json.dumps(edit.data) + (edit.body or "")


async def test_the_profile_name_names_a_customer_without_one_and_never_replaces_a_name(
    server: Running, world: World, graph: FakeGraph, twilio: FakeTwilio, whatsapp: dict[str, Any]
) -> None:
    await add_endpoint(server, **sms_endpoint(twilio, world.queues["general"].id))
    # known by SMS first, so with no name: the WhatsApp profile names them
    texted = await twilio.post_signed(
        sms_webhook_url(server), sms_inbound("SM-N1", "hi", sender=SHEENA)
    )
    assert texted.status_code == 200, texted.text
    assert (await graph.notify(hook(server), recorded("text"))).status_code == 200
    async with server.ctx.db.sessions() as db:
        customer = await db.scalar(select(Customer))
    assert customer is not None and customer.name == "Sheena Nelson"
    # an agent renames them: a later profile name leaves that name alone
    admin = await login(server, "admin@example.com")
    renamed = await admin.patch(f"/api/v1/customers/{customer.id}", json={"name": "Sheena N."})
    assert renamed.status_code == 200, renamed.text
    assert (await graph.notify(hook(server), recorded("location"))).status_code == 200
    async with server.ctx.db.sessions() as db:
        again = await db.get(Customer, customer.id)
    assert again is not None and again.name == "Sheena N."
    await admin.aclose()
