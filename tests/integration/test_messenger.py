"""Facebook Messenger against a fake Graph API: the verify-token handshake, signed page
notifications landing in the customer's thread (once per mid; the page's own echoes
skipped), bad posts storing nothing, replies going out once through the Send API with
delivery reports, and the 24-hour window; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
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
    PAGE_ID,
    VERIFY_TOKEN,
    FakeGraph,
    batched,
    messenger_event,
    messenger_message,
    running_fake_graph,
)
from tests.integration.test_sms import count, eventually, outbox_row
from threadline.channels.models import OutboxMessage
from threadline.customers.models import Customer, Identity
from threadline.db import utcnow
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

PSID = "6483920145327781"
SECRET = json.dumps({"app_secret": APP_SECRET, "access_token": ACCESS_TOKEN})


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


@pytest.fixture
async def page(server: Running, world: World, graph: FakeGraph) -> dict[str, Any]:
    body = graph.endpoint("messenger", PAGE_ID, "Bank page", world.queues["general"].id)
    created = await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, messenger=3)
    return created


def hook(server: Running, key: str = PAGE_ID) -> str:
    return f"{server.base_url}/webhooks/messenger/{key}"


async def _offers(client: httpx.AsyncClient) -> list[dict[str, Any]] | None:
    return (await client.get("/api/v1/offers")).json() or None


async def test_handshake_and_a_message_landing_once(
    server: Running, world: World, graph: FakeGraph, page: dict[str, Any]
) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "77"}
    async with httpx.AsyncClient(timeout=10) as meta:
        ok = await meta.get(hook(server), params=params)
        wrong = await meta.get(hook(server), params={**params, "hub.verify_token": "nope"})
    assert (ok.status_code, ok.text, wrong.status_code) == (200, "77", 403)
    for _ in range(2):  # Meta's retry is stored once
        response = await graph.notify(hook(server), messenger_message("m_1", PSID, "hi there"))
        assert response.status_code == 200, response.text
    echo = messenger_message("m_echo", PAGE_ID, "our own")
    echo["entry"][0]["messaging"][0]["message"]["is_echo"] = True
    assert (await graph.notify(hook(server), echo)).status_code == 200
    async with server.ctx.db.sessions() as db:
        [event] = list(await db.scalars(select(ThreadEvent).where(ThreadEvent.kind == "message")))
        identity = await db.scalar(select(Identity).where(Identity.kind == "messenger"))
    assert (event.channel, event.body, event.provider_msg_id) == ("messenger", "hi there", "m_1")
    assert identity is not None and identity.value == PSID
    assert await count(server, Contact) == 1


async def test_unsigned_forged_and_malformed_notifications_store_nothing(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    payload = messenger_message("m_bad", PSID, "let me in")
    async with httpx.AsyncClient(timeout=10) as anyone:
        unsigned = await anyone.post(hook(server), json=payload)
    forged = await graph.notify(hook(server), payload, secret="wrong-secret")
    assert unsigned.status_code == 403 and forged.status_code == 403
    for wrong in (
        {"object": "whatsapp_business_account", "entry": []},
        {"object": "page", "entry": [{"id": PAGE_ID, "messaging": "x"}]},
    ):
        response = await graph.notify(hook(server), wrong)
        assert response.status_code == 422, (wrong, response.text)
    # an event that cannot be read is skipped, not retried forever: Meta gets its 200
    unreadable = messenger_event({"sender": {"id": PSID}, "message": {"text": "no mid"}})
    assert (await graph.notify(hook(server), unreadable)).status_code == 200
    assert await count(server, ThreadEvent) == 0
    assert await count(server, Customer) == 0


async def test_a_reply_goes_out_once_and_the_window_closes_after_24_hours(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert (await graph.notify(hook(server), messenger_message("m_1", PSID, "help"))).is_success
    offers = await eventually(lambda: _offers(rui))
    assert (await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")).status_code == 200
    thread_id = offers[0]["thread_id"]
    reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "On it"})
    assert reply.status_code == 201 and reply.json()["channel"] == "messenger"
    row = await eventually(lambda: outbox_row(server, status="sent"))
    [sent] = graph.messages
    assert sent.path == "me/messages" and sent.payload == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "On it"},
    }
    assert row.provider_msg_id == sent.id
    delivery = messenger_event(
        {"sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "delivery": {"mids": [sent.id]}}
    )
    assert (await graph.notify(hook(server), delivery)).status_code == 200
    await eventually(lambda: outbox_row(server, status="delivered"))
    async with server.ctx.uow() as uow:  # the customer last wrote 25 hours ago
        await uow.session.execute(
            update(ThreadEvent)
            .where(ThreadEvent.provider_msg_id == "m_1")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    late = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Hello?"})
    assert late.status_code == 409 and "24-hour window" in late.json()["message"]
    template = await rui.post(
        f"/api/v1/threads/{thread_id}/messages", json={"template": {"name": "case_update"}}
    )
    assert template.status_code == 422  # Messenger has no WhatsApp-style templates
    assert await count(server, OutboxMessage) == 1
    await rui.aclose()


SHOP_PAGE_ID = "104729785590099"
SHOP_PSID = "7000000000000001"


async def test_one_app_webhook_routes_each_page_to_its_endpoint(
    server: Running, world: World, graph: FakeGraph, page: dict[str, Any]
) -> None:
    """One Meta app's webhook delivers for all its pages: each message goes to its page's
    endpoint and is answered through it; a page nobody configured is dropped, acknowledged."""
    queue_id = world.queues["general"].id
    shop = await add_endpoint(
        server, **graph.endpoint("messenger", SHOP_PAGE_ID, "Shop page", queue_id)
    )
    notification = batched(
        messenger_message("m_bank", PSID, "to the bank"),
        messenger_message("m_shop", SHOP_PSID, "to the shop", SHOP_PAGE_ID),
        messenger_message("m_gone", PSID, "to a page not here", "100000000000001"),
    )
    response = await graph.notify(hook(server), notification)
    assert response.status_code == 200, response.text
    async with server.ctx.db.sessions() as db:
        events = list(await db.scalars(select(ThreadEvent).where(ThreadEvent.kind == "message")))
    by_mid = {e.provider_msg_id: e for e in events}
    assert {mid: e.data["endpoint_id"] for mid, e in by_mid.items()} == {
        "m_bank": page["id"],
        "m_shop": shop["id"],
    }
    thread_id = by_mid["m_shop"].thread_id
    rui = await take_thread(server, "rui@example.com", thread_id)
    reply = await rui.post(f"/api/v1/threads/{thread_id}/messages", json={"body": "Hi!"})
    assert reply.status_code == 201, reply.text
    row = await eventually(lambda: outbox_row(server, status="sent"))
    assert row.endpoint_id == shop["id"] and row.address == SHOP_PSID
    assert [m.payload["recipient"]["id"] for m in graph.messages] == [SHOP_PSID]
    await rui.aclose()


# ---- payloads as Meta really sends them (tests/channels/fixtures/messenger) ----------------

RECORDED_PSID = "6945038035584561"  # the customer of the recorded payloads


def recorded(name: str) -> dict[str, Any]:
    return recorded_payload("messenger", name)


async def test_a_postback_without_mid_is_stored_once_however_often_meta_sends_it(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    for _ in range(3):
        response = await graph.notify(hook(server), recorded("postback_without_mid"))
        assert response.status_code == 200, response.text
    [tap] = await events_of(server, ThreadEvent.kind == "message")
    assert tap.body == "Get Started" and tap.data["postback"] == "GET_STARTED_PAYLOAD"
    assert tap.provider_msg_id and tap.provider_msg_id.startswith("postback.")
    again = recorded("postback_without_mid")
    again["entry"][0]["messaging"][0]["timestamp"] += 60_000  # tapped again a minute later
    assert (await graph.notify(hook(server), again)).status_code == 200
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 2


async def test_a_location_is_a_location_and_reactions_land_on_their_message(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    for name in ("text", "location", "reaction", "reaction", "unreaction", "read", "echo"):
        response = await graph.notify(hook(server), recorded(name))
        assert response.status_code == 200, (name, response.text)
    said, place = await events_of(server, ThreadEvent.kind == "message")
    assert place.body == "" and place.data["location"] == {
        "latitude": 37.483872693672,
        "longitude": -122.14900441942,
        "name": "Pinned Location",
    }
    loved, unloved = await events_of(server, ThreadEvent.kind == "reaction")
    assert loved.data["relates_to"]["event_id"] == said.id
    assert unloved.data["relates_to"]["event_id"] == said.id
    assert (loved.data["emoji"], unloved.data["emoji"]) == ("\u2764\ufe0f", "")


async def test_the_sender_is_named_from_the_graph_profile_asked_once(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    graph.profiles[RECORDED_PSID] = {"first_name": "Peter", "last_name": "Chang"}
    for name in ("text", "image", "postback"):
        assert (await graph.notify(hook(server), recorded(name))).status_code == 200
    async with server.ctx.db.sessions() as db:
        customer = await db.scalar(select(Customer))
    assert customer is not None and customer.name == "Peter Chang"
    said = await events_of(server, ThreadEvent.author_type == "customer")
    assert len(said) == 3 and {e.author_name for e in said} == {"Peter Chang"}
    assert graph.profile_requests == 1  # then the customer has a name


async def test_without_a_profile_the_message_is_stored_all_the_same(
    server: Running, graph: FakeGraph, page: dict[str, Any]
) -> None:
    graph.delay_s = 5.0  # slower than the profile read waits; the message does not wait more
    response = await graph.notify(hook(server), recorded("text"))
    assert response.status_code == 200, response.text
    started = time.monotonic()  # and the next one from them does not wait for it again
    again = messenger_message("m_again", RECORDED_PSID, "still there?")
    assert (await graph.notify(hook(server), again)).status_code == 200
    assert time.monotonic() - started < 2.5 and graph.profile_requests == 1
    graph.delay_s = 0.0
    unknown = messenger_message("m_nobody", "1111111111111111", "who am I")
    assert (await graph.notify(hook(server), unknown)).status_code == 200  # error 100
    assert await count(server, ThreadEvent, ThreadEvent.kind == "message") == 3
    async with server.ctx.db.sessions() as db:
        names = set(await db.scalars(select(Customer.name)))
    assert names == {None}
