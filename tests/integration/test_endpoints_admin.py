"""Admins change channel endpoints through the API: name, queue, settings (validated by the
channel as on create), a replaced secret that is never shown back, disabling; audited with
what changed; and a Telegram bot's webhook registered; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, login
from tests.fakes.telegram import FakeTelegram, running_fake_telegram
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_sms import sms_endpoint
from tests.integration.test_voice import voice_endpoint
from threadline.channels.models import Endpoint
from threadline.orgs.models import AuditEntry


@pytest.fixture
async def admin(server: Running, world: World) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, "admin@example.com")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def test_an_admin_edits_and_disables_an_endpoint(
    server: Running, world: World, admin: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    created = await add_endpoint(server, **sms_endpoint(twilio))
    path = f"/api/v1/endpoints/{created['id']}"
    renamed = await admin.patch(
        path,
        json={"name": "Sales line", "queue_id": world.queues["cards"].id, "secret": "new-token-9"},
    )
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert body["name"] == "Sales line" and body["queue_id"] == world.queues["cards"].id
    assert body["has_secret"] is True and "new-token-9" not in renamed.text
    assert body["settings"] == created["settings"] and body["key"] == created["key"]
    async with server.ctx.db.sessions() as session:
        stored = await session.get(Endpoint, created["id"])
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "endpoint.update")
        )
    assert stored is not None and stored.secret == "new-token-9"
    assert audit is not None and audit.data["fields"] == ["name", "queue_id", "secret"]
    assert "new-token-9" not in str(audit.data)

    # bad settings are refused as on create, naming the field; nothing changes
    bad = await admin.patch(path, json={"settings": {"provider": "carrier-pigeon"}})
    assert bad.status_code == 422 and "settings.provider" in bad.text, bad.text
    unknown_queue = await admin.patch(path, json={"queue_id": "no-such-queue"})
    assert unknown_queue.status_code == 404
    # disabled, then the queue cleared with an explicit null
    off = await admin.patch(path, json={"active": False, "queue_id": None})
    assert off.json()["active"] is False and off.json()["queue_id"] is None
    assert off.json()["name"] == "Sales line"

    agent = await login(server, "rui@example.com")
    try:
        refused = await agent.patch(path, json={"name": "mine now"})
    finally:
        await agent.aclose()
    assert refused.status_code == 403
    missing = await admin.patch("/api/v1/endpoints/no-such-endpoint", json={"name": "x"})
    assert missing.status_code == 404


async def test_an_ivr_edit_naming_an_unknown_queue_is_refused(
    server: Running, world: World, admin: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    created = await add_endpoint(server, **voice_endpoint(world, twilio))
    settings = dict(created["settings"])
    ivr = dict(settings["ivr"])
    ivr["options"] = [{**ivr["options"][0], "queue": "Mortgages"}, *ivr["options"][1:]]
    response = await admin.patch(
        f"/api/v1/endpoints/{created['id']}", json={"settings": {**settings, "ivr": ivr}}
    )
    assert response.status_code == 422 and "Mortgages" in response.text


async def test_an_admin_registers_a_telegram_bot_webhook(
    server: Running, world: World, admin: httpx.AsyncClient
) -> None:
    fake: FakeTelegram
    async with running_fake_telegram() as fake:
        created = await add_endpoint(server, **fake.endpoint("Bot", world.queues["general"].id))
        response = await admin.post(f"/api/v1/endpoints/{created['id']}/telegram-webhook")
        assert response.status_code == 200, response.text
        assert response.json()["url"] == fake.webhook_url
        assert fake.webhook_secret  # Telegram will sign its updates with it
    sms = await admin.post("/api/v1/endpoints/no-such/telegram-webhook")
    assert sms.status_code == 404
