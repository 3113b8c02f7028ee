"""The app API through a real server on SQLite and PostgreSQL: sessions (anonymous, and
vouched for by the company's backend with the assurance reached), contacts started with what
the customer entered, the live wait over the socket, callbacks (keep my place, booked
windows, reschedule, cancel), "call now" with a continuation code, and who may see what."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select, update

from tests.conftest import CALLBACK_POLICY as POLICY
from tests.conftest import Running, World, authed_socket, count, login
from tests.fakes.site_backend import site_hash
from tests.integration.test_routing_flow import visitor_writes
from threadline.callbacks.models import Callback
from threadline.channels.app.adapter import AppAdapter
from threadline.channels.models import Endpoint
from threadline.customers.models import Customer, Identity
from threadline.routing.models import Contact, Queue
from threadline.threads.models import ThreadEvent
from threadline.verification.continuation import redeem
from threadline.verification.models import ContinuationCode

APP_SECRET = "app-backend-hmac-secret"
VOICE_NUMBER = "+351210000000"
SETTINGS: dict[str, Any] = {
    "queues": ["General"],
    "reasons": [
        {
            "code": "lost_card",
            "label": {"en": "Lost or stolen card", "pt": "Cartão perdido ou roubado"},
            "queue": "Cards",
            "tier": 2,
            "questions": [
                {
                    "id": "card",
                    "label": {"en": "Which card?", "pt": "Que cartão?"},
                    "options": [
                        {"value": "debit", "label": {"en": "Debit", "pt": "Débito"}},
                        {"value": "credit", "label": {"en": "Credit", "pt": "Crédito"}},
                    ],
                },
                {
                    "id": "when",
                    "label": {"en": "When did you last see it?", "pt": "Quando o viu?"},
                },
            ],
        },
        {"code": "other", "label": {"en": "Something else", "pt": "Outro assunto"}},
    ],
}
LOST_CARD = {"reason": "lost_card", "answers": {"card": "debit", "when": "yesterday"}}


async def make_app(
    server: Running, world: World, settings: dict[str, Any] | None = None
) -> Endpoint:
    """An app endpoint (as an admin configures it), callbacks on in both queues, and the
    organisation's phone line."""
    key = f"a-{uuid.uuid4().hex[:8]}"
    configured = AppAdapter("k", 60).configure(key, SETTINGS if settings is None else settings)
    async with server.ctx.uow() as uow:
        endpoint = Endpoint(
            org_id=world.org_id,
            channel="app",
            key=key,
            name="Test Bank",
            queue_id=world.queues["general"].id,
            secret=APP_SECRET,
            settings=configured,
        )
        uow.session.add(endpoint)
        for queue in world.queues.values():
            await uow.session.execute(
                update(Queue).where(Queue.id == queue.id).values(callback_policy=POLICY)
            )
        line = await uow.session.scalar(
            select(Endpoint).where(Endpoint.channel == "voice", Endpoint.key == VOICE_NUMBER)
        )
        if line is None:
            uow.session.add(
                Endpoint(org_id=world.org_id, channel="voice", key=VOICE_NUMBER, name="Line")
            )
    return endpoint


def signed(
    email: str, assurance: dict[str, Any] | None = None, secret: str = APP_SECRET, **more: str
) -> dict[str, Any]:
    """An identity as the company's backend sends it (docs/app.md): the hash covers every
    field (`more`: name, phone as stored, E.164)."""
    digest = site_hash(secret, email=email, assurance=assurance, **more)
    return {"email": email, "assurance": assurance, "hash": digest, **more}


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat().replace("+00:00", "Z")


class AppUser:
    """One customer's app: its session token on every call."""

    def __init__(self, client: httpx.AsyncClient, key: str, token: str, data: dict[str, Any]):
        self.client, self.key, self.token, self.session = client, key, token, data

    def url(self, path: str) -> str:
        return f"/api/v1/app/{self.key}{path}"

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.client.get(self.url(path), headers=self._auth(), **kw)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(self.url(path), json=body or {}, headers=self._auth())

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def open_app(client: httpx.AsyncClient, key: str, **body: Any) -> AppUser:
    response = await client.post(f"/api/v1/app/{key}/session", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return AppUser(client, key, data["session_token"], data)


@pytest.fixture
async def client(server: Running) -> Any:
    async with server.client() as anonymous:
        yield anonymous


async def test_a_contact_starts_with_what_the_customer_entered_in_their_one_thread(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    dmitri = await open_app(client, app.key, locale="pt-PT", timezone="Europe/Lisbon")
    assert dmitri.session["assurance"] is None and dmitri.session["wait"] is None
    assert dmitri.session["language"] == "pt"
    reasons = dmitri.session["reasons"]
    assert [r["code"] for r in reasons] == ["lost_card", "other"]
    assert reasons[0]["label"] == "Cartão perdido ou roubado"
    assert reasons[0]["questions"][0]["options"][0] == {"value": "debit", "label": "Débito"}

    started = await dmitri.post("/contacts", {**LOST_CARD, "account": "PT50-0001"})
    assert started.status_code == 201, started.text
    wait = started.json()
    assert wait["status"] == "queued" and wait["position"] == 1
    assert wait["high_s"] is None and wait["low_s"] == 1800  # nobody is on: "more than 30"
    assert wait["callback_offer"] == {"keep_place": True, "booking": True}

    async with server.ctx.db.sessions() as session:
        contact = await session.get_one(Contact, wait["contact_id"])
        customer = await session.get_one(Customer, contact.customer_id)
        events = list(
            await session.scalars(
                select(ThreadEvent).where(ThreadEvent.thread_id == contact.thread_id)
            )
        )
    assert contact.channel == "app" and contact.queue_id == world.queues["cards"].id
    assert contact.min_tier == 2 and contact.reason == "lost_card"
    assert contact.context == {
        "reason": "lost_card",
        "answers": {"card": "debit", "when": "yesterday"},
        "account": "PT50-0001",
        "via": "app",
    }
    assert customer.timezone == "Europe/Lisbon" and customer.language == "pt"
    request = next(e for e in events if e.kind == "request")
    assert request.author_type == "customer" and request.contact_id == contact.id
    assert request.data["answers"] == {"card": "debit", "when": "yesterday"}
    assert "card: debit" in (request.body or "")

    # "talk to someone" again (a double tap, another device of the same session): one
    # contact, one thread; the session restores the wait
    again = await dmitri.post("/contacts", {"reason": "other"})
    assert again.status_code == 201 and again.json()["contact_id"] == contact.id
    restored = await open_app(client, app.key, session_token=dmitri.token)
    assert restored.session["customer_id"] == customer.id
    assert restored.session["wait"]["contact_id"] == contact.id
    assert await count(server, Contact, Contact.customer_id == customer.id) == 1
    shown = await dmitri.get(f"/contacts/{contact.id}")
    assert shown.status_code == 200 and shown.json()["position"] == 1


async def test_the_backend_vouches_for_the_customer_and_the_assurance_travels(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    # before signing in, the device was anonymous and started a contact
    device = await open_app(client, app.key)
    started = (await device.post("/contacts", LOST_CARD)).json()
    passkey = {"level": "verified", "method": "passkey", "at": ago(minutes=2)}
    elena = await open_app(
        client,
        app.key,
        session_token=device.token,
        identity=signed("elena@example.com", passkey, name="Elena", phone="+302100000001"),
    )
    assurance = elena.session["assurance"]
    assert assurance["level"] == "verified" and assurance["method"] == "passkey"
    assert elena.session["customer_name"] == "Elena"
    assert elena.session["customer_id"] != device.session["customer_id"]
    # what the device did anonymously is now Elena's
    assert elena.session["wait"]["contact_id"] == started["contact_id"]
    assert (await elena.get(f"/contacts/{started['contact_id']}")).status_code == 200
    async with server.ctx.db.sessions() as session:
        email = await session.scalar(select(Identity).where(Identity.value == "elena@example.com"))
        phone = await session.scalar(select(Identity).where(Identity.value == "+302100000001"))
    assert (
        email is not None and email.verified and email.customer_id == elena.session["customer_id"]
    )
    assert phone is not None and phone.verified  # the hash covers the phone too

    # a contact started in a signed session carries the assurance (the desktop shows it)
    nikos = await open_app(client, app.key, identity=signed("nikos@example.com", passkey))
    second = (await nikos.post("/contacts", {"reason": "other"})).json()
    async with server.ctx.db.sessions() as session:
        contact = await session.get_one(Contact, second["contact_id"])
    assert contact.context["assurance"] == passkey
    assert contact.queue_id == world.queues["general"].id  # "other" has no queue: the app's

    # signed, without an assurance: identified; a stale proof only identifies
    plain = await open_app(client, app.key, identity=signed("elena@example.com"))
    assert plain.session["assurance"]["level"] == "identified"
    assert plain.session["customer_id"] == elena.session["customer_id"]
    stale = {"level": "strong", "method": "passkey", "at": ago(hours=13)}
    old = await open_app(client, app.key, identity=signed("elena@example.com", stale))
    assert old.session["assurance"]["level"] == "identified"


@pytest.mark.parametrize(
    ("identity", "status", "says"),
    [
        ({**signed("x@example.com"), "hash": "0" * 64}, 401, "signature"),
        (signed("x@example.com", secret="not-the-app-secret"), 401, "signature"),
        (
            {**signed("x@example.com"), "assurance": {"level": "strong", "method": "otp"}},
            401,
            "signature",
        ),
        ({"email": "x@example.com", "assurance": {"level": "verified"}}, 422, "signed"),
        (
            signed("x@example.com", {"level": "godlike", "method": "otp", "at": ago(minutes=1)}),
            422,
            "level",
        ),
        (
            signed("x@example.com", {"level": "verified", "method": "otp", "at": "yesterday"}),
            422,
            "ISO",
        ),
        (
            signed(
                "x@example.com", {"level": "verified", "method": "otp", "at": "2026-01-01T10:00"}
            ),
            422,
            "zone",
        ),
        (
            # a week ahead: parameters are made when the suite is collected, maybe an hour before
            signed("x@example.com", {"level": "verified", "method": "otp", "at": ago(days=-7)}),
            422,
            "future",
        ),
        (
            signed(
                "x@example.com", {"level": "verified", "method": "Pass Key", "at": ago(minutes=1)}
            ),
            422,
            "method",
        ),
        (signed("not-an-email"), 422, "not an email"),
    ],
)
async def test_a_bad_identity_is_refused_with_a_reason(
    server: Running,
    world: World,
    client: httpx.AsyncClient,
    identity: dict[str, Any],
    status: int,
    says: str,
) -> None:
    app = await make_app(server, world)
    response = await client.post(f"/api/v1/app/{app.key}/session", json={"identity": identity})
    assert response.status_code == status, response.text
    assert says in response.json()["message"]
    assert await count(server, Identity, Identity.value == "x@example.com") == 0


async def test_a_signed_identity_takes_over_an_unverified_claim(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    # a visitor typed Elena's email in the chat (unverified: anyone can type it)
    session = (await client.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    async with authed_socket(
        f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws", session["visitor_token"]
    ) as ws:
        await ws.send(json.dumps({"type": "identify", "email": "elena@example.com"}))
        while json.loads(await ws.recv())["type"] != "identified":
            pass
    elena = await open_app(client, app.key, identity=signed("elena@example.com"))
    assert elena.session["customer_id"] != session["customer_id"]
    async with server.ctx.db.sessions() as db:
        claimer = await db.get_one(Customer, session["customer_id"])
        owner = await db.get_one(Customer, elena.session["customer_id"])
    assert claimer.email is None and owner.email == "elena@example.com"


async def test_nobody_sees_another_customers_contacts_or_callbacks(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    other_app = await make_app(server, world)
    dmitri = await open_app(client, app.key)
    elena = await open_app(client, app.key)
    contact_id = (await dmitri.post("/contacts", LOST_CARD)).json()["contact_id"]
    made = await dmitri.post(f"/contacts/{contact_id}/callback", {"phone": "+351912345678"})
    assert made.status_code == 201, made.text
    callback_id = made.json()["callback"]["id"]
    window = (await dmitri.get("/windows", params={"reason": "lost_card"})).json()[0]

    for response in [
        await elena.get(f"/contacts/{contact_id}"),
        await elena.post(f"/contacts/{contact_id}/callback", {"phone": "+351912345679"}),
        await elena.post("/call-now", {"contact_id": contact_id}),
        await elena.post("/callbacks", {"window_start": window["start"], "contact_id": contact_id}),
        await elena.get(f"/callbacks/{callback_id}"),
        await elena.post(f"/callbacks/{callback_id}/cancel"),
        await elena.post(f"/callbacks/{callback_id}/reschedule", {"window_start": window["start"]}),
        await elena.get(f"/contacts/{uuid.uuid4()}"),
    ]:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["code"] == "not_found"
    assert (await elena.get("/callbacks")).json() == []
    async with authed_socket(
        f"{server.ws_url}/api/v1/app/{app.key}/contacts/{contact_id}/ws", elena.token
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404

    # forged, missing, foreign and chat tokens are not sessions; unknown apps are not found
    chat = (await client.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
    stranger = await open_app(client, other_app.key)
    for token in ["forged", dmitri.token[:-2] + "xx", stranger.token, chat["visitor_token"]]:
        forged = httpx.Headers({"Authorization": f"Bearer {token}"})
        response = await client.get(f"/api/v1/app/{app.key}/contacts/{contact_id}", headers=forged)
        assert response.status_code == 401, (token[:10], response.text)
        assert response.json()["code"] == "not_authenticated"
    for headers in [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}]:
        response = await client.get(f"/api/v1/app/{app.key}/callbacks", headers=headers)
        assert response.status_code == 401, headers
    missing = await client.get(
        f"/api/v1/app/no-such-app/contacts/{contact_id}",
        headers={"Authorization": f"Bearer {dmitri.token}"},
    )
    assert missing.status_code == 404
    async with authed_socket(
        f"{server.ws_url}/api/v1/app/{app.key}/contacts/{contact_id}/ws", "forged"
    ) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # and nothing was changed by any of it
    async with server.ctx.db.sessions() as db:
        callback = await db.get_one(Callback, callback_id)
    assert callback.status == "waiting" and callback.phone == "+351912345678"
    assert await count(server, ContinuationCode) == 0


async def _frame(ws: Any, timeout: float = 8) -> dict[str, Any]:
    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert frame["type"] == "wait"
    return dict(frame["wait"])


async def test_the_wait_is_pushed_live_and_keeping_the_place_keeps_it(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    first = await open_app(client, app.key)
    second = await open_app(client, app.key)
    ahead = (await first.post("/contacts", LOST_CARD)).json()["contact_id"]
    mine = (await second.post("/contacts", LOST_CARD)).json()["contact_id"]
    async with authed_socket(
        f"{server.ws_url}/api/v1/app/{app.key}/contacts/{mine}/ws", second.token
    ) as ws:
        wait = await _frame(ws)
        assert wait["position"] == 2 and wait["callback"] is None
        # the one ahead keeps their place as a callback: still ahead, nothing to send;
        # then gives it up: this customer moves up, pushed without asking
        kept = await first.post(f"/contacts/{ahead}/callback", {"phone": "+351 912 000 001"})
        assert kept.status_code == 201, kept.text
        assert kept.json()["callback"]["status"] == "waiting"
        assert kept.json()["callback"]["phone"].endswith("01")
        assert "912000" not in kept.json()["callback"]["phone"]
        cancelled = await first.post(f"/callbacks/{kept.json()['callback']['id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        assert (await _frame(ws))["position"] == 1
        # keep my place: the callback shows, with the place it keeps
        mine_kept = await second.post(f"/contacts/{mine}/callback", {"phone": "+351912000002"})
        assert mine_kept.status_code == 201, mine_kept.text
        wait = await _frame(ws)
        assert wait["callback"]["kind"] == "keep_place" and wait["position"] == 1
        assert wait["callback_offer"] is None
    # asking twice is one callback; a bad number is refused with a reason
    twice = await second.post(f"/contacts/{mine}/callback", {"phone": "+351912000002"})
    assert twice.json()["callback"]["id"] == mine_kept.json()["callback"]["id"]
    third = await open_app(client, app.key)
    theirs = (await third.post("/contacts", LOST_CARD)).json()["contact_id"]
    bad = await third.post(f"/contacts/{theirs}/callback", {"phone": "call me maybe"})
    assert bad.status_code == 422 and "phone number" in bad.json()["message"]
    nothing = await third.post(f"/contacts/{theirs}/callback", {})
    assert nothing.status_code == 422 and "phone number" in nothing.json()["message"]


async def test_book_reschedule_and_cancel_a_window(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    dmitri = await open_app(client, app.key)
    contact_id = (await dmitri.post("/contacts", LOST_CARD)).json()["contact_id"]
    found = (await dmitri.get("/windows", params={"reason": "lost_card"})).json()
    assert len(found) >= 2 and all(w["room"] >= 1 for w in found)
    booked = await dmitri.post(
        "/callbacks",
        {"window_start": found[0]["start"], "phone": "+351912000003", "contact_id": contact_id},
    )
    assert booked.status_code == 201, booked.text
    callback = booked.json()
    assert callback["kind"] == "booked" and callback["status"] == "scheduled"
    assert callback["window_start"][:16] == found[0]["start"][:16]
    async with server.ctx.db.sessions() as db:
        contact = await db.get_one(Contact, contact_id)
        row = await db.get_one(Callback, callback["id"])
    assert contact.status == "abandoned"  # booked instead of waiting: out of the line
    assert row.queue_id == world.queues["cards"].id
    assert [c["id"] for c in (await dmitri.get("/callbacks")).json()] == [callback["id"]]
    session = await open_app(client, app.key, session_token=dmitri.token)
    assert session.session["wait"]["callback"]["id"] == callback["id"]

    moved = await dmitri.post(
        f"/callbacks/{callback['id']}/reschedule", {"window_start": found[1]["start"]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["window_start"][:16] == found[1]["start"][:16]
    taken = await dmitri.post(
        f"/callbacks/{callback['id']}/reschedule", {"window_start": "2031-01-01T03:00:00Z"}
    )
    assert taken.status_code == 409 and "not available" in taken.json()["message"]
    cancelled = await dmitri.post(f"/callbacks/{callback['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    again = await dmitri.post(
        f"/callbacks/{callback['id']}/reschedule", {"window_start": found[1]["start"]}
    )
    assert again.status_code == 409

    # straight from the app, without waiting first: the reason's queue, what they entered
    direct = await dmitri.post(
        "/callbacks", {**LOST_CARD, "window_start": found[0]["start"], "phone": "+351912000003"}
    )
    assert direct.status_code == 201, direct.text


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/contacts", {"reason": "lost_card", "answers": {"card": "gold"}}, "debit"),
        ("/contacts", {"reason": "lost_card", "answers": {"pin": "1234"}}, "no question"),
        ("/contacts", {"reason": "pizza"}, "unknown reason"),
        ("/contacts", {"reason": "other", "queue": "Loans"}, "may not ask"),
        ("/contacts", {"reason": "other", "queue": "Nowhere"}, "may not ask"),
        ("/contacts", {"reason": "other", "tier": 6}, "less than or equal"),
        ("/contacts", {"reason": "bad reason!"}, "schema"),
        ("/contacts", {"reason": "other", "answers": {f"q{i}": "a" for i in range(21)}}, "schema"),
        ("/contacts", {"reason": "other", "answers": {"q": "a" * 501}}, "schema"),
        ("/contacts", {"reason": "other", "answers": {"q": {"nested": 1}}}, "schema"),
        ("/contacts", {}, "schema"),
        ("/callbacks", {"window_start": "2030-01-07T09:00:00"}, "schema"),
        (
            "/callbacks",
            {"window_start": "2030-01-07T09:00:00Z", "phone": "+351912000003"},
            "not available",
        ),
        ("/callbacks", {"window_start": "soon"}, "schema"),
        ("/call-now", {"reason": "pizza"}, "unknown reason"),
    ],
)
async def test_bad_input_is_refused_with_a_reason(
    server: Running,
    world: World,
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    says: str,
) -> None:
    app = await make_app(server, world)
    dmitri = await open_app(client, app.key)
    response = await dmitri.post(path, body)
    assert 400 <= response.status_code < 500, response.text
    problem = response.json()
    assert problem["code"] and says in json.dumps(problem), problem
    assert response.headers["access-control-allow-origin"] == "*"
    assert await count(server, Contact) == 0 and await count(server, Callback) == 0


async def test_call_now_hands_out_a_number_and_a_code_the_ivr_redeems_once(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    passkey = {"level": "verified", "method": "passkey", "at": ago(minutes=2)}
    elena = await open_app(client, app.key, identity=signed("elena@example.com", passkey))
    contact_id = (await elena.post("/contacts", LOST_CARD)).json()["contact_id"]
    response = await elena.post("/call-now", {"contact_id": contact_id})
    assert response.status_code == 201, response.text
    call = response.json()
    assert call["number"] == VOICE_NUMBER
    assert len(call["code"]) == 6 and call["code"].isdigit()
    assert 590 <= call["expires_in_s"] <= 600
    async with server.ctx.db.sessions() as db:
        rows = list(await db.scalars(select(ContinuationCode)))
    assert len(rows) == 1  # stored hashed: the code itself is nowhere
    stored = json.dumps([rows[0].code_hash, rows[0].context, rows[0].assurance])
    assert call["code"] not in stored

    continuation = await redeem(server.ctx, world.org_id, call["code"], caller="+30 21 0000 0009")
    assert continuation is not None
    assert continuation.customer_id == elena.session["customer_id"]
    assert continuation.assurance["level"] == "verified"
    assert continuation.assurance["method"] == "passkey"
    assert continuation.queue_name == "Cards" and continuation.min_tier == 2
    assert continuation.reason == "lost_card"
    assert continuation.context["answers"] == {"card": "debit", "when": "yesterday"}
    assert continuation.waited_since is not None
    assert continuation.contact_context()["assurance"]["method"] == "passkey"
    assert await redeem(server.ctx, world.org_id, call["code"], caller="+302100000009") is None
    async with server.ctx.db.sessions() as db:
        contact = await db.get_one(Contact, contact_id)
        actions = [
            e.data.get("action")
            for e in await db.scalars(
                select(ThreadEvent)
                .where(
                    ThreadEvent.thread_id == continuation.thread_id,
                    ThreadEvent.kind == "continuation",
                )
                .order_by(ThreadEvent.seq)  # rows come back in no set order otherwise
            )
        ]
    assert contact.status == "abandoned"  # the call replaces the app's place in line
    assert actions == ["issued", "redeemed"]
    # the app shows the contact as no longer waiting
    assert (await elena.get(f"/contacts/{contact_id}")).json()["status"] == "abandoned"


async def test_call_now_needs_a_phone_line_and_may_name_its_own(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world, {**SETTINGS, "voice_number": "+351 210 999 999"})
    dmitri = await open_app(client, app.key)
    call = await dmitri.post("/call-now", {"reason": "other"})
    assert call.status_code == 201 and call.json()["number"] == "+351210999999"
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Endpoint).where(Endpoint.channel == "voice").values(active=False)
        )
        await uow.session.execute(
            update(Endpoint).where(Endpoint.id == app.id).values(settings={"reasons": []})
        )
    refused = await dmitri.post("/call-now", {})
    assert refused.status_code == 409 and "phone line" in refused.json()["message"]


async def test_admins_configure_app_endpoints_with_checked_settings(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    base = {"channel": "app", "key": "bank-app", "name": "Bank app", "secret": APP_SECRET}
    for settings, says in [
        ({"reasons": [{"code": "x", "tier": 9}]}, "tier"),
        ({"reasons": [{"code": "a"}, {"code": "a"}]}, "unique"),
        ({"reasons": [{"code": "a", "questions": [{"id": "q"}]}]}, "label"),
        ({"voice_number": "call us"}, "voice_number"),
        ({"contact_channel": "pigeon"}, "contact_channel"),
        ({"colour": "#fff"}, "unknown"),
    ]:
        refused = await admin.post("/api/v1/endpoints", json={**base, "settings": settings})
        assert refused.status_code == 422 and says in refused.text, (settings, refused.text)
    created = await admin.post("/api/v1/endpoints", json={**base, "settings": SETTINGS})
    assert created.status_code == 201, created.text
    assert created.json()["settings"]["reasons"][0]["tier"] == 2
    assert "secret" not in created.text or created.json()["has_secret"] is True
    assert APP_SECRET not in created.text
    await admin.aclose()
    async with server.client() as anonymous:
        session = await anonymous.post("/api/v1/app/bank-app/session", json={})
    assert session.status_code == 200


async def test_the_widget_wait_api_needs_the_visitors_own_token(
    server: Running, world: World
) -> None:
    await make_app(server, world)  # callbacks on in both queues
    async with server.client() as client:
        mine = (await client.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
        other = (await client.post(f"/api/v1/widget/{world.widget.key}/session", json={})).json()
        await visitor_writes(server.ctx, world, "v-nobody", "hello")
        url = f"/api/v1/widget/{world.widget.key}"
        for headers in [{}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic x"}]:
            response = await client.get(f"{url}/wait", headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["access-control-allow-origin"] == "*"
        bearer = {"Authorization": f"Bearer {other['visitor_token']}"}
        assert (await client.get(f"{url}/wait", headers=bearer)).json()["status"] is None
        refused = await client.post(
            f"{url}/callback", json={"phone": "+351912345678"}, headers=bearer
        )
        assert refused.status_code == 409 and "not waiting" in refused.json()["message"]
        unknown = await client.get("/api/v1/widget/nope/wait", headers=bearer)
        assert unknown.status_code == 404
        preflight = await client.options(
            f"{url}/callback",
            headers={"Origin": "https://bank.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert "Authorization" in preflight.headers["access-control-allow-headers"]
        session = await client.post(f"{url}/session", json={"visitor_token": mine["visitor_token"]})
        assert session.json()["wait"] is None
