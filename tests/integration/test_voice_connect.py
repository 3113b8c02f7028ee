"""Connecting a waiting caller, with the fake Twilio's Calls API: accepting the offer
redirects the live call at once (the fake fetches the new TwiML, signed, as Twilio does); an
agent whose softphone does not answer puts the caller back in their place; a call from a
customer whose SMS an agent is answering prefers that agent and leaves the thread theirs;
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, eventually, login, set_capacity
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.integration.test_voice import (  # the fixtures and helpers of the voice tests
    CALLER,
    NUMBER,
    call_into_queue,
    contact_of,
    dialled,
    events,
    next_turn,
    offered,
    query,
    said,
    twilio,
    twiml,
    url,
    voice,
)
from threadline.agents.models import Agent
from threadline.channels.voice.twilio_voice import client_identity
from threadline.routing.models import Offer
from threadline.threads.models import Thread

__all__ = ["twilio", "voice"]  # fixtures, imported for pytest

OTHER_CALLER = "+351918765432"


async def accept_first(agent: httpx.AsyncClient) -> dict[str, Any]:
    [offer] = await offered(agent)
    accepted = await agent.post(f"/api/v1/offers/{offer['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    return offer


async def available(server: Running, email: str) -> httpx.AsyncClient:
    agent = await login(server, email)
    answer = await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert answer.status_code == 200, answer.text
    return agent


async def test_accepting_the_offer_redirects_the_call_to_the_agent_at_once(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await call_into_queue(server, twilio, "CA50", ("1", "1"))  # English, cards
    rui = await available(server, "rui@example.com")
    offer = await accept_first(rui)
    # no hold turn is played: the accept alone makes Twilio fetch the dial
    connect = await eventually(lambda: dialled(twilio, "CA50"))
    call = twilio.calls["CA50"]
    [update] = call.updates
    redirect_url = update["Url"]
    assert redirect_url.startswith(url(server, "/connect?"))
    assert query(redirect_url) == {"contact": offer["contact_id"], "lang": "en"}
    assert call.documents[-1][0] == redirect_url
    assert said(connect) == ["Connecting you to an agent now."]
    assert connect.findtext("Dial/Client") == client_identity(world.agents["rui"].id)
    assert query(connect.find("Dial").get("action") or "")["contact"] == offer["contact_id"]  # type: ignore[union-attr]
    # the hold turn that was under way when the call was redirected dials the same agent
    late = twiml(
        await twilio.call_webhook(
            url(server, f"/hold?contact={offer['contact_id']}&lang=en&turn=3"),
            "CA50",
            CALLER,
            NUMBER,
        )
    )
    assert late.findtext("Dial/Client") == client_identity(world.agents["rui"].id)
    await asyncio.sleep(0.3)
    assert len(call.updates) == 1  # redirected once
    contact = await contact_of(server, "CA50")
    assert contact.status == "assigned" and contact.context["connect_offer"] == offer["id"]
    await rui.aclose()


async def test_an_agent_whose_phone_does_not_answer_puts_the_caller_back_in_place(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    first = await call_into_queue(server, twilio, "CA60", ("1", "2"))  # English, General
    second = await call_into_queue(server, twilio, "CA61", ("1", "2"), caller=OTHER_CALLER)
    waited_since = (await contact_of(server, "CA60")).enqueued_at
    rui = await available(server, "rui@example.com")
    offer = await accept_first(rui)
    assert offer["contact_id"] == (await contact_of(server, "CA60")).id  # the first caller
    connect = await eventually(lambda: dialled(twilio, "CA60"))
    action = connect.find("Dial").get("action") or ""  # type: ignore[union-attr]
    assert query(action)["agent"] == world.agents["rui"].id

    missed = await twilio.dial_outcome(twilio.calls["CA60"], action, "no-answer", 0, "CA60-leg")
    back = twiml(missed)
    assert back.find("Dial") is None and back.find("Pause") is not None
    [text] = said(back)
    assert text.startswith("Sorry, the agent could not take your call.")
    assert "You are number 1 in the queue" in text  # still ahead of the second caller

    async def _requeued() -> Any:
        contact = await contact_of(server, "CA60")
        return contact if contact.status == "queued" else None

    contact = await eventually(_requeued)
    assert contact.enqueued_at == waited_since  # its place is kept
    assert contact.agent_id is None and contact.accepted_at is None
    assert contact.excluded_agents == [world.agents["rui"].id]
    async with server.ctx.db.sessions() as db:
        agent = await db.get_one(Agent, world.agents["rui"].id)
        assert agent.presence == "away"  # as when an offer in the desktop times out
        thread = await db.get_one(Thread, contact.thread_id)
        assert thread.status == "queued" and thread.assigned_agent_id is None
        offers = list(await db.scalars(select(Offer).where(Offer.contact_id == contact.id)))
        assert sorted(o.status for o in offers) == ["accepted", "timed_out"]
    [entry] = [e for e in await events(server, "call_status") if e.data.get("dial_status")]
    assert entry.data["dial_status"] == "no-answer" and entry.contact_id == contact.id
    assert entry.provider_msg_id == "CA60:dial:CA60-leg"

    # Twilio retries the same dial action: nothing moves twice
    retried = await twilio.dial_outcome(twilio.calls["CA60"], action, "no-answer", 0, "CA60-leg")
    assert twiml(retried).find("Pause") is not None
    assert len([e for e in await events(server, "call_status") if e.data.get("dial_status")]) == 1

    # the hold loop goes on; the next agent gets the first caller, not the second
    again = await next_turn(twilio, back, "CA60")
    assert again.find("Dial") is None
    olga = await available(server, "olga@example.com")
    offer = await accept_first(olga)
    assert offer["contact_id"] == contact.id
    connect = await eventually(
        lambda: _dialling(twilio, "CA60", client_identity(world.agents["olga"].id))
    )
    action = connect.find("Dial").get("action") or ""  # type: ignore[union-attr]
    ended = twiml(await twilio.dial_outcome(twilio.calls["CA60"], action, "completed", 95))
    assert ended.find("Hangup") is not None and ended.find("Dial") is None
    assert (await contact_of(server, "CA60")).status == "assigned"  # Olga wraps it up
    waiting = await contact_of(server, "CA61")  # the second caller still waits for an agent
    # (routing's offer-timeout path offers the missed agent more work just before it sets
    # them away, so the second call may be offered to Rui for a while)
    assert waiting.status in ("queued", "offered")
    assert waiting.agent_id != world.agents["olga"].id
    assert second.find("Pause") is not None and first.find("Pause") is not None
    await rui.aclose()
    await olga.aclose()


async def _dialling(twilio: FakeTwilio, sid: str, identity: str) -> ET.Element | None:
    root = await dialled(twilio, sid)
    return root if root is not None and root.findtext("Dial/Client") == identity else None


async def test_a_call_from_a_customer_being_served_prefers_their_agent_and_keeps_the_thread(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await add_endpoint(
        server,
        channel="sms",
        key=NUMBER,
        name="Texts",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={"account_sid": ACCOUNT_SID, "api_base": twilio.base_url},
    )
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, sms=3)
    # Olga is free first: by longest idle time she would get the next call
    olga = await available(server, "olga@example.com")
    await asyncio.sleep(0.05)
    rui = await available(server, "rui@example.com")
    texted = await twilio.post_signed(
        f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}",
        {"MessageSid": "SM70", "From": CALLER, "To": NUMBER, "Body": "hi", "NumMedia": "0"},
    )
    assert texted.status_code == 200, texted.text
    sms_offer = await accept_first(rui)  # only Rui answers texts
    assert sms_offer["channel"] == "sms"

    await call_into_queue(server, twilio, "CA70", ("1", "2"))  # the same customer calls
    call = await contact_of(server, "CA70")
    assert call.channel == "voice" and call.thread_id == sms_offer["thread_id"]
    assert call.id != sms_offer["contact_id"]  # the call is its own contact
    async with server.ctx.db.sessions() as db:
        thread = await db.get_one(Thread, call.thread_id)
        assert (thread.status, thread.assigned_agent_id) == ("assigned", world.agents["rui"].id)
    [voice_offer] = await offered(rui)  # sticky: to Rui, who is serving the thread
    assert voice_offer["channel"] == "voice" and voice_offer["contact_id"] == call.id
    assert voice_offer["sticky"] is True
    assert (await olga.get("/api/v1/offers")).json() == []
    await rui.aclose()
    await olga.aclose()


async def test_the_hold_loop_announces_the_live_place_and_wait_range(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await call_into_queue(server, twilio, "CA100", ("1", "1"))  # English, cards
    rui = await available(server, "rui@example.com")
    await accept_first(rui)  # Rui is on that call: his one voice slot is busy
    hold = await call_into_queue(server, twilio, "CA101", ("2", "1"), caller=OTHER_CALLER)
    contact = await contact_of(server, "CA101")
    estimate = await server.ctx.routing.estimate(world.org_id, contact.id)
    assert estimate is not None and estimate.high_s is not None
    low, high = round(estimate.low_s / 60), round(estimate.high_s / 60)
    assert 1 <= low < high
    [announcement] = said(hold)
    assert announcement == (
        f"É o número {estimate.position} na fila. A espera será de {low} a {high} minutos."
    )
    await rui.aclose()
