"""Calls in a Twilio Conference (a number with `settings.conference`), with the fake Twilio
speaking the Conference TwiML noun, the Participants API and signed conference status
callbacks: the answered caller and the agent's softphone meet in the contact's conference;
the agent holds and resumes the caller, which lands on the timeline, as `call.held` /
`call.resumed` and in the KPIs' hold (equal after a rebuild); a retried callback counts once;
only the call's agent may hold it; supervisors listen, whisper and barge through the
Participants API; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import Running, World, eventually, login
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_reports import _other_org_supervisor
from tests.integration.test_voice import (  # the fixtures and helpers of the voice tests
    call_into_queue,
    contact_of,
    dialled,
    events,
    twilio,
    voice_endpoint,
)
from tests.integration.test_voice_connect import accept_first, available
from threadline.analytics import aggregates
from threadline.analytics.models import contact_intervals
from threadline.channels.voice.twilio_voice import client_identity
from threadline.context import Context
from threadline.events.models import EventRecord
from threadline.orgs.models import AuditEntry
from threadline.simulated.runtime import Simulated
from threadline.simulated.twilio import FakeConference, FakeParticipant

__all__ = ["twilio"]  # a fixture, imported for pytest


@pytest.fixture
async def conference_line(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    admin = await login(server, "admin@example.com")
    body = voice_endpoint(world, twilio, conference=True)
    created = await admin.post("/api/v1/endpoints", json=body)
    assert created.status_code == 201, created.text
    await admin.aclose()
    return dict(created.json())


async def _connected(
    server: Running, world: World, twilio: FakeTwilio, sid: str
) -> tuple[httpx.AsyncClient, str, FakeConference, FakeParticipant]:
    """A caller queued, Rui accepting, his softphone answering: both in the conference."""
    await call_into_queue(server, twilio, sid, ("1", "1"))
    rui = await available(server, "rui@example.com")
    offer = await accept_first(rui)
    contact_id = offer["contact_id"]
    joined = await eventually(lambda: dialled(twilio, sid))
    node = joined.find("Dial/Conference")
    assert node is not None, ET.tostring(joined)
    assert node.text == f"contact-{contact_id}"
    assert node.get("beep") == "false"
    assert node.get("startConferenceOnEnter") == "false"
    assert node.get("endConferenceOnExit") == "true"
    assert set((node.get("statusCallbackEvent") or "").split()) >= {"join", "leave", "hold"}
    conference = twilio.conference_named(f"contact-{contact_id}")
    assert conference is not None and conference.live(sid) is not None  # the caller is in
    [leg] = [p for p in conference.participants.values() if p.call_sid != sid]
    assert leg.created_with["To"] == "client:" + client_identity(world.agents["rui"].id)
    assert leg.created_with["StartConferenceOnEnter"] == "true"
    assert leg.created_with["EndConferenceOnExit"] == "true"
    assert leg.status == "queued" and conference.status == "init"  # the caller waits
    await twilio.answer_participant(leg.call_sid)
    assert conference.status == "in-progress"

    async def _known() -> Any:
        contact = await contact_of(server, sid)
        return contact if contact.context.get("conference_sid") == conference.sid else None

    contact = await eventually(_known)
    assert contact.context["agent_call_sid"] == leg.call_sid
    return rui, contact_id, conference, leg


async def _log_types(server: Running) -> list[str]:
    async with server.ctx.db.sessions() as db:
        return list(await db.scalars(select(EventRecord.type).order_by(EventRecord.position)))


async def _counted(ctx: Context, org_id: str) -> dict[str, float]:
    for name in ctx.handlers.consumers:
        while await ctx.consumers.run_once(name):
            pass
    columns = ("handled", "talk_s", "hold_s")
    async with ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(
                    *(func.coalesce(func.sum(contact_intervals.c[n]), 0.0) for n in columns)
                ).where(contact_intervals.c.org_id == org_id)
            )
        ).one()
    return dict(zip(columns, (float(v) for v in row), strict=True))


async def test_hold_then_resume_is_on_the_timeline_in_the_events_and_in_aht(
    server: Running, world: World, twilio: FakeTwilio, conference_line: dict[str, Any]
) -> None:
    rui, contact_id, conference, _ = await _connected(server, world, twilio, "CA80")
    caller = conference.participants["CA80"]

    held = await rui.post(f"/api/v1/voice/contacts/{contact_id}/hold")
    assert held.status_code == 200, held.text
    assert held.json() == {"contact_id": contact_id, "hold": True}
    assert caller.hold and caller.updates[-1]["Hold"] == "true"
    simulated = Simulated(server.ctx.settings)  # what the simulated voice page shows
    simulated.twilio = twilio
    assert simulated.describe(twilio.calls["CA80"])["on_hold"] is True
    [held_entry] = await eventually(lambda: events(server, "call_held"))
    assert held_entry.contact_id == contact_id and held_entry.data["agent_id"] == (
        world.agents["rui"].id
    )
    await asyncio.sleep(1.2)
    resumed = await rui.post(f"/api/v1/voice/contacts/{contact_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["hold"] is False
    [back] = await eventually(lambda: events(server, "call_resumed"))
    assert simulated.describe(twilio.calls["CA80"])["on_hold"] is False
    assert back.data["held_s"] >= 1.0

    # Twilio retries the participant-hold callback: counted once
    [hold_callback] = [
        c for c in conference.callbacks if c["StatusCallbackEvent"] == "participant-hold"
    ]
    assert conference.status_callback is not None
    retried = await twilio.post_signed(conference.status_callback, hold_callback)
    assert retried.status_code == 200
    assert len(await events(server, "call_held")) == 1
    # a forged one is refused
    forged = await twilio.post_signed(conference.status_callback, hold_callback, token="nope")
    assert forged.status_code == 403

    types = await _log_types(server)
    assert types.count("call.held") == 1 and types.count("call.resumed") == 1

    thread_id = held_entry.thread_id
    done = await rui.post(f"/api/v1/threads/{thread_id}/resolve", json={"reason": "x"})
    assert done.status_code == 200, done.text
    ctx = server.ctx
    counted = await _counted(ctx, world.org_id)
    assert counted["handled"] == 1
    assert counted["hold_s"] == pytest.approx(back.data["held_s"], abs=0.05)
    await aggregates.rebuild(ctx, world.org_id)
    assert await _counted(ctx, world.org_id) == pytest.approx(counted)
    await rui.aclose()


async def test_only_the_calls_agent_holds_it(
    server: Running, world: World, twilio: FakeTwilio, conference_line: dict[str, Any]
) -> None:
    rui, contact_id, conference, _ = await _connected(server, world, twilio, "CA81")
    olga = await login(server, "olga@example.com")
    refused = await olga.post(f"/api/v1/voice/contacts/{contact_id}/hold")
    assert refused.status_code == 403, refused.text
    other = await _other_org_supervisor(server)
    hidden = await other.post(f"/api/v1/voice/contacts/{contact_id}/hold")
    assert hidden.status_code == 404, hidden.text
    unknown = await rui.post("/api/v1/voice/contacts/nope/hold")
    assert unknown.status_code == 404
    assert not conference.participants["CA81"].updates  # nothing reached Twilio
    for client in (rui, olga, other):
        await client.aclose()


async def test_a_supervisor_listens_whispers_and_barges_through_the_participants_api(
    server: Running, world: World, twilio: FakeTwilio, conference_line: dict[str, Any]
) -> None:
    rui, _, conference, leg = await _connected(server, world, twilio, "CA82")
    thread_id = (await contact_of(server, "CA82")).thread_id
    route = f"/api/v1/supervision/threads/{thread_id}/call"

    olga = await login(server, "olga@example.com")  # an agent
    assert (await olga.post(f"{route}/listen")).status_code == 403
    other = await _other_org_supervisor(server)
    assert (await other.post(f"{route}/listen")).status_code == 404

    nikos = await login(server, "nikos@example.com")
    listen = await nikos.post(f"{route}/listen")
    assert listen.status_code == 200, listen.text
    sid = listen.json()["call_sid"]
    mine = conference.participants[sid]
    assert mine.created_with["To"] == "client:" + client_identity(world.agents["nikos"].id)
    assert mine.created_with["Muted"] == "true" and mine.muted
    assert mine.created_with["StartConferenceOnEnter"] == "false"
    assert mine.created_with["EndConferenceOnExit"] == "false"
    await twilio.answer_participant(sid)

    whisper = await nikos.post(f"{route}/whisper")
    assert whisper.status_code == 200 and whisper.json()["call_sid"] == sid
    assert mine.updates[-1] == {
        "Muted": "false",
        "Coaching": "true",
        "CallSidToCoach": leg.call_sid,
    }
    assert mine.coaching and mine.call_sid_to_coach == leg.call_sid and not mine.muted

    barge = await nikos.post(f"{route}/barge")
    assert barge.status_code == 200
    assert mine.updates[-1] == {"Muted": "false", "Coaching": "false"}
    assert not mine.coaching and not mine.muted

    left = await nikos.post(f"{route}/leave")
    assert left.status_code == 200 and left.json() == {"mode": "leave", "call_sid": None}
    assert mine.status == "complete"
    assert (await nikos.post(f"{route}/sing")).status_code == 404

    async with server.ctx.db.sessions() as db:
        actions = list(
            await db.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("supervision.call_%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == [
        "supervision.call_listen",
        "supervision.call_whisper",
        "supervision.call_barge",
        "supervision.call_leave",
    ]
    for client in (rui, olga, other, nikos):
        await client.aclose()


async def test_a_softphone_that_does_not_answer_puts_the_caller_back_in_the_hold_loop(
    server: Running, world: World, twilio: FakeTwilio, conference_line: dict[str, Any]
) -> None:
    await call_into_queue(server, twilio, "CA83", ("1", "1"))
    rui = await available(server, "rui@example.com")
    offer = await accept_first(rui)
    await eventually(lambda: dialled(twilio, "CA83"))
    conference = twilio.conference_named(f"contact-{offer['contact_id']}")
    assert conference is not None
    [leg] = [p for p in conference.participants.values() if p.call_sid != "CA83"]
    missed = await twilio.finish(twilio.calls[leg.call_sid], "no-answer")
    assert missed.status_code == 200, missed.text

    async def _requeued() -> Any:
        contact = await contact_of(server, "CA83")
        return contact if contact.status == "queued" else None

    contact = await eventually(_requeued)
    assert contact.excluded_agents == [world.agents["rui"].id]
    await twilio.settle()
    call = twilio.calls["CA83"]
    assert "/hold?" in call.updates[-1]["Url"]  # redirected out of the conference
    assert "<Pause" in (call.twiml or "") or "<Play" in (call.twiml or "")
    await rui.aclose()


async def test_the_demos_softphones_pick_up_the_agents_leg_of_the_conference(
    server: Running, world: World, twilio: FakeTwilio, conference_line: dict[str, Any]
) -> None:
    """The demo's simulated Twilio answers a participant dialled `To=client:...` itself (its
    agents have no real softphone), so a demo call reaches the agent in conference mode."""
    twilio.answers_clients = True
    await call_into_queue(server, twilio, "CA85", ("1", "1"))
    rui = await available(server, "rui@example.com")
    contact_id = (await accept_first(rui))["contact_id"]
    await eventually(lambda: dialled(twilio, "CA85"))
    conference = twilio.conference_named(f"contact-{contact_id}")
    assert conference is not None
    [leg] = [p for p in conference.participants.values() if p.call_sid != "CA85"]
    await twilio.settle()
    assert leg.status == "connected" and twilio.calls[leg.call_sid].status == "in-progress"
    assert conference.status == "in-progress"

    async def joined() -> Any:
        contact = await contact_of(server, "CA85")
        return contact if contact.context.get("conference_sid") == conference.sid else None

    await eventually(joined)
    held = await rui.post(f"/api/v1/voice/contacts/{contact_id}/hold")
    assert held.status_code == 200, held.text
    simulated = Simulated(server.ctx.settings)  # what the simulated voice page shows
    assert simulated.twilio.answers_clients  # the demo's simulated Twilio is this one
    simulated.twilio = twilio
    assert simulated.describe(twilio.calls["CA85"])["on_hold"] is True
    await eventually(lambda: events(server, "call_held"))
    resumed = await rui.post(f"/api/v1/voice/contacts/{contact_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["hold"] is False
    await eventually(lambda: events(server, "call_resumed"))
    assert simulated.describe(twilio.calls["CA85"])["on_hold"] is False
    await rui.aclose()
