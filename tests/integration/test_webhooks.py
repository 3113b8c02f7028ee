"""Outbound webhooks against a real local receiver that verifies every signature with the
Standard Webhooks reference library: events an admin subscribed to arrive signed, failed
attempts are retried with growing delays and the same webhook-id, nothing is lost when the
server stops with deliveries pending, 410 Gone and repeated failures disable a subscription,
private addresses are refused (on save and at send time), admins of another organisation
see nothing and agents are refused; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.requests import Request
from starlette.responses import Response

from tests.conftest import PASSWORD, Running, World, eventually, login, make_world
from tests.fakes.http_server import free_port, serving
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.app import create_app
from threadline.config import Settings
from threadline.context import Context
from threadline.db import utcnow
from threadline.events.domain import CustomersMerged
from threadline.orgs.models import AuditEntry
from threadline.orgs.services import do_create_org
from threadline.webhooks.delivery import prune_deliveries
from threadline.webhooks.models import WebhookDelivery, WebhookSubscription

CRM = "https://crm.example.com/threadline"
DELAYS = [0.3, 1.2]  # the waits after the 1st and 2nd failed attempts: three attempts in all


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhooks_allow_http": True,
            "webhooks_retry_delays_s": DELAYS,
            "webhooks_disable_after_failures": 2,
            "webhooks_lease_s": 5.0,
            "webhooks_max_concurrent_sends": 2,
        }
    )


@dataclass
class Hit:
    at: float
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None  # what the reference library verified, None if it refused


@dataclass
class Receiver:
    """A company's endpoint: verifies each request with its secret, answers as scripted
    (status, headers) and then 200."""

    secret: str | None = None
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    url: str = ""
    answer_body: bytes | None = None  # instead of "thanks" / "not now"
    delay_s: float = 0.0  # a slow receiver
    in_flight: int = 0
    most_in_flight: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.delay_s)
        self.in_flight -= 1
        headers = dict(request.headers)
        try:
            payload = Webhook(self.secret or "whsec_AAAA").verify(body, headers)
        except WebhookVerificationError:
            payload = None
        self.hits.append(Hit(time.monotonic(), headers, body, payload))
        status, extra = self.script.pop(0) if self.script else (200, {})
        body = self.answer_body or (b"thanks" if status < 300 else b"not now")
        await Response(body, status, extra)(scope, receive, send)

    def ids(self) -> list[str]:
        return [h.headers["webhook-id"] for h in self.hits]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    fake = Receiver()
    async with serving(fake) as base_url:
        fake.url = f"{base_url}/threadline/events"
        yield fake


@pytest.fixture
async def admin(server: Running, world: World) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, "admin@example.com")
    try:
        yield client
    finally:
        await client.aclose()


async def subscribe(
    admin: httpx.AsyncClient, receiver: Receiver, types: list[str], **extra: Any
) -> dict[str, Any]:
    created = await admin.post(
        "/api/v1/webhooks", json={"url": receiver.url, "event_types": types, **extra}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    receiver.secret = body["secret"]
    return body


async def deliveries(admin: httpx.AsyncClient, hook_id: str, **params: str) -> list[Any]:
    answer = await admin.get(f"/api/v1/webhooks/{hook_id}/deliveries", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def settled(admin: httpx.AsyncClient, hook_id: str, count: int = 1) -> list[Any]:
    """The subscription's deliveries once `count` of them are delivered or failed."""

    async def probe() -> list[Any] | None:
        found = await deliveries(admin, hook_id)
        done = [d for d in found if d["status"] in ("delivered", "failed")]
        return found if len(done) >= count else None

    return await eventually(probe, timeout=15)


async def set_presence(server: Running, email: str, presence: str) -> None:
    agent = await login(server, email)
    try:
        answer = await agent.put("/api/v1/agents/me/presence", json={"presence": presence})
        assert answer.status_code == 200, answer.text
    finally:
        await agent.aclose()


async def test_subscribed_events_arrive_signed_and_failures_are_retried_with_backoff(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["agent.presence"], description="CRM")
    assert hook["secret"].startswith("whsec_") and hook["active"] is True
    listed = await admin.get("/api/v1/webhooks")
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    assert hook["secret"] not in listed.text  # shown once, never again
    single = await admin.get(f"/api/v1/webhooks/{hook['id']}")
    assert single.json()["description"] == "CRM" and "secret" not in single.json()

    receiver.script = [(500, {}), (503, {})]  # fails twice, then 200
    await set_presence(server, "rui@example.com", "available")
    [delivery] = await settled(admin, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3

    assert len(receiver.hits) == 3
    assert all(h.payload is not None for h in receiver.hits), "a signature did not verify"
    assert len(set(receiver.ids())) == 1  # the same id on every attempt: the receiver dedupes
    assert len({h.headers["webhook-signature"] for h in receiver.hits}) >= 2  # re-signed
    payload = receiver.hits[-1].payload
    assert payload is not None and payload["id"] == receiver.ids()[0] == delivery["event_id"]
    assert payload["type"] == "agent.presence" and payload["org_id"] == world.org_id
    assert payload["data"]["agent_id"] == world.agents["rui"].id
    assert payload["data"]["presence"] == "available" and "timestamp" in payload
    first_gap = receiver.hits[1].at - receiver.hits[0].at
    second_gap = receiver.hits[2].at - receiver.hits[1].at
    assert DELAYS[0] * 0.8 <= first_gap < second_gap, (first_gap, second_gap)
    assert second_gap >= DELAYS[1] * 0.8

    detail = await admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}")
    assert detail.status_code == 200, detail.text
    log = detail.json()["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 503, 200]
    assert [a["number"] for a in log] == [1, 2, 3]
    assert log[0]["error"] == "HTTP 500" and log[2]["response_body"] == "thanks"
    assert detail.json()["payload"] == payload

    # an event type it did not subscribe to makes no delivery; filters by status work
    await admin.patch(f"/api/v1/agents/{world.agents['olga'].id}", json={"name": "Olga P."})
    await set_presence(server, "olga@example.com", "away")
    await settled(admin, hook["id"], 2)
    assert {d["event_type"] for d in await deliveries(admin, hook["id"])} == {"agent.presence"}
    assert await deliveries(admin, hook["id"], status="failed") == []
    newest, oldest = await deliveries(admin, hook["id"], status="delivered")
    assert newest["created_at"] >= oldest["created_at"] and oldest["id"] == delivery["id"]


async def test_a_429_is_retried_no_sooner_than_its_retry_after(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["*"])
    receiver.script = [(429, {"Retry-After": "2"})]
    await merge_event(server.ctx, world.org_id)
    [delivery] = await settled(admin, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert receiver.hits[1].at - receiver.hits[0].at >= 1.9  # not our 0.3 s


async def test_nothing_is_lost_when_the_server_stops_with_deliveries_pending(
    settings: Settings,
) -> None:
    hook_port = free_port()  # nothing listens there yet: every attempt fails to connect
    settings = settings.model_copy(update={"webhooks_retry_delays_s": [0.5] * 20})
    receiver = Receiver(url=f"http://127.0.0.1:{hook_port}/in")

    port = free_port()
    first = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    async with serving(first, port=port, lifespan="on") as base_url:
        running = Running(base_url, first.state.ctx)
        world = await make_world(running.ctx)
        admin = await login(running, "admin@example.com")
        hook = await subscribe(admin, receiver, ["customers.merged"])
        await admin.aclose()
        ids = [await merge_event(running.ctx, world.org_id) for _ in range(5)]

        async def attempted() -> bool:
            async with running.ctx.db.sessions() as db:
                tried = await db.scalars(
                    select(WebhookDelivery).where(WebhookDelivery.attempts > 0)
                )
                return bool(list(tried))

        await eventually(attempted)
    # stopped: some deliveries failed to connect and wait for a retry, others may not
    # even exist yet (their events wait in the log for the consumer)
    async with serving(receiver, port=hook_port):
        port = free_port()
        second = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
        async with serving(second, port=port, lifespan="on") as base_url:
            running = Running(base_url, second.state.ctx)

            async def all_delivered() -> bool:
                async with running.ctx.db.sessions() as db:
                    rows = list(
                        await db.scalars(
                            select(WebhookDelivery).where(
                                WebhookDelivery.subscription_id == hook["id"]
                            )
                        )
                    )
                return len(rows) == 5 and all(r.status == "delivered" for r in rows)

            await eventually(all_delivered, timeout=20)
    assert sorted(set(receiver.ids())) == sorted(ids)  # every event; repeats share an id
    assert all(h.payload is not None for h in receiver.hits)


async def merge_event(ctx: Context, org_id: str) -> str:
    """A durable event straight into the log (as the customers service states a merge)."""
    event = CustomersMerged(org_id=org_id, survivor_id=str(uuid.uuid4()), merged_id="m")
    async with ctx.uow() as uow:
        uow.emit(event)
    return event.id


async def test_410_gone_and_repeated_failures_disable_the_subscription(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["customers.merged"])
    path = f"/api/v1/webhooks/{hook['id']}"
    receiver.script = [(410, {})]
    await merge_event(server.ctx, world.org_id)
    [gone] = await settled(admin, hook["id"])
    assert gone["status"] == "failed" and gone["last_status_code"] == 410
    assert len(receiver.hits) == 1  # 410 is final: no retry
    off = (await admin.get(path)).json()
    assert off["active"] is False and "410" in off["disabled_reason"]
    # events while disabled make no delivery; a ping is refused with the reason
    await merge_event(server.ctx, world.org_id)
    refused = await admin.post(f"{path}/ping")
    assert refused.status_code == 409 and "disabled" in refused.json()["message"]

    on = await admin.patch(path, json={"active": True})
    assert on.json()["active"] is True and on.json()["disabled_reason"] is None
    receiver.script = [(500, {})] * 6  # two deliveries fail after every retry
    await merge_event(server.ctx, world.org_id)
    await merge_event(server.ctx, world.org_id)
    found = await settled(admin, hook["id"], 3)
    assert [d["status"] for d in found[:2]] == ["failed", "failed"]
    assert all(d["attempts"] == 3 for d in found[:2])
    off = (await admin.get(path)).json()
    assert off["active"] is False and off["consecutive_failures"] == 2
    assert "2 deliveries in a row failed" in off["disabled_reason"]


async def test_private_addresses_are_refused_on_save_and_at_send_time(
    settings: Settings, receiver: Receiver
) -> None:
    strict = settings.model_copy(update={"webhooks_allow_http": False})
    port = free_port()
    app = create_app(strict.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}))
    async with serving(app, port=port, lifespan="on") as base_url:
        running = Running(base_url, app.state.ctx)
        world = await make_world(running.ctx)
        admin = await login(running, "admin@example.com")
        try:
            for url, why in [
                (receiver.url, "https"),
                ("https://127.0.0.1/hook", "private or internal"),
                ("https://localhost:8443/hook", "private or internal"),
                ("https://169.254.169.254/latest/meta-data", "private or internal"),
                ("https://[::ffff:10.0.0.1]/hook", "private or internal"),
                ("https://no-such-host.invalid/hook", "does not resolve"),
            ]:
                answer = await admin.post(
                    "/api/v1/webhooks", json={"url": url, "event_types": ["*"]}
                )
                assert answer.status_code == 422, (url, answer.text)
                assert why in answer.json()["message"] and "url" in answer.json()["message"]
            # a name that resolved to a public address when saved points inside later
            async with running.ctx.uow() as uow:
                sneaky = WebhookSubscription(
                    org_id=world.org_id,
                    url="https://10.20.30.40/hook",
                    event_types=["*"],
                    secret="whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0",
                )
                uow.session.add(sneaky)
            ping = await admin.post(f"/api/v1/webhooks/{sneaky.id}/ping")
            assert ping.status_code == 202, ping.text
            [refused] = await settled(admin, sneaky.id)
            assert refused["status"] == "failed" and refused["attempts"] == 1
            assert refused["last_error"].startswith("refused: 10.20.30.40 is a private")
        finally:
            await admin.aclose()


async def test_admins_only_and_only_their_organisation(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["contact.resolved", "contact.abandoned"])
    assert hook["event_types"] == ["contact.abandoned", "contact.resolved"]
    path = f"/api/v1/webhooks/{hook['id']}"
    ping = await admin.post(f"{path}/ping")
    delivery_path = f"{path}/deliveries/{ping.json()['id']}"

    other = await do_create_org(server.ctx, f"other-{uuid.uuid4().hex[:6]}", "Other Bank")
    await do_create_agent(
        server.ctx,
        other.id,
        AgentCreate(email="boss@other.example", name="Boss", password=PASSWORD, role="admin"),
    )
    stranger = await login(server, "boss@other.example")
    agent = await login(server, "rui@example.com")
    try:
        assert (await stranger.get("/api/v1/webhooks")).json() == []
        for method, url, body in [
            ("GET", path, None),
            ("PATCH", path, {"description": "mine"}),
            ("DELETE", path, None),
            ("POST", f"{path}/ping", None),
            ("POST", f"{path}/rotate-secret", None),
            ("GET", f"{path}/deliveries", None),
            ("GET", delivery_path, None),
            ("POST", f"{delivery_path}/redeliver", None),
        ]:
            seen = await stranger.request(method, url, json=body)
            assert seen.status_code == 404, (method, url, seen.text)
            refused = await agent.request(method, url, json=body)
            assert refused.status_code == 403, (method, url, refused.text)
        assert (await agent.get("/api/v1/webhooks")).status_code == 403
        created = await agent.post(
            "/api/v1/webhooks", json={"url": receiver.url, "event_types": ["*"]}
        )
        assert created.status_code == 403
    finally:
        await stranger.aclose()
        await agent.aclose()
    assert (await admin.get(path)).json()["description"] == ""


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        ({"url": CRM, "event_types": ["contact.teleported"]}, 422, "contact.teleported"),
        ({"url": CRM, "event_types": []}, 422, "at least 1"),
        ({"url": CRM, "event_types": ["typing"]}, 422, "typing"),  # live only, never logged
        ({"url": "ftp://crm.example.com/", "event_types": ["*"]}, 422, "https://"),
        ({"url": "", "event_types": ["*"]}, 422, "url"),
        ({"event_types": ["*"]}, 422, "url"),
        ({"url": CRM, "event_types": ["*"], "active": "yes"}, 422, "active"),
        ({"url": CRM, "event_types": "*"}, 422, "event_types"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_with_a_reason(
    server: Running, admin: httpx.AsyncClient, body: dict[str, Any], status: int, why: str
) -> None:
    answer = await admin.post("/api/v1/webhooks", json=body)
    assert answer.status_code == status, answer.text
    assert why in answer.text


async def test_ping_rotate_redeliver_delete_and_prune(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["*"])
    path = f"/api/v1/webhooks/{hook['id']}"
    types = await admin.get("/api/v1/webhooks/event-types")
    assert "*" in types.json()["event_types"] and "contact.resolved" in types.json()["event_types"]
    assert "typing" not in types.json()["event_types"]

    ping = await admin.post(f"{path}/ping")
    assert ping.status_code == 202 and ping.json()["event_type"] == "webhook.test"
    [first] = await settled(admin, hook["id"])
    assert first["status"] == "delivered" and receiver.hits[0].payload is not None
    assert receiver.hits[0].payload["data"] == {"subscription_id": hook["id"]}

    # a new secret: what is sent from now on verifies only with it
    old_secret = receiver.secret
    rotated = await admin.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != old_secret
    redo = await admin.post(f"{path}/deliveries/{first['id']}/redeliver")
    assert redo.status_code == 202 and redo.json()["status"] == "pending"
    again = await admin.post(f"{path}/deliveries/{first['id']}/redeliver")
    assert again.status_code in (202, 409)  # 409 while the first redelivery is pending

    async def resent() -> bool:
        return len(receiver.hits) >= 2

    await eventually(resent)
    assert receiver.hits[1].payload is None  # signed with the new secret, checked with the old
    receiver.secret = rotated.json()["secret"]
    assert Webhook(receiver.secret).verify(receiver.hits[1].body, receiver.hits[1].headers)
    assert receiver.hits[1].headers["webhook-id"] == receiver.hits[0].headers["webhook-id"]

    async def two_attempts() -> bool:
        detail = (await admin.get(f"{path}/deliveries/{first['id']}")).json()
        return detail["status"] == "delivered" and len(detail["attempt_log"]) >= 2

    await eventually(two_attempts)

    async with server.ctx.db.sessions() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action).where(AuditEntry.target.in_([hook["id"], first["id"]]))
            )
        )
        audit_text = str(list(await db.scalars(select(AuditEntry.data))))
    assert {"webhook.create", "webhook.rotate_secret", "webhook.redeliver"} <= set(actions)
    assert hook["secret"] not in audit_text and rotated.json()["secret"] not in audit_text

    # old finished deliveries are pruned; the rest stay
    assert await prune_deliveries(server.ctx, utcnow()) == 0
    later = utcnow() + timedelta(days=server.ctx.settings.webhooks_keep_deliveries_days + 1)
    assert await prune_deliveries(server.ctx, later) == 1
    assert await deliveries(admin, hook["id"]) == []

    await admin.post(f"{path}/ping")
    deleted = await admin.delete(path)
    assert deleted.status_code == 204
    assert (await admin.get(path)).status_code == 404
    async with server.ctx.db.sessions() as db:
        left = await db.scalars(
            select(WebhookDelivery).where(WebhookDelivery.subscription_id == hook["id"])
        )
        assert list(left) == []


async def test_redirects_are_not_followed_and_long_answers_are_cut(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    # localhost may resolve to ::1 first, where nothing listens: the next address is tried
    local = receiver.url.replace("127.0.0.1", "localhost")
    created = await admin.post("/api/v1/webhooks", json={"url": local, "event_types": ["*"]})
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    receiver.script = [(307, {"location": f"{receiver.url}/elsewhere"})]
    receiver.answer_body = b"x" * 100_000
    await admin.post(f"/api/v1/webhooks/{created.json()['id']}/ping")
    [moved] = await settled(admin, created.json()["id"])
    assert moved["status"] == "failed" and moved["last_status_code"] == 307
    assert [h.payload is not None for h in receiver.hits] == [True]  # not followed
    detail = await admin.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries/{moved['id']}")
    [attempt] = detail.json()["attempt_log"]
    assert attempt["response_body"] == "x" * 2000 and attempt["error"] == "HTTP 307"


async def test_sends_run_in_the_background_at_most_a_few_at_once(
    server: Running, world: World, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(admin, receiver, ["customers.merged"])
    receiver.delay_s = 0.5
    started = time.monotonic()
    for _ in range(5):
        await merge_event(server.ctx, world.org_id)  # the write does not wait for the sends
    assert time.monotonic() - started < 0.5 * 5
    found = await settled(admin, hook["id"], 5)
    assert {d["status"] for d in found} == {"delivered"}
    assert receiver.most_in_flight == 2  # webhooks_max_concurrent_sends
