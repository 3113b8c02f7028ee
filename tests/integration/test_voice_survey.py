"""The keypad survey after a call, through the signed voice webhooks and the fake Twilio:
the agent's leg ends with the caller still on the line, the caller hears CSAT then CES in
their language and presses keys; the answers are stored once (a retried webhook is one
answer), land on the thread's timeline, as `survey.answered` and in the summary. A caller
who opted out, a caller who already hung up, and an organisation with surveys off get a
plain hang-up; on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import httpx
from sqlalchemy import select, update

from tests.conftest import Running, World, eventually, login
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_surveys import logged
from tests.integration.test_voice import (  # the fixtures and helpers of the voice tests
    CALLER,
    NUMBER,
    call_into_queue,
    contact_of,
    dialled,
    query,
    said,
    twilio,
    twiml,
    url,
    voice,
)
from tests.integration.test_voice_connect import accept_first, available
from threadline.customers.models import Customer
from threadline.surveys.models import Survey
from threadline.web.i18n import page_catalogue

__all__ = ["twilio", "voice"]  # fixtures, imported for pytest


async def surveys_on(server: Running, **body: Any) -> None:
    admin = await login(server, "admin@example.com")
    put = await admin.put("/api/v1/surveys/settings", json={"enabled": True, **body})
    assert put.status_code == 200, put.text
    await admin.aclose()


async def served_and_ended(
    server: Running,
    twilio: FakeTwilio,
    sid: str,
    digits: tuple[str, ...] = ("1", "1"),
    *,
    caller_on_line: bool = True,
    opted_out: bool = False,
) -> tuple[httpx.AsyncClient, dict[str, Any], ET.Element]:
    """A call answered by Rui; his leg ends (DialCallStatus completed). The TwiML back."""
    await call_into_queue(server, twilio, sid, digits)
    rui = await available(server, "rui@example.com")
    offer = await accept_first(rui)
    connect = await eventually(lambda: dialled(twilio, sid))
    action = connect.find("Dial").get("action") or ""  # type: ignore[union-attr]
    if not caller_on_line:
        twilio.calls[sid].status = "completed"
    if opted_out:  # the caller said no to surveys (their customer is the call's)
        async with server.ctx.db.sessions() as db:
            await db.execute(update(Customer).values(attributes={"opt_out": "surveys"}))
            await db.commit()
    ended = await twilio.dial_outcome(twilio.calls[sid], action, "completed", 95, sid + "-leg")
    return rui, offer, twiml(ended)


def keypad(root: ET.Element) -> str:
    """The survey question's Gather: one key, then its action."""
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    assert gather.get("input") == "dtmf" and gather.get("numDigits") == "1"
    return gather.get("action") or ""


async def press(server: Running, twilio: FakeTwilio, action: str, sid: str, key: str) -> ET.Element:
    extra = {"Digits": key} if key else {}
    return twiml(await twilio.call_webhook(action, sid, CALLER, NUMBER, **extra))


async def surveys(server: Running) -> list[Survey]:
    async with server.ctx.db.sessions() as db:
        return list(await db.scalars(select(Survey).order_by(Survey.created_at)))


async def test_after_the_agent_the_caller_answers_by_keypad_once(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await surveys_on(server)
    words = page_catalogue("surveys", "pt")
    rui, offer, asked = await served_and_ended(server, twilio, "CA90", ("2", "1"))  # Portuguese
    assert asked.find("Hangup") is None
    action = keypad(asked)
    assert query(action) == {
        "contact": offer["contact_id"],
        "kind": "csat",
        "lang": "pt",
        "tries": "1",
    }
    assert action.startswith(url(server, "/survey?"))
    assert said(asked) == [f"{words['csat_question']} {words['keys_csat']}"]
    assert asked.find("Gather/Say").get("language") == "pt-PT"  # type: ignore[union-attr]
    [survey] = await surveys(server)
    assert survey.status == "sent" and survey.channel == "voice" and survey.language == "pt"
    assert survey.agent_id == world.agents["rui"].id

    # a retried dial action asks the same question, and makes no second survey
    connect_action = await dialled_action(twilio, "CA90")
    again = await twilio.dial_outcome(twilio.calls["CA90"], connect_action, "completed", 95)
    assert keypad(twiml(again)) == action
    assert len(await surveys(server)) == 1

    ces = await press(server, twilio, action, "CA90", "4")
    ces_action = keypad(ces)
    assert query(ces_action)["kind"] == "ces"
    assert said(ces) == [f"{words['ces_question']} {words['keys_ces']}"]
    # Twilio retries the key for CSAT: stored once, the caller is asked CES again
    retried = await press(server, twilio, action, "CA90", "4")
    assert keypad(retried) == ces_action
    done = await press(server, twilio, ces_action, "CA90", "6")
    assert done.find("Hangup") is not None and done.find("Gather") is None
    assert said(done) == [words["thanks"]]
    retried = await press(server, twilio, ces_action, "CA90", "6")  # a retry of the last key
    assert retried.find("Hangup") is not None

    [survey] = await surveys(server)
    assert (survey.csat, survey.ces, survey.status) == (4, 6, "answered")
    answered = await logged(server, "survey.answered")
    assert sorted((a["kind"], a["score"]) for a in answered) == [("ces", 6), ("csat", 4)]
    assert {a["channel"] for a in answered} == {"voice"}
    assert len(await logged(server, "survey.sent")) == 1
    timeline = await rui.get(f"/api/v1/threads/{offer['thread_id']}/events")
    entries = [e for e in timeline.json() if e["kind"] == "survey"]
    assert [(e["data"].get("csat"), e["data"].get("ces")) for e in entries] == [
        (4, None),
        (None, 6),
    ]
    assert {e["data"]["source"] for e in entries} == {"keypad"}

    # Rui wraps the call up: the survey the caller answered is the contact's only one
    resolved = await rui.post(
        f"/api/v1/threads/{offer['thread_id']}/resolve", json={"reason": "card_blocked"}
    )
    assert resolved.status_code == 200, resolved.text

    async def _reason() -> Survey | None:
        [row] = await surveys(server)
        return row if row.reason == "card_blocked" else None

    survey = await eventually(_reason)
    assert survey.status == "answered" and survey.csat == 4

    nikos = await login(server, "nikos@example.com")
    summary = (await nikos.get("/api/v1/surveys/summary")).json()
    assert summary["sent"] == 1 and summary["answered"] == 1
    assert summary["csat"] == {"responses": 1, "mean": 4.0, "satisfied_share": 1.0}
    assert summary["ces"] == {"responses": 1, "mean": 6.0, "easy_share": 1.0}
    assert [c["channel"] for c in summary["by_channel"]] == ["voice"]
    for client in (rui, nikos):
        await client.aclose()


async def dialled_action(twilio: FakeTwilio, sid: str) -> str:
    connect = await dialled(twilio, sid)
    if connect is None:  # the last document is the survey: find the dial among the fetched
        for _, document in reversed(twilio.calls[sid].documents):
            if "<Dial" in document:
                connect = ET.fromstring(document)  # noqa: S314  # our own server's TwiML
                break
    assert connect is not None
    return connect.find("Dial").get("action") or ""  # type: ignore[union-attr]


async def test_a_key_off_the_scale_is_asked_again_then_the_call_ends(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await surveys_on(server, questions=["csat"])
    rui, _, asked = await served_and_ended(server, twilio, "CA91")
    action = keypad(asked)
    again = await press(server, twilio, action, "CA91", "9")
    assert query(keypad(again))["tries"] == "2"
    assert said(again)[0].startswith("How satisfied")
    gone = await press(server, twilio, keypad(again), "CA91", "")  # nothing pressed
    assert gone.find("Hangup") is not None and gone.find("Gather") is None
    [survey] = await surveys(server)
    assert survey.csat is None and survey.status == "sent"
    # a forged key stores nothing; a key for another call's contact is refused
    forged = await twilio.post_signed(
        action, {"CallSid": "CA91", "From": CALLER, "To": NUMBER, "Digits": "5"}, token="nope"
    )
    assert forged.status_code in (401, 403)
    other = await twilio.call_webhook(action, "CA-other", CALLER, NUMBER, Digits="5")
    assert other.status_code == 404
    bad = await twilio.call_webhook(
        action.replace("kind=csat", "kind=nps"), "CA91", CALLER, NUMBER, Digits="5"
    )
    assert bad.status_code == 422
    assert (await surveys(server))[0].csat is None
    await rui.aclose()


async def test_no_keypad_survey_for_an_opted_out_caller(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await surveys_on(server)
    rui, _, ended = await served_and_ended(server, twilio, "CA92", opted_out=True)
    assert ended.find("Hangup") is not None and ended.find("Gather") is None
    [survey] = await surveys(server)
    assert survey.status == "skipped" and survey.skip_reason == "the customer opted out"
    assert await logged(server, "survey.sent") == []
    await rui.aclose()


async def test_surveys_off_hang_up_straight_away(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    rui, offer, ended = await served_and_ended(server, twilio, "CA93")  # surveys are off
    assert ended.find("Hangup") is not None and ended.find("Gather") is None
    assert said(ended) == []
    assert await surveys(server) == []
    resolved = await rui.post(
        f"/api/v1/threads/{offer['thread_id']}/resolve", json={"reason": "other"}
    )
    assert resolved.status_code == 200, resolved.text
    assert await surveys(server) == []
    await rui.aclose()


async def test_surveys_off_on_voice_hang_up_straight_away(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await surveys_on(server, channels=["sms"])
    rui, _, ended = await served_and_ended(server, twilio, "CA94")
    assert ended.find("Hangup") is not None and ended.find("Gather") is None
    [skipped] = await surveys(server)
    assert skipped.status == "skipped" and skipped.skip_reason == "surveys are off on voice"
    await rui.aclose()


async def test_no_keypad_survey_when_the_caller_hung_up_first(
    server: Running, world: World, twilio: FakeTwilio, voice: dict[str, Any]
) -> None:
    await surveys_on(server)
    rui, offer, ended = await served_and_ended(server, twilio, "CA95", caller_on_line=False)
    assert ended.find("Hangup") is not None and ended.find("Gather") is None
    assert (await contact_of(server, "CA95")).status == "assigned"
    resolved = await rui.post(
        f"/api/v1/threads/{offer['thread_id']}/resolve", json={"reason": "other"}
    )
    assert resolved.status_code == 200, resolved.text

    async def _skipped() -> Survey | None:
        rows = [s for s in await surveys(server) if s.contact_id == offer["contact_id"]]
        return rows[0] if rows else None

    gone = await eventually(_skipped)
    assert gone.status == "skipped" and "no longer on the line" in (gone.skip_reason or "")
    assert await logged(server, "survey.sent") == []
    await rui.aclose()
