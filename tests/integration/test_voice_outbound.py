"""Outbound calls through the fake Twilio's Calls API (`place_call`): the customer's phone
rings, the answer URL says the announcement in their language and dials the reserved agent,
each outcome reaches the handlers of the call's purpose exactly once however often the
provider retries its callback, and provider errors are raised as CallFailed; and the agent's
softphone token (Twilio Voice SDK); on a number with conferences, a callback's customer meets
the agent in the contact's conference and can be held; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import Running, World, add_endpoint, count, eventually, login
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeCall,
    FakeConference,
    FakeParticipant,
    FakeTwilio,
    running_fake_twilio,
)
from tests.integration.test_callbacks import _callback, _kept_and_dialled, agent
from tests.integration.test_voice import (  # the fixtures and helpers of the voice tests
    CALLER,
    NUMBER,
    contact_of,
    events,
    offered,
    query,
    said,
    twilio,
    twiml,
    url,
    voice,
    voice_endpoint,
)
from threadline.channels.voice.outbound import (
    CallFailed,
    place_call,
    register_outcome_handler,
)
from threadline.channels.voice.twilio_voice import client_identity
from threadline.db import UnitOfWork
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import CallOutcome
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

__all__ = ["agent", "twilio", "voice"]  # fixtures, imported for pytest

API_KEY_SID = "SK" + "1" * 32
API_KEY_SECRET = "softphone-api-key-secret-of-32-chars!"
TWIML_APP_SID = "AP" + "2" * 32


class Outcomes:
    """A real outcome handler: what it was told, and that it ran inside the transaction."""

    def __init__(self) -> None:
        self.seen: list[CallOutcome] = []

    async def __call__(self, uow: UnitOfWork, outcome: CallOutcome) -> None:
        assert uow.session.in_transaction()
        self.seen.append(outcome)

    def of(self, call_sid: str) -> list[tuple[str, int | None, str | None, str | None]]:
        return [
            (o.status, o.duration_s, o.answered_by, o.agent_status)
            for o in self.seen
            if o.call_sid == call_sid
        ]


async def a_thread(server: Running, twilio: FakeTwilio, sid: str = "CA80") -> str:
    """The customer's thread (they called before)."""
    twiml(await twilio.call_webhook(url(server), sid, CALLER, NUMBER, "ringing"))
    [call] = [e for e in await events(server, "call") if e.provider_msg_id == sid]
    return call.thread_id


def placed(twilio: FakeTwilio, call_sid: str) -> FakeCall:
    call = twilio.calls[call_sid]
    assert call.direction == "outbound-api"
    return call


async def test_a_placed_call_announces_itself_then_dials_the_reserved_agent(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    outcomes = Outcomes()
    register_outcome_handler(server.ctx, "callback", outcomes)
    thread_id = await a_thread(server, twilio)
    rui = world.agents["rui"].id
    announce = "Aqui é o Test Bank, a devolver a sua chamada."
    call = await place_call(
        server.ctx,
        world.org_id,
        to="+351 912 345 678",
        thread_id=thread_id,
        agent_id=rui,
        purpose="callback",
        ref_id="cb-1",
        language="pt",
        announce=announce,
    )
    ringing = placed(twilio, call.call_sid)
    assert (ringing.to, ringing.from_) == (CALLER, NUMBER) and call.to == CALLER
    assert ringing.status_callback_events == ["answered", "completed"]
    assert ringing.timeout_s == 30 and ringing.machine_detection is None
    assert ringing.url and ringing.url.startswith(url(server, "/outbound/answer?"))
    assert query(ringing.url) == {
        "thread": thread_id,
        "purpose": "callback",
        "ref": "cb-1",
        "agent": rui,
        "lang": "pt",
        "announce": announce,
    }
    assert ringing.status_callback and "announce" not in query(ringing.status_callback)
    [entry] = [e for e in await events(server, "call") if e.provider_msg_id == call.call_sid]
    assert entry.thread_id == thread_id and entry.data["direction"] == "outbound"
    assert entry.data["to"] == CALLER and entry.data["ref_id"] == "cb-1"

    answer = twiml(await twilio.answer(ringing))
    assert said(answer) == [announce]
    assert answer.find("Say").get("language") == "pt-PT"  # type: ignore[union-attr]
    assert answer.findtext("Dial/Client") == client_identity(rui)
    action = answer.find("Dial").get("action") or ""  # type: ignore[union-attr]
    assert action.startswith(url(server, "/outbound/dialed?"))
    assert outcomes.of(call.call_sid) == [("answered", None, None, None)]

    ended = twiml(await twilio.dial_outcome(ringing, action, "completed", 40))
    assert ended.find("Hangup") is not None
    # the provider retries its final callback, four times at once and once more later
    await asyncio.gather(*(twilio.finish(ringing, "completed", 42) for _ in range(4)))
    retried = await twilio.finish(ringing, "completed", 42)
    assert retried.status_code == 200, retried.text
    assert outcomes.of(call.call_sid) == [
        ("answered", None, None, None),
        ("completed", 42, None, "completed"),
    ]
    statuses = [
        e.data["status"] for e in await events(server, "call_status") if e.data.get("status")
    ]
    assert sorted(statuses) == ["completed", "in-progress"]
    assert all(o.ref_id == "cb-1" and o.thread_id == thread_id for o in outcomes.seen)
    assert len([e for e in await events(server, "call") if e.provider_msg_id == call.call_sid]) == 1


async def test_unanswered_calls_machines_and_refusals(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    callbacks, surveys = Outcomes(), Outcomes()
    register_outcome_handler(server.ctx, "callback", callbacks)
    register_outcome_handler(server.ctx, "survey", surveys)
    thread_id = await a_thread(server, twilio)
    rui = world.agents["rui"].id

    async def call(**extra: Any) -> FakeCall:
        placed_call = await place_call(
            server.ctx,
            world.org_id,
            to=extra.pop("to", CALLER),
            thread_id=thread_id,
            agent_id=rui,
            purpose="callback",
            ref_id=extra.pop("ref_id", "cb-2"),
            **extra,
        )
        return placed(twilio, placed_call.call_sid)

    nobody = await call(language="ru")
    for _ in range(2):  # retried
        assert (await twilio.finish(nobody, "no-answer")).status_code == 200
    busy = await call(timeout_s=15)
    assert busy.timeout_s == 15
    await twilio.finish(busy, "busy")
    assert callbacks.of(nobody.sid) == [("no-answer", None, None, None)]
    assert callbacks.of(busy.sid) == [("busy", None, None, None)]
    assert surveys.seen == []

    # the default announcement in the customer's language; an agent who does not pick up
    russian = await call(language="ru", ref_id="cb-3")
    answer = twiml(await twilio.answer(russian))
    [text] = said(answer)
    assert text.startswith("Здравствуйте") and answer.find("Say").get("language") == "ru-RU"  # type: ignore[union-attr]
    action = answer.find("Dial").get("action") or ""  # type: ignore[union-attr]
    sorry = twiml(await twilio.dial_outcome(russian, action, "no-answer"))
    assert said(sorry)[0].startswith("Извините") and sorry.find("Hangup") is not None
    await twilio.finish(russian, "completed", 20)
    assert callbacks.of(russian.sid)[-1] == ("completed", 20, None, "no-answer")

    # an answering machine is hung up on, and the outcome says who answered
    machine = await call(machine_detection=True, ref_id="cb-4")
    assert machine.machine_detection == "Enable"
    hung_up = twiml(await twilio.answer(machine, answered_by="machine_start"))
    assert hung_up.find("Dial") is None and hung_up.find("Hangup") is not None
    assert callbacks.of(machine.sid) == [("answered", None, "machine_start", None)]

    calls_before = await count(server, ThreadEvent, ThreadEvent.kind == "call")
    twilio.fail_with = 400
    with pytest.raises(CallFailed) as refused:
        await call()
    assert refused.value.retryable is False
    twilio.fail_with = 503
    with pytest.raises(CallFailed) as outage:
        await call()
    assert outage.value.retryable is True
    twilio.fail_with = None
    assert await count(server, ThreadEvent, ThreadEvent.kind == "call") == calls_before
    with pytest.raises(Invalid):
        await call(to="not a number")
    with pytest.raises(NotFound):
        await place_call(
            server.ctx,
            world.org_id,
            to=CALLER,
            thread_id="nope",
            agent_id=None,
            purpose="callback",
            ref_id="x",
        )
    other = await do_create_org(server.ctx, "no-phones", "No Phones Ltd")
    with pytest.raises(Conflict):
        await place_call(
            server.ctx,
            other.id,
            to=CALLER,
            thread_id=thread_id,
            agent_id=None,
            purpose="callback",
            ref_id="x",
        )


async def test_the_softphone_token_rings_where_calls_are_dialled(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    rui = await login(server, "rui@example.com")
    not_set_up = await rui.get("/api/v1/voice/token")
    assert not_set_up.status_code == 409, not_set_up.text
    secret = json.dumps({"auth_token": AUTH_TOKEN, "api_key_secret": API_KEY_SECRET})
    softphones = await add_endpoint(
        server,
        **{
            **voice_endpoint(
                world, twilio, secret=secret, api_key_sid=API_KEY_SID, twiml_app_sid=TWIML_APP_SID
            ),
            "key": "+15005550007",
        },
    )
    assert softphones["has_secret"] and API_KEY_SECRET not in json.dumps(softphones)
    answered = await rui.get("/api/v1/voice/token")
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert API_KEY_SECRET not in answered.text and AUTH_TOKEN not in answered.text
    assert body["endpoint_id"] == softphones["id"]
    assert body["identity"] == client_identity(world.agents["rui"].id)
    claims = jwt.decode(body["token"], API_KEY_SECRET, algorithms=["HS256"])
    assert claims["iss"] == API_KEY_SID and claims["sub"] == ACCOUNT_SID
    assert claims["grants"] == {
        "identity": body["identity"],
        "voice": {"incoming": {"allow": True}, "outgoing": {"application_sid": TWIML_APP_SID}},
    }
    assert claims["exp"] - claims["nbf"] == 3600
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs((expires - datetime.now(UTC)).total_seconds() - 3600) < 60
    again = await rui.get("/api/v1/voice/token", params={"endpoint_id": voice["id"]})
    assert again.status_code == 409  # that number has no API key
    unknown = await rui.get("/api/v1/voice/token", params={"endpoint_id": "nope"})
    assert unknown.status_code == 404
    async with server.client() as anyone:
        assert (await anyone.get("/api/v1/voice/token")).status_code == 401

    # the number with the JSON secret still checks signatures with its auth token, and a
    # call it connects to Rui rings the identity his softphone registered
    number = f"{server.base_url}/webhooks/voice/twilio/%2B15005550007"
    forged = await twilio.post_signed(number, {"CallSid": "CA90", "From": CALLER}, token="x")
    assert forged.status_code == 403
    root = twiml(await twilio.call_webhook(number, "CA90", "+351911111111", "+15005550007"))
    for digit in ("1", "2"):
        action = root.find("Gather").get("action") or ""  # type: ignore[union-attr]
        root = twiml(
            await twilio.call_webhook(action, "CA90", "+351911111111", "+15005550007", Digits=digit)
        )
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    [offer] = await offered(rui)
    assert (await rui.post(f"/api/v1/offers/{offer['id']}/accept")).status_code == 200
    hold = root.findtext("Redirect") or ""
    connect = twiml(await twilio.call_webhook(hold, "CA90", "+351911111111", "+15005550007"))
    assert connect.findtext("Dial/Client") == body["identity"]
    assert (await contact_of(server, "CA90")).agent_id == world.agents["rui"].id
    await rui.aclose()


@pytest.fixture
async def conference_line(server: Running, world: World) -> AsyncIterator[FakeTwilio]:
    """The organisation's voice number, its calls in conferences (`settings.conference`)."""
    async with running_fake_twilio() as fake:
        await add_endpoint(server, **voice_endpoint(world, fake, conference=True))
        yield fake


async def _answered_into_the_conference(
    server: Running, world: World, agent: httpx.AsyncClient, fake: FakeTwilio, key: str, phone: str
) -> tuple[str, FakeCall, str, ET.Element, FakeConference, FakeParticipant]:
    """A kept callback dialled and answered on a conference number: its id, the customer's
    call, the contact, the TwiML the answer got, the contact's conference and the agent's
    leg dialled into it."""
    _chat, callback_id, call = await _kept_and_dialled(server, world, agent, fake, key, phone)
    contact_id = (await _callback(server, callback_id)).contact_id
    assert contact_id is not None
    answered = twiml(await fake.answer(call))
    conference = fake.conference_named(f"contact-{contact_id}")
    assert conference is not None and conference.live(call.sid) is not None
    [leg] = [p for p in conference.participants.values() if p.call_sid != call.sid]
    return callback_id, call, contact_id, answered, conference, leg


async def test_a_callback_on_a_conference_number_meets_the_agent_there_and_can_be_held(
    server: Running, world: World, agent: httpx.AsyncClient, conference_line: FakeTwilio
) -> None:
    fake = conference_line
    callback_id, call, contact_id, answered, conference, leg = await _answered_into_the_conference(
        server, world, agent, fake, "v-conference", "+351 912 000 444"
    )
    # the customer hears the announcement, then joins the callback contact's conference
    assert said(answered) and answered.find("Dial/Client") is None
    dial, node = answered.find("Dial"), answered.find("Dial/Conference")
    assert dial is not None and node is not None
    assert node.text == f"contact-{contact_id}"
    action = dial.get("action") or ""
    assert action.startswith(url(server, "/outbound/dialed?"))
    assert query(action)["ref"] == callback_id
    assert leg.created_with["To"] == "client:" + client_identity(world.agents["rui"].id)
    assert conference.status == "init"  # the customer waits for the agent's softphone
    await fake.answer_participant(leg.call_sid)
    assert conference.status == "in-progress"

    async def in_conference() -> Contact | None:
        async with server.ctx.db.sessions() as session:
            contact = await session.get(Contact, contact_id)
        known = contact is not None and contact.context.get("conference_sid") == conference.sid
        return contact if known else None

    contact = await eventually(in_conference)
    assert contact.context["call_sid"] == call.sid
    assert contact.context["agent_call_sid"] == leg.call_sid
    assert (await _callback(server, callback_id)).status == "connected"

    # the agent holds the customer and takes them back, as on an inbound call
    held = await agent.post(f"/api/v1/voice/contacts/{contact_id}/hold")
    assert held.status_code == 200, held.text
    assert held.json() == {"contact_id": contact_id, "hold": True}
    assert conference.participants[call.sid].hold
    [entry] = await eventually(lambda: events(server, "call_held"))
    assert entry.contact_id == contact_id and entry.data["call_sid"] == call.sid
    resumed = await agent.post(f"/api/v1/voice/contacts/{contact_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["hold"] is False
    [back] = await eventually(lambda: events(server, "call_resumed"))
    assert back.contact_id == contact_id and not conference.participants[call.sid].hold

    # the conference ends: the dial's outcome, then the call's; the callback is completed
    ended = twiml(await fake.dial_outcome(call, action, "completed", duration_s=80))
    assert ended.find("Hangup") is not None
    await fake.finish(call, "completed", duration_s=95)
    done = await _callback(server, callback_id)
    assert done.status == "completed" and done.outcome == "answered"


async def test_a_callbacks_agent_leg_that_is_not_answered_puts_the_customer_in_line(
    server: Running, world: World, agent: httpx.AsyncClient, conference_line: FakeTwilio
) -> None:
    """As with an inbound call: the customer, on the line, waits for the next agent."""
    fake = conference_line
    _id, call, contact_id, _twiml, _conference, leg = await _answered_into_the_conference(
        server, world, agent, fake, "v-conference-missed", "+351 912 000 555"
    )
    missed = await fake.finish(fake.calls[leg.call_sid], "no-answer")
    assert missed.status_code == 200, missed.text

    async def requeued() -> Contact | None:
        async with server.ctx.db.sessions() as session:
            contact = await session.get(Contact, contact_id)
        return contact if contact is not None and contact.status == "queued" else None

    contact = await eventually(requeued)
    assert contact.excluded_agents == [world.agents["rui"].id]
    await fake.settle()
    assert "/hold?" in call.updates[-1]["Url"]  # out of the conference, into the hold loop
