"""A site's identity hash vouches only for what it signs (issue 8, item 1): a visitor cannot
become another customer by sending their phone beside a hash of their own email, and a mere
claim (an unsigned email or phone) never links to, merges into, or later captures somebody
else's record, through the widget, the app, or a message delivered by a provider."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import WIDGET_SECRET, Running, World, add_endpoint, authed_socket, count
from tests.fakes.site_backend import signed_identify, site_hash
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_app_api import make_app, open_app, signed
from tests.integration.test_sms import CUSTOMER as VICTIM_PHONE
from tests.integration.test_sms import inbound, sms_endpoint, webhook_url
from tests.integration.test_voice import NUMBER as VOICE_NUMBER
from tests.integration.test_voice import url as voice_url
from tests.integration.test_voice import voice_endpoint
from threadline.customers.models import Customer, Identity
from threadline.orgs.models import AuditEntry
from threadline.threads.models import ThreadEvent

ATTACKER_EMAIL = "mallory@example.com"
VICTIM_EMAIL = "ana@example.com"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def client(server: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as anonymous:
        yield anonymous


@pytest.fixture
async def sms(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    return await add_endpoint(server, **sms_endpoint(twilio, world.queues["general"].id))


class Visitor:
    """A browser with the widget: its session (history included) and its socket."""

    def __init__(self, server: Running, world: World) -> None:
        self.server, self.key = server, world.widget.key
        self.token: str | None = None
        self.customer_id = ""

    async def session(self) -> dict[str, Any]:
        """What the widget shows on (re)load: the visitor's customer and history."""
        async with self.server.client() as browser:
            response = await browser.post(
                f"/api/v1/widget/{self.key}/session", json={"visitor_token": self.token}
            )
        assert response.status_code == 200, response.text
        session: dict[str, Any] = response.json()
        self.token, self.customer_id = session["visitor_token"], session["customer_id"]
        return session

    async def history(self) -> list[str]:
        return [e["body"] for e in (await self.session())["events"] if e["kind"] == "message"]

    async def send(self, *frames: dict[str, Any]) -> list[dict[str, Any]]:
        """Send frames over the widget socket; the answer to each (ack, identified, error)."""
        if self.token is None:
            await self.session()
        assert self.token is not None
        url = f"{self.server.ws_url}/api/v1/widget/{self.key}/ws"
        answers = []
        async with authed_socket(url, self.token) as ws:
            for frame in frames:
                await ws.send(json.dumps(frame))
                answers.append(await _answer(ws))
        return answers


async def _answer(ws: Any) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] in ("ack", "identified", "error"):
                return frame

    return await asyncio.wait_for(loop(), 5)


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "client_id": text[:60], "text": text}


async def _victim_by_sms(server: Running, twilio: FakeTwilio, text: str, sid: str) -> str:
    """The victim texts from their phone (a signed provider webhook); their customer id."""
    texted = await twilio.post_signed(webhook_url(server), inbound(sid, text))
    assert texted.status_code == 200, texted.text
    async with server.ctx.db.sessions() as db:
        event = await db.scalar(select(ThreadEvent).where(ThreadEvent.provider_msg_id == sid))
    assert event is not None and event.author_id is not None
    return event.author_id


async def _merges(server: Running) -> int:
    return await count(server, AuditEntry, AuditEntry.action == "customer.merge")


async def test_a_hash_of_your_own_email_does_not_vouch_for_someone_elses_phone(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    victim_id = await _victim_by_sms(server, twilio, "my PIN is 4321", "SM-victim-1")
    mallory = Visitor(server, world)
    await mallory.session()
    old_form = hmac.new(WIDGET_SECRET.encode(), ATTACKER_EMAIL.encode(), hashlib.sha256)
    own_email_only = site_hash(WIDGET_SECRET, email=ATTACKER_EMAIL)
    attempts = [
        {"type": "identify", "email": ATTACKER_EMAIL, "phone": VICTIM_PHONE, "hash": h}
        for h in (old_form.hexdigest(), own_email_only)
    ]
    answers = await mallory.send(*attempts)
    for answer in answers:
        assert answer["type"] == "error" and answer["code"] == "not_authenticated", answer
    # signed for her own email, then the phone as a plain claim: still only herself
    answers = await mallory.send(
        signed_identify(WIDGET_SECRET, email=ATTACKER_EMAIL),
        {"type": "identify", "phone": VICTIM_PHONE},
        _message("what is my PIN?"),
    )
    assert [a["type"] for a in answers] == ["identified", "identified", "ack"]
    assert answers[0]["customer_id"] == answers[1]["customer_id"] == mallory.customer_id
    assert mallory.customer_id != victim_id
    assert await mallory.history() == ["what is my PIN?"]  # not a word of the victim's
    assert await _merges(server) == 0
    async with server.ctx.db.sessions() as db:
        phone = await db.scalar(select(Identity).where(Identity.value == VICTIM_PHONE))
        mine = await db.get_one(Customer, mallory.customer_id)
    assert phone is not None and phone.customer_id == victim_id
    assert mine.phone is None and mine.email == ATTACKER_EMAIL


async def test_a_hash_that_covers_every_field_vouches_for_them_all(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    ana_id = await _victim_by_sms(server, twilio, "card question", "SM-ana-1")
    ana = Visitor(server, world)
    (identified,) = await ana.send(
        signed_identify(WIDGET_SECRET, name="Ana", email=VICTIM_EMAIL, phone=VICTIM_PHONE)
    )
    assert identified == {"type": "identified", "customer_id": ana_id}
    assert await ana.history() == ["card question"]  # one customer, across channels
    async with server.ctx.db.sessions() as db:
        rows = list(await db.scalars(select(Identity).where(Identity.customer_id == ana_id)))
    assert {(i.kind, i.value, i.verified) for i in rows if i.kind != "visitor"} == {
        ("email", VICTIM_EMAIL, True),
        ("phone", VICTIM_PHONE, True),
    }


async def test_a_claim_made_first_never_captures_the_owner_who_comes_later(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    # Mallory claims Ana's email and phone before Ana ever came (no hash: anyone can type)
    mallory = Visitor(server, world)
    answers = await mallory.send(
        {"type": "identify", "name": "Ana", "email": VICTIM_EMAIL, "phone": VICTIM_PHONE}
    )
    assert answers == [{"type": "identified", "customer_id": mallory.customer_id}]
    # Ana logs in on the site: her signed email is hers, not a link into Mallory's record
    ana = Visitor(server, world)
    identified, _ = await ana.send(
        signed_identify(WIDGET_SECRET, email=VICTIM_EMAIL), _message("my new address is ...")
    )
    assert identified["customer_id"] == ana.customer_id != mallory.customer_id
    # Ana texts from her phone: the provider vouches for the number, Mallory only typed it
    by_sms = await _victim_by_sms(server, twilio, "my card was stolen", "SM-ana-2")
    assert by_sms != mallory.customer_id
    assert await mallory.history() == []
    assert await ana.history() == ["my new address is ..."]
    assert await _merges(server) == 0
    async with server.ctx.db.sessions() as db:
        claimer = await db.get_one(Customer, mallory.customer_id)
        email = await db.scalar(select(Identity).where(Identity.value == VICTIM_EMAIL))
        phone = await db.scalar(select(Identity).where(Identity.value == VICTIM_PHONE))
    assert claimer.email is None and claimer.phone is None and claimer.name == "Ana"
    assert email is not None and email.customer_id == ana.customer_id and email.verified
    assert phone is not None and phone.customer_id == by_sms


async def test_a_claimed_phone_never_receives_its_owners_texts(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    mallory = Visitor(server, world)
    await mallory.send({"type": "identify", "phone": VICTIM_PHONE})  # a claim: no hash
    by_sms = await _victim_by_sms(server, twilio, "my card was stolen", "SM-ana-3")
    again = await _victim_by_sms(server, twilio, "are you there?", "SM-ana-4")
    assert by_sms == again != mallory.customer_id  # the owner's own record, every time
    assert await mallory.history() == []


async def test_a_claimed_phone_never_receives_its_owners_calls(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    await add_endpoint(server, **voice_endpoint(world, twilio))
    mallory = Visitor(server, world)
    await mallory.send({"type": "identify", "phone": VICTIM_PHONE})  # a claim: no hash
    rang = await twilio.call_webhook(voice_url(server), "CA-ana", VICTIM_PHONE, VOICE_NUMBER)
    assert rang.status_code == 200, rang.text
    async with server.ctx.db.sessions() as db:
        call = await db.scalar(select(ThreadEvent).where(ThreadEvent.provider_msg_id == "CA-ana"))
        phone = await db.scalar(select(Identity).where(Identity.value == VICTIM_PHONE))
    assert call is not None and call.author_id != mallory.customer_id
    assert phone is not None and phone.customer_id == call.author_id
    assert [e["kind"] for e in (await mallory.session())["events"]] == []


async def test_an_unsigned_name_never_replaces_a_known_customers_name(
    server: Running, world: World, twilio: FakeTwilio, sms: dict[str, Any]
) -> None:
    ana = Visitor(server, world)
    (identified,) = await ana.send(signed_identify(WIDGET_SECRET, name="Ana", email=VICTIM_EMAIL))
    assert identified["customer_id"] == ana.customer_id
    (again,) = await ana.send({"type": "identify", "name": "Someone Else"})
    assert again == identified
    assert (await ana.session())["customer_name"] == "Ana"


@pytest.mark.parametrize(
    ("frame", "code", "says"),
    [
        ({"email": VICTIM_EMAIL, "hash": "é" * 64}, "not_authenticated", "signature"),
        ({"email": VICTIM_EMAIL, "hash": "\ud800" * 8}, "invalid", "unicode"),
        ({"name": "Ana", "hash": site_hash(WIDGET_SECRET, name="Ana")}, "invalid", "email"),
        ({"email": "not an email", "hash": "0" * 64}, "invalid", "not an email"),
        ({"phone": "12", "hash": "0" * 64}, "invalid", "phone"),
        ({"name": "Ana\nemail:x@example.com", "email": VICTIM_EMAIL}, "invalid", "one line"),
    ],
)
async def test_a_bad_identify_is_refused_with_a_reason(
    server: Running, world: World, frame: dict[str, Any], code: str, says: str
) -> None:
    visitor = Visitor(server, world)
    (answer,) = await visitor.send({"type": "identify", **frame})
    assert answer["type"] == "error" and answer["code"] == code, answer
    assert says in answer["message"]
    assert await count(server, Identity, Identity.kind.in_(("email", "phone"))) == 0


async def test_the_app_backend_vouches_only_for_what_it_signs(
    server: Running, world: World, client: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)
    mallory = await open_app(client, app.key, identity=signed(ATTACKER_EMAIL))
    elena = await open_app(client, app.key, identity=signed(VICTIM_EMAIL, phone=VICTIM_PHONE))
    assert elena.session["customer_id"] != mallory.session["customer_id"]
    # Mallory's own signature, with Elena's phone beside it: refused, nothing linked
    forged = {**signed(ATTACKER_EMAIL), "phone": VICTIM_PHONE}
    response = await client.post(f"/api/v1/app/{app.key}/session", json={"identity": forged})
    assert response.status_code == 401 and "signature" in response.json()["message"]
    # a hash that is not even ASCII is a wrong hash, never a server error
    odd = {**signed(ATTACKER_EMAIL), "hash": "é" * 64}
    response = await client.post(f"/api/v1/app/{app.key}/session", json={"identity": odd})
    assert response.status_code == 401, response.text
    # unsigned, the phone is a claim of an anonymous session's own: never Elena's record
    claim = await open_app(client, app.key, identity={"phone": VICTIM_PHONE, "name": "Elena"})
    assert claim.session["customer_id"] != elena.session["customer_id"]
    assert claim.session["customer_name"] == "Elena" and claim.session["phone"] is None
    async with server.ctx.db.sessions() as db:
        phone = await db.scalar(select(Identity).where(Identity.value == VICTIM_PHONE))
    assert phone is not None and phone.verified
    assert phone.customer_id == elena.session["customer_id"]
    assert await _merges(server) == 0


async def test_a_signed_app_customers_unsigned_claim_never_receives_the_owners_texts(
    server: Running,
    world: World,
    client: httpx.AsyncClient,
    twilio: FakeTwilio,
    sms: dict[str, Any],
) -> None:
    app = await make_app(server, world)
    mallory = await open_app(client, app.key, identity=signed(ATTACKER_EMAIL))
    # with her own signed session, Mallory types somebody else's phone (unsigned: a claim)
    again = await open_app(
        client, app.key, session_token=mallory.token, identity={"phone": VICTIM_PHONE}
    )
    assert again.session["customer_id"] == mallory.session["customer_id"]
    by_sms = await _victim_by_sms(server, twilio, "my card was stolen", "SM-ana-5")
    assert by_sms != mallory.session["customer_id"]
    async with server.ctx.db.sessions() as db:
        events = await db.scalars(
            select(ThreadEvent).where(ThreadEvent.author_id == mallory.session["customer_id"])
        )
        assert list(events) == []
