"""Voice over Twilio-style webhooks, with the provider's side played by the fake Twilio
(signed with RequestValidator over the URL called, following the TwiML it gets back): an
incoming call lands in the caller's one thread (a caller who withholds their number gets a
customer of their own), the IVR asks the language and the reason, queues the call with what
was chosen, the hold loop connects the caller to the agent who accepts the offer, status
and recording callbacks reach the timeline once, and an IVR naming an unknown queue is
refused when saved; on SQLite and PostgreSQL. More in test_voice_connect.py (connecting,
missed agents, sticky routing, wait announcements) and test_voice_outbound.py."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Running, World, count, eventually, login
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from threadline.channels.models import Endpoint
from threadline.channels.voice.twilio_voice import client_identity
from threadline.customers.models import Customer, Identity
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact
from threadline.routing.schemas import QueueIn
from threadline.routing.services import do_create_queue
from threadline.threads.models import Thread, ThreadEvent

T = TypeVar("T")
NUMBER = "+15005550006"
CALLER = "+351912345678"

IVR: dict[str, Any] = {
    "languages": [
        {"digit": "1", "code": "en", "say": "en-GB", "label": "For English, press 1."},
        {"digit": "2", "code": "pt", "say": "pt-PT", "label": "Para português, prima 2."},
    ],
    "greeting": {"en": "Welcome to Test Bank.", "pt": "Bem-vindo ao Test Bank."},
    "options": [
        {
            "digit": "1",
            "keywords": {"en": ["card", "cards"], "pt": ["cartão"]},
            "queue": "Cards",
            "reason": "card_blocked",
            "prompt": {"en": "For cards, press 1.", "pt": "Para cartões, prima 1."},
        },
        {
            "digit": "2",
            "queue": "General",
            "reason": "other",
            "prompt": {"en": "For anything else, press 2."},
        },
    ],
    "default": {"queue": "General", "reason": "ivr_no_choice"},
    "max_prompts": 2,
    "hold": {"poll_s": 1, "announce_every_s": 5, "per_caller_s": 90},
}


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def voice_endpoint(
    world: World, twilio: FakeTwilio, *, secret: str = AUTH_TOKEN, **settings: Any
) -> dict[str, Any]:
    """The voice number as an admin posts it to /api/v1/endpoints (Calls API: the fake)."""
    return {
        "channel": "voice",
        "key": NUMBER,
        "name": "Phone line",
        "queue_id": world.queues["general"].id,
        "secret": secret,
        "settings": {
            "account_sid": ACCOUNT_SID,
            "api_base": twilio.base_url,
            "ivr": IVR,
            **settings,
        },
    }


@pytest.fixture
async def voice(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    """A voice number with its IVR, configured by the admin through the API."""
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio))
    assert created.status_code == 201, created.text
    await admin.aclose()
    return dict(created.json())


def url(server: Running, suffix: str = "") -> str:
    return f"{server.base_url}/webhooks/voice/twilio/{quote(NUMBER, safe='')}{suffix}"


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)  # noqa: S314  # our own server's TwiML
    assert root.tag == "Response"
    return root


def gather_action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    assert gather.get("input") == "dtmf speech" and gather.get("numDigits") == "1"
    action = gather.get("action")
    assert action
    redirect = root.find("Redirect")  # no input: Twilio comes back to the same step
    assert redirect is not None and redirect.text == action
    return action


def query(action: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(action).query).items()}


def said(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter("Say")]


async def events(server: Running, kind: str) -> list[ThreadEvent]:
    async with server.ctx.db.sessions() as db:
        rows = await db.scalars(
            select(ThreadEvent).where(ThreadEvent.kind == kind).order_by(ThreadEvent.id)
        )
        return list(rows)


async def contact_of(server: Running, call_sid: str) -> Contact:
    async with server.ctx.db.sessions() as db:
        contacts = await db.scalars(select(Contact).where(Contact.channel == "voice"))
        [contact] = [c for c in contacts if c.context.get("call_sid") == call_sid]
        return contact


async def call_into_queue(
    server: Running,
    twilio: FakeTwilio,
    sid: str,
    digits: tuple[str, ...],
    caller: str = CALLER,
) -> ET.Element:
    """A call that answers each IVR question with the given digits; returns the last TwiML."""
    root = twiml(await twilio.call_webhook(url(server), sid, caller, NUMBER, "ringing"))
    for digit in digits:
        root = twiml(
            await twilio.call_webhook(gather_action(root), sid, caller, NUMBER, Digits=digit)
        )
    return root


async def next_turn(twilio: FakeTwilio, root: ET.Element, sid: str) -> ET.Element:
    """Follow the TwiML's Redirect (the hold loop's next turn), as Twilio does."""
    redirect = root.findtext("Redirect")
    assert redirect, ET.tostring(root)
    return twiml(await twilio.call_webhook(redirect, sid, twilio.calls[sid].from_, NUMBER))


async def offered(agent: httpx.AsyncClient) -> list[dict[str, Any]]:
    async def _offers() -> list[dict[str, Any]] | None:
        return (await agent.get("/api/v1/offers")).json() or None

    return await eventually(_offers)


async def dialled(twilio: FakeTwilio, sid: str) -> ET.Element | None:
    """The TwiML the fake fetched after a redirect, once it dials somebody."""
    document = twilio.calls[sid].twiml
    if document is None or "<Dial" not in document:
        return None
    return ET.fromstring(document)  # noqa: S314  # our own server's TwiML


async def test_a_call_from_a_texter_lands_in_their_thread_with_the_language_question(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    admin = await login(server, "admin@example.com")
    sms = await admin.post(
        "/api/v1/endpoints",
        json={
            "channel": "sms",
            "key": NUMBER,
            "name": "Texts",
            "secret": AUTH_TOKEN,
            "settings": {"account_sid": ACCOUNT_SID},
        },
    )
    assert sms.status_code == 201, sms.text
    texted = await twilio.post_signed(
        f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}",
        {"MessageSid": "SM1", "From": CALLER, "To": NUMBER, "Body": "hi", "NumMedia": "0"},
    )
    assert texted.status_code == 200, texted.text
    await admin.aclose()
    for _ in range(2):  # a retried webhook is one call on the timeline
        root = twiml(await twilio.call_webhook(url(server), "CA1", CALLER, NUMBER, "ringing"))
    action = gather_action(root)
    assert action.startswith(url(server, "/ivr?"))
    assert query(action) == {"step": "language", "tries": "1"}
    assert said(root) == [
        "Welcome to Test Bank.",
        "For English, press 1.",
        "Para português, prima 2.",
    ]
    assert [s.get("language") for s in root.iter("Say")] == ["en-GB", "en-GB", "pt-PT"]
    [message] = await events(server, "message")
    [call] = await events(server, "call")
    assert call.thread_id == message.thread_id and call.author_id == message.author_id
    assert call.channel == "voice" and call.provider_msg_id == "CA1"
    assert call.data["direction"] == "inbound" and call.data["from"] == CALLER
    assert call.data["to"] == NUMBER and call.data["status"] == "ringing"
    assert await count(server, Customer) == 1


async def test_language_then_option_queues_the_call_with_the_choices(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    root = twiml(await twilio.call_webhook(url(server), "CA2", CALLER, NUMBER, "ringing"))
    root = twiml(await twilio.call_webhook(gather_action(root), "CA2", CALLER, NUMBER, Digits="2"))
    action = gather_action(root)
    assert query(action) == {"step": "menu", "lang": "pt", "tries": "1"}
    assert said(root) == ["Para cartões, prima 1. For anything else, press 2."]
    assert root.find("Gather").get("language") == "pt-PT"  # type: ignore[union-attr]
    assert "cartão" in (root.find("Gather").get("hints") or "")  # type: ignore[union-attr]
    hold = twiml(
        await twilio.call_webhook(
            action, "CA2", CALLER, NUMBER, SpeechResult="O meu cartao.", Confidence="0.9"
        )
    )
    [announcement] = said(hold)  # in the caller's language; no agent for it is available
    assert announcement == "É o número 1 na fila. A espera será de mais de 30 minutos."
    assert hold.find("Say").get("language") == "pt-PT"  # type: ignore[union-attr]
    assert hold.find("Pause").get("length") == "1"  # type: ignore[union-attr]
    assert query(hold.findtext("Redirect") or "")["contact"]
    contact = await contact_of(server, "CA2")
    assert contact.queue_id == world.queues["cards"].id and contact.reason == "card_blocked"
    assert contact.context["ivr"] == [
        {"step": "language", "input": "dtmf", "value": "2", "result": "pt"},
        {"step": "menu", "input": "speech", "value": "O meu cartao.", "result": "card_blocked"},
    ]
    choices = await events(server, "ivr")
    assert [(e.data["step"], e.data["result"]) for e in choices] == [
        ("language", "pt"),
        ("menu", "card_blocked"),
    ]
    assert all(e.thread_id == contact.thread_id and e.channel == "voice" for e in choices)
    async with server.ctx.db.sessions() as db:
        customer = await db.get_one(Customer, contact.customer_id)
        assert customer.language == "pt"
    # the next call knows the language: straight to the options, in Portuguese
    again = twiml(await twilio.call_webhook(url(server), "CA3", CALLER, NUMBER, "ringing"))
    assert query(gather_action(again)) == {"step": "menu", "lang": "pt", "tries": "1"}
    assert said(again)[0] == "Bem-vindo ao Test Bank."


async def test_invalid_input_is_asked_again_then_goes_to_the_default_queue(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    root = twiml(await twilio.call_webhook(url(server), "CA4", CALLER, NUMBER, "ringing"))
    root = twiml(await twilio.call_webhook(gather_action(root), "CA4", CALLER, NUMBER, Digits="7"))
    assert said(root)[0] == "Sorry, I did not understand."
    assert query(gather_action(root)) == {"step": "language", "tries": "2"}
    # max_prompts reached: English, the first language
    root = twiml(await twilio.call_webhook(gather_action(root), "CA4", CALLER, NUMBER, Digits="8"))
    assert query(gather_action(root)) == {"step": "menu", "lang": "en", "tries": "1"}
    root = twiml(await twilio.call_webhook(gather_action(root), "CA4", CALLER, NUMBER, Digits="9"))
    assert said(root)[0] == "Sorry, I did not understand."
    action = gather_action(root)
    assert query(action)["tries"] == "2"
    # the caller says nothing: Twilio follows the Redirect, without Digits
    hold = twiml(await twilio.call_webhook(root.findtext("Redirect") or "", "CA4", CALLER, NUMBER))
    assert hold.find("Redirect") is not None and hold.find("Gather") is None
    contact = await contact_of(server, "CA4")
    assert contact.queue_id == world.queues["general"].id and contact.reason == "ivr_no_choice"
    assert [(c["step"], c["input"], c["result"]) for c in contact.context["ivr"]] == [
        ("language", "dtmf", None),
        ("language", "dtmf", None),
        ("menu", "dtmf", None),
        ("menu", "none", None),
    ]
    assert len(await events(server, "ivr")) == 4


async def test_unsigned_and_forged_voice_webhooks_store_nothing(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    params = {"CallSid": "CA5", "From": CALLER, "To": NUMBER, "CallStatus": "ringing"}
    async with httpx.AsyncClient(timeout=10) as anyone:
        responses = [
            await anyone.post(url(server, suffix), data={**params, "Digits": "1"})
            for suffix in (
                "",
                "/ivr?step=language&tries=1",
                "/hold?contact=x",
                "/connect?contact=x",
                "/dialed?contact=x&agent=y",
                "/status",
                "/recording",
                "/outbound/answer?thread=t&purpose=p&ref=r",
                "/outbound/dialed?thread=t&purpose=p&ref=r",
                "/outbound/status?thread=t&purpose=p&ref=r",
            )
        ]
        responses.append(
            await anyone.post(  # signed for another URL
                url(server),
                data=params,
                headers={"X-Twilio-Signature": twilio.sign(url(server, "/x"), params)},
            )
        )
    responses.append(await twilio.post_signed(url(server), params, token="not-the-token"))
    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden"
    unknown = await twilio.post_signed(
        f"{server.base_url}/webhooks/voice/twilio/%2B15005550009", params
    )
    assert unknown.status_code == 404
    no_sid = await twilio.post_signed(url(server), {"From": CALLER, "To": NUMBER})
    assert no_sid.status_code == 422
    assert await count(server, ThreadEvent) == 0
    assert await count(server, Customer) == 0


async def test_the_hold_loop_connects_the_caller_to_the_agent_who_accepts(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    """The fallback: when the Calls API cannot redirect the call, the next hold turn
    connects it (test_voice_connect.py has the redirect)."""
    twilio.fail_with = 503
    hold = await call_into_queue(server, twilio, "CA6", ("1", "1"))  # English, cards
    rui = await login(server, "rui@example.com")
    offers: list[dict[str, Any]] = []

    async def _offers() -> list[dict[str, Any]] | None:
        return (await rui.get("/api/v1/offers")).json() or None

    # nobody is available: the caller keeps waiting, re-announced every 5 turns
    for turn in range(1, 6):
        hold = twiml(
            await twilio.call_webhook(hold.findtext("Redirect") or "", "CA6", CALLER, NUMBER)
        )
        assert hold.find("Dial") is None and hold.find("Pause") is not None
        assert bool(said(hold)) == (turn == 5)
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    offers = await eventually(_offers)
    assert offers[0]["channel"] == "voice" and offers[0]["reason"] == "card_blocked"
    offered = twiml(
        await twilio.call_webhook(hold.findtext("Redirect") or "", "CA6", CALLER, NUMBER)
    )
    assert offered.find("Dial") is None  # offered, not yet accepted: still on hold
    accepted = await rui.post(f"/api/v1/offers/{offers[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    connect = twiml(
        await twilio.call_webhook(offered.findtext("Redirect") or "", "CA6", CALLER, NUMBER)
    )
    assert said(connect) == ["Connecting you to an agent now."]
    assert connect.findtext("Dial/Client") == client_identity(world.agents["rui"].id)
    dial = connect.find("Dial")
    assert dial is not None and dial.get("record") is None  # the number does not record
    assert query(dial.get("action") or "") == {
        "contact": offers[0]["contact_id"],
        "agent": world.agents["rui"].id,
        "lang": "en",
    }
    assert twilio.calls["CA6"].updates == []  # the redirect was refused: nothing changed
    timeline = await rui.get(f"/api/v1/threads/{offers[0]['thread_id']}/events")
    assert timeline.status_code == 200, timeline.text
    kinds = [e["kind"] for e in timeline.json()]
    assert kinds[:2] == ["call", "ivr"] and "assigned" in kinds
    await rui.aclose()


async def test_status_callbacks_reach_the_timeline_once(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await call_into_queue(server, twilio, "CA7", ("1", "2"))
    done = {"CallDuration": "42", "RecordingUrl": "https://api.twilio.com/rec/RE1"}
    for _ in range(2):
        response = await twilio.call_webhook(
            url(server, "/status"), "CA7", CALLER, NUMBER, "completed", **done
        )
        assert twiml(response) is not None
    [completed] = await events(server, "call_status")
    assert completed.data["status"] == "completed" and completed.data["duration_s"] == 42
    assert completed.data["recording_url"] == "https://api.twilio.com/rec/RE1"
    assert completed.provider_msg_id == "CA7:completed"
    busy = await twilio.call_webhook(url(server, "/status"), "CA8", CALLER, NUMBER, "busy")
    assert busy.status_code == 404  # a call Threadline never saw
    bad = await twilio.call_webhook(url(server, "/status"), "CA7", CALLER, NUMBER, "exploded")
    assert bad.status_code == 422
    assert len(await events(server, "call_status")) == 1


async def test_a_caller_who_hangs_up_on_hold_leaves_the_queue(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await call_into_queue(server, twilio, "CA9", ("1", "2"))
    waiting = await contact_of(server, "CA9")
    assert waiting.status == "queued"
    hung_up = await twilio.call_webhook(url(server, "/status"), "CA9", CALLER, NUMBER, "completed")
    assert hung_up.status_code == 200
    gone = await contact_of(server, "CA9")
    assert gone.status == "abandoned" and gone.ended_at is not None
    [abandoned] = await events(server, "abandoned")
    assert abandoned.contact_id == gone.id and abandoned.data["why"] == "call completed"
    # an agent who becomes available now is offered nothing
    agent = await login(server, "rui@example.com")
    await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
    await asyncio.sleep(0.5)
    assert (await agent.get("/api/v1/offers")).json() == []
    assert server.ctx.routing.router(world.org_id).waiting() == 0
    await agent.aclose()


async def test_a_recording_reaches_the_call_timeline_once_with_its_link(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, record=True))
    assert created.status_code == 201, created.text
    await admin.aclose()
    await call_into_queue(server, twilio, "CA30", ("1", "2"))
    rui = await login(server, "rui@example.com")
    await rui.put("/api/v1/agents/me/presence", json={"presence": "available"})
    [offer] = await offered(rui)
    assert (await rui.post(f"/api/v1/offers/{offer['id']}/accept")).status_code == 200
    connect = await eventually(lambda: dialled(twilio, "CA30"))
    dial = connect.find("Dial")
    assert dial is not None and dial.get("record") == "record-from-answer-dual"
    assert dial.get("recordingStatusCallback") == url(server, "/recording")
    recording = {
        "RecordingSid": "RE30",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE30",
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
        "RecordingChannels": "2",
        "RecordingSource": "DialVerb",
    }
    in_progress = {**recording, "RecordingStatus": "in-progress", "RecordingUrl": ""}
    assert (
        twiml(
            await twilio.call_webhook(
                url(server, "/recording"), "CA30", CALLER, NUMBER, **in_progress
            )
        )
        is not None
    )
    assert await events(server, "call_recording") == []  # nothing to link to yet
    for _ in range(2):  # a retried callback is one entry
        done = await twilio.call_webhook(
            url(server, "/recording"), "CA30", CALLER, NUMBER, **recording
        )
        assert twiml(done) is not None
    [entry] = await events(server, "call_recording")
    assert entry.data["recording_url"] == recording["RecordingUrl"]
    assert entry.data["duration_s"] == 42 and entry.data["call_sid"] == "CA30"
    assert entry.thread_id == offer["thread_id"]
    timeline = (await rui.get(f"/api/v1/threads/{offer['thread_id']}/events")).json()
    assert any(e["kind"] == "call_recording" for e in timeline)
    await rui.aclose()
    no_link = {**recording, "RecordingSid": "RE31", "RecordingUrl": ""}
    bad = await twilio.call_webhook(url(server, "/recording"), "CA30", CALLER, NUMBER, **no_link)
    assert bad.status_code == 422
    unknown = await twilio.call_webhook(
        url(server, "/recording"), "CA39", CALLER, NUMBER, **recording
    )
    assert unknown.status_code == 404
    assert len(await events(server, "call_recording")) == 1


@pytest.mark.parametrize(
    "withheld", ["anonymous", "Anonymous", "+266696687", "Restricted", "unknown", ""]
)
async def test_a_caller_who_withholds_their_number_gets_a_customer_and_a_thread(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any], withheld: str
) -> None:
    for sid in ("CA40", "CA40", "CA41"):  # a retried webhook, then another anonymous caller
        root = twiml(await twilio.call_webhook(url(server), sid, withheld, NUMBER, "ringing"))
        assert query(gather_action(root)) == {"step": "language", "tries": "1"}
    calls = await events(server, "call")
    assert [c.provider_msg_id for c in calls] == ["CA40", "CA41"]
    assert all(c.data["anonymous"] and c.data["from"] == withheld for c in calls)
    assert calls[0].author_id != calls[1].author_id  # never taken for one another
    assert calls[0].thread_id != calls[1].thread_id
    assert await count(server, Customer) == 2
    assert await count(server, Identity) == 0
    assert await count(server, Thread) == 2
    # routed like anyone else
    await call_into_queue(server, twilio, "CA41", ("1", "2"), caller=withheld)
    contact = await contact_of(server, "CA41")
    assert contact.status == "queued" and contact.customer_id == calls[1].author_id
    assert contact.queue_id == world.queues["general"].id


async def test_an_ivr_naming_an_unknown_queue_is_refused_when_saved(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    other = await do_create_org(server.ctx, "other-bank", "Other Bank")
    await do_create_queue(server.ctx, other.id, QueueIn(name="Mortgages"))  # not ours
    admin = await login(server, "admin@example.com")
    options = [dict(o) for o in IVR["options"]]
    options[1]["queue"] = "Mortgages"
    bad_option = voice_endpoint(world, twilio, ivr={**IVR, "options": options})
    refused = await admin.post("/api/v1/endpoints", json=bad_option)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid"
    assert refused.json()["message"] == "settings.ivr.options[1].queue: no queue named 'Mortgages'"
    bad_default = voice_endpoint(
        world, twilio, ivr={**IVR, "default": {"queue": "Nowhere", "reason": "x"}}
    )
    refused = await admin.post("/api/v1/endpoints", json=bad_default)
    assert refused.status_code == 422, refused.text
    assert "settings.ivr.default.queue" in refused.json()["message"]
    assert "'Nowhere'" in refused.json()["message"]
    assert await count(server, Endpoint, Endpoint.channel == "voice") == 0
    fine = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio))
    assert fine.status_code == 201, fine.text
    await admin.aclose()
