"""Callbacks through storage and the API: the live wait and the offer, keep my place,
booked windows with forecast room, reschedule and cancel by the customer's link, and the
durable timers that open a booked callback when its window comes; SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, update

from tests.conftest import (
    ALL_DAY_PLAN,
    CALLBACK_POLICY,
    Running,
    World,
    add_endpoint,
    count,
    eventually,
    login,
)
from tests.fakes.twilio import FakeCall, FakeTwilio, running_fake_twilio
from tests.integration.test_app_api import LOST_CARD, ago, make_app, open_app, signed
from tests.integration.test_routing_flow import visitor_writes
from tests.integration.test_sms import CUSTOMER as SMS_CUSTOMER
from tests.integration.test_sms import inbound, sms_endpoint
from tests.integration.test_sms import webhook_url as sms_url
from tests.integration.test_voice import (
    CALLER,
    NUMBER,
    call_into_queue,
    contact_of,
    gather_action,
    next_turn,
    said,
    twiml,
    voice_endpoint,
)
from tests.integration.test_voice import url as voice_url
from threadline.callbacks.models import Callback
from threadline.callbacks.services import CALLBACK_DUE
from threadline.callbacks.tokens import manage_token
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.workers import timers
from threadline.workers.models import Timer

ALL_DAY = ALL_DAY_PLAN
POLICY = CALLBACK_POLICY


@pytest.fixture
async def agent(server: Running, world: World) -> AsyncIterator[httpx.AsyncClient]:
    client = await login(server, "rui@example.com")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def anonymous(server: Running) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as client:
        yield client


async def _set_policy(server: Running, queue_id: str, policy: dict[str, object]) -> None:
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Queue).where(Queue.id == queue_id).values(callback_policy=policy)
        )


async def _contact_of(server: Running, thread_id: str) -> Contact:
    async def probe() -> Contact | None:
        async with server.ctx.db.sessions() as session:
            return await session.scalar(select(Contact).where(Contact.thread_id == thread_id))

    return await eventually(probe)


async def _waiting(server: Running, world: World, visitor: str) -> Contact:
    thread_id = await visitor_writes(server.ctx, world, visitor, "my card did not arrive")
    contact = await _contact_of(server, thread_id)

    async def placed() -> bool:
        return await server.ctx.routing.estimate(world.org_id, contact.id) is not None

    await eventually(placed)
    return contact


async def test_a_waiting_contact_sees_its_place_and_keeps_it_as_a_callback(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    await _set_policy(server, world.queues["general"].id, POLICY)
    first = await _waiting(server, world, "v-first")
    second = await _waiting(server, world, "v-second")

    wait = (await agent.get(f"/api/v1/contacts/{second.id}/wait")).json()
    assert wait["position"] == 2 and wait["status"] == "queued"
    assert wait["callback_offer"] == {
        "keep_place": True,
        "booking": True,
        "queue_id": world.queues["general"].id,
    }
    assert wait["high_s"] is None  # nobody is available: "more than"

    made = await agent.post(
        f"/api/v1/contacts/{first.id}/callback", json={"phone": "+351 912 345 678"}
    )
    assert made.status_code == 201, made.text
    callback = made.json()
    assert callback["status"] == "waiting" and callback["kind"] == "keep_place"
    assert callback["phone"] == "+351912345678"
    # asked twice (a double tap): one callback
    again = await agent.post(f"/api/v1/contacts/{first.id}/callback", json={})
    assert again.json()["id"] == callback["id"]

    async with server.ctx.db.sessions() as session:
        held = await session.get(Contact, first.id)
        customer = await session.get(Customer, first.customer_id)
    assert held is not None and held.channel == "voice" and held.status == "queued"
    assert held.enqueued_at == first.enqueued_at  # the place in line is kept
    assert customer is not None and customer.phone == "+351912345678"

    # it keeps its place ahead of the second one, now as a voice contact
    async def moved() -> bool:
        estimate = await server.ctx.routing.estimate(world.org_id, first.id)
        return (
            estimate is not None
            and server.ctx.routing.router(world.org_id).waiting_contact(first.id).channel == "voice"
        )

    await eventually(moved)
    events = await count(
        server,
        ThreadEvent,
        ThreadEvent.thread_id == first.thread_id,
        ThreadEvent.kind == "callback",
    )
    assert events == 1
    # the customer's link shows it, masked
    token = manage_token(server.ctx, callback["id"])
    view = (await anonymous.get(f"/api/v1/public/callbacks/{token}")).json()
    assert view["status"] == "waiting" and view["phone"].endswith("78")
    assert "912345" not in view["phone"]
    # and cancels it: the held place is given up
    cancelled = await anonymous.post(f"/api/v1/public/callbacks/{token}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    async with server.ctx.db.sessions() as session:
        gone = await session.get(Contact, first.id)
    assert gone is not None and gone.status == "abandoned"
    assert await server.ctx.routing.estimate(world.org_id, first.id) is None


async def test_keep_my_place_needs_a_queue_that_offers_it_and_a_number(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    contact = await _waiting(server, world, "v-nope")
    refused = await agent.post(
        f"/api/v1/contacts/{contact.id}/callback", json={"phone": "+351912345670"}
    )
    assert refused.status_code == 409 and "does not offer callbacks" in refused.text
    await _set_policy(server, world.queues["general"].id, POLICY)
    no_number = await agent.post(f"/api/v1/contacts/{contact.id}/callback", json={})
    assert no_number.status_code == 422 and "phone number" in no_number.text
    bad = await agent.post(f"/api/v1/contacts/{contact.id}/callback", json={"phone": "call me"})
    assert bad.status_code == 422
    assert await count(server, Callback) == 0


async def _windows(client: httpx.AsyncClient, queue_id: str) -> list[dict[str, object]]:
    response = await client.get(f"/api/v1/queues/{queue_id}/callback-windows")
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_booked_windows_are_offered_only_where_the_plan_has_room(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    queue_id = world.queues["general"].id
    assert await _windows(agent, queue_id) == []  # no policy: no windows
    # one agent planned, five-minute calls: a 30-minute window holds only a few callbacks
    tight = {**POLICY, "plan": {d: [["00:00", "24:00", 1]] for d in ALL_DAY}}
    await _set_policy(server, queue_id, tight)
    found = await _windows(agent, queue_id)
    assert found and all(w["room"] >= 1 for w in found)
    first = found[0]
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name="Dmitri", language="ru", phone="+35191000000")
        uow.session.add(customer)
    room = int(first["room"])  # type: ignore[call-overload]
    made = []
    for _ in range(room):
        response = await agent.post(
            "/api/v1/callbacks",
            json={
                "customer_id": customer.id,
                "queue_id": queue_id,
                "window_start": first["start"],
                "phone": "+351 910 000 000",
                "reason": "lost_card",
                "context": {"answers": {"card": "debit"}},
            },
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    full = await agent.post(
        "/api/v1/callbacks",
        json={"customer_id": customer.id, "queue_id": queue_id, "window_start": first["start"]},
    )
    assert full.status_code == 409 and "not available" in full.text
    assert first["start"] not in [w["start"] for w in await _windows(agent, queue_id)]
    assert await count(server, Timer, Timer.kind == CALLBACK_DUE) == room

    # the customer moves one to another window by their link, then cancels another
    token = manage_token(server.ctx, made[0]["id"])
    other = (await anonymous.get(f"/api/v1/public/callbacks/{token}/windows")).json()[0]
    moved = await anonymous.post(
        f"/api/v1/public/callbacks/{token}/reschedule", json={"window_start": other["start"]}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["window_start"].startswith(other["start"][:16])
    assert (
        await count(server, Timer, Timer.kind == CALLBACK_DUE, Timer.cancelled.is_(False)) == room
    )
    forged = await anonymous.post("/api/v1/public/callbacks/not-a-token/cancel")
    assert forged.status_code == 404


async def test_a_booked_window_opens_a_contact_ahead_of_the_line_once(
    server: Running, world: World, agent: httpx.AsyncClient, anonymous: httpx.AsyncClient
) -> None:
    queue_id = world.queues["general"].id
    await _set_policy(server, queue_id, POLICY)
    waiting = await _waiting(server, world, "v-ordinary")
    found = await _windows(agent, queue_id)
    async with server.ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name="Dmitri", phone="+35191000001")
        uow.session.add(customer)
    booked = await agent.post(
        "/api/v1/callbacks",
        json={
            "customer_id": customer.id,
            "queue_id": queue_id,
            "window_start": found[0]["start"],
            "reason": "lost_card",
            "context": {"answers": {"card": "debit"}},
            "min_tier": 2,
        },
    )
    assert booked.status_code == 201, booked.text
    callback_id = booked.json()["id"]
    # the window comes (brought forward, as a clock would)
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Timer)
            .where(Timer.ref_id == callback_id)
            .values(due_at=utcnow() - timedelta(seconds=1))
        )
    server.ctx.timers.wake()

    async def opened() -> Callback | None:
        async with server.ctx.db.sessions() as session:
            row = await session.get(Callback, callback_id)
        return row if row is not None and row.status == "waiting" else None

    callback = await eventually(opened)
    async with server.ctx.db.sessions() as session:
        contact = await session.get(Contact, callback.contact_id)
    assert contact is not None and contact.channel == "voice" and contact.status == "queued"
    assert contact.reason == "lost_card" and contact.context["answers"] == {"card": "debit"}
    assert contact.context["callback_id"] == callback_id
    assert contact.min_tier == 2  # booked from the app for tier 2: the tier travels too

    async def ahead() -> bool:
        estimate = await server.ctx.routing.estimate(world.org_id, contact.id)
        return estimate is not None

    await eventually(ahead)
    # booked callbacks go before ordinary contacts of the same skills (a different
    # channel here, so each is first of its own line); its priority is the promise
    assert contact.priority > waiting.priority
    assert (
        await count(server, Contact, Contact.context["callback_id"].as_string() == callback_id) == 1
    )


# ---------------------------------------------------------------- the calls
@pytest.fixture
async def phone_line(server: Running, world: World) -> AsyncIterator[FakeTwilio]:
    """The organisation's voice number on the fake Twilio (its Calls API)."""
    async with running_fake_twilio() as fake:
        await add_endpoint(server, **voice_endpoint(world, fake))
        yield fake


async def _offer_to_rui(server: Running, world: World, agent: httpx.AsyncClient) -> str:
    presence = await agent.put("/api/v1/agents/me/presence", json={"presence": "available"})
    assert presence.status_code == 200, presence.text

    async def offer() -> str | None:
        offers = (await agent.get("/api/v1/offers")).json()
        return offers[0]["id"] if offers else None

    return await eventually(offer)


async def _callback(server: Running, callback_id: str) -> Callback:
    async with server.ctx.db.sessions() as session:
        row = await session.get(Callback, callback_id)
    assert row is not None
    return row


async def _placed_call(twilio: FakeTwilio, known: set[str]) -> FakeCall:
    async def new_call() -> FakeCall | None:
        fresh = [c for sid, c in twilio.calls.items() if sid not in known]
        return fresh[0] if fresh else None

    call = await eventually(new_call)
    known.add(call.sid)
    return call


async def _kept_and_dialled(
    server: Running,
    world: World,
    agent: httpx.AsyncClient,
    phone_line: FakeTwilio,
    visitor: str,
    phone: str,
) -> tuple[Contact, str, FakeCall]:
    """A waiting chat keeps its place as a callback to `phone`; at its turn Rui accepts
    and the call goes out: the contact, the callback's id and the ringing call."""
    await _set_policy(server, world.queues["general"].id, POLICY)
    contact = await _waiting(server, world, visitor)
    made = await agent.post(f"/api/v1/contacts/{contact.id}/callback", json={"phone": phone})
    callback_id = made.json()["id"]
    offer_id = await _offer_to_rui(server, world, agent)
    accepted = await agent.post(f"/api/v1/offers/{offer_id}/accept")
    assert accepted.status_code == 200, accepted.text
    return contact, callback_id, await _placed_call(phone_line, set())


async def test_at_its_turn_the_agent_is_reserved_and_the_customer_called_back(
    server: Running,
    world: World,
    agent: httpx.AsyncClient,
    phone_line: FakeTwilio,
) -> None:
    # the agent sees the thread first; then the phone rings, from our number
    contact, callback_id, call = await _kept_and_dialled(
        server, world, agent, phone_line, "v-dmitri", "+351 912 000 111"
    )
    assert call.to == "+351912000111"
    assert (await _callback(server, callback_id)).status == "dialing"
    answered = await phone_line.answer(call)
    assert "<Dial" in answered.text and world.agents["rui"].id in answered.text
    assert (await _callback(server, callback_id)).status == "connected"
    await phone_line.finish(call, "completed", duration_s=95)
    await phone_line.finish(call, "completed", duration_s=95)  # the provider retries
    done = await _callback(server, callback_id)
    assert done.status == "completed" and done.attempts == 1 and done.ended_at is not None
    actions = [e.data["action"] for e in await _events(server, contact.thread_id, "callback")]
    assert actions == ["requested", "dialing", "answered", "completed"]


async def test_when_the_agent_misses_the_answered_callback_it_is_not_the_customers_attempt(
    server: Running,
    world: World,
    agent: httpx.AsyncClient,
    phone_line: FakeTwilio,
) -> None:
    contact, callback_id, call = await _kept_and_dialled(
        server, world, agent, phone_line, "v-missed-agent", "+351 912 000 333"
    )
    answered = twiml(await phone_line.answer(call))
    dial = answered.find("Dial")
    assert dial is not None
    told = twiml(await phone_line.dial_outcome(call, dial.get("action") or "", "no-answer"))
    assert "call you again" in " ".join(said(told))
    await phone_line.finish(call, "completed", duration_s=20)
    state = await _callback(server, callback_id)
    assert state.status == "retry_wait" and state.attempts == 0
    assert state.outcome == "agent-missed"
    actions = [e.data["action"] for e in await _events(server, contact.thread_id, "callback")]
    assert actions == ["requested", "dialing", "answered", "agent_missed"]


async def test_no_answer_is_retried_at_the_head_of_the_line_then_given_up(
    server: Running,
    world: World,
    agent: httpx.AsyncClient,
    phone_line: FakeTwilio,
) -> None:
    policy = {**POLICY, "max_attempts": 2, "retry_after_s": 60}
    await _set_policy(server, world.queues["general"].id, policy)
    contact = await _waiting(server, world, "v-nobody-home")
    made = await agent.post(
        f"/api/v1/contacts/{contact.id}/callback", json={"phone": "+351 912 000 222"}
    )
    callback_id = made.json()["id"]
    known: set[str] = set()
    for attempt in (1, 2):
        offer_id = await _offer_to_rui(server, world, agent)
        assert (await agent.post(f"/api/v1/offers/{offer_id}/accept")).status_code == 200
        call = await _placed_call(phone_line, known)
        await phone_line.finish(call, "no-answer")
        await phone_line.finish(call, "no-answer")  # a retried callback changes nothing
        state = await _callback(server, callback_id)
        assert state.attempts == attempt
        if attempt == 1:
            assert state.status == "retry_wait"
            # the retry's time comes (brought forward, as a clock would)
            async with server.ctx.uow() as uow:
                await uow.session.execute(
                    update(Timer)
                    .where(Timer.ref_id == callback_id, Timer.fired_at.is_(None))
                    .values(due_at=utcnow() - timedelta(seconds=1))
                )
            server.ctx.timers.wake()
    failed = await _callback(server, callback_id)
    assert failed.status == "failed" and failed.outcome == "no-answer"
    actions = [e.data["action"] for e in await _events(server, contact.thread_id, "callback")]
    assert actions == [
        "requested",
        "dialing",
        "not_answered",
        "retry",
        "dialing",
        "failed",
    ]
    # the retry kept the original place in line
    async with server.ctx.db.sessions() as session:
        contacts = list(
            await session.scalars(
                select(Contact)
                .where(Contact.thread_id == contact.thread_id)
                .order_by(Contact.accepted_at)
            )
        )
    assert len(contacts) == 2
    assert all(c.enqueued_at == contact.enqueued_at for c in contacts)
    assert all(c.status == "resolved" for c in contacts)  # the agent was freed each time


async def _events(server: Running, thread_id: str, kind: str) -> list[ThreadEvent]:
    async with server.ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(ThreadEvent)
                .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind == kind)
                .order_by(ThreadEvent.seq)
            )
        )


async def test_a_caller_on_hold_presses_1_and_keeps_their_place_as_a_callback(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    for queue in world.queues.values():
        await _set_policy(server, queue.id, POLICY)
    root = await call_into_queue(server, phone_line, "CA-hold", ("1", "2"))
    while root.find("Gather") is None:  # hold turns until the place is announced
        root = await next_turn(phone_line, root, "CA-hold")
    spoken = " ".join(said(root))
    assert "number 1 in the queue" in spoken and "press 1" in spoken
    waiting = await contact_of(server, "CA-hold")
    kept = twiml(
        await phone_line.call_webhook(gather_action(root), "CA-hold", CALLER, NUMBER, Digits="1")
    )
    assert "call you back at this number" in " ".join(said(kept))
    assert kept.find("Hangup") is not None
    # the caller hangs up: the place is kept, not abandoned
    await phone_line.call_webhook(
        voice_url(server, "/status"), "CA-hold", CALLER, NUMBER, "completed"
    )
    async with server.ctx.db.sessions() as session:
        contact = await session.get(Contact, waiting.id)
        callback = await session.scalar(select(Callback))
    assert contact is not None and contact.status == "queued"
    assert contact.context["from_call_sid"] == "CA-hold" and "call_sid" not in contact.context
    assert callback is not None and callback.phone == CALLER and callback.status == "waiting"
    assert callback.contact_id == waiting.id and callback.place_at == waiting.enqueued_at


async def test_a_texter_accepts_a_callback_by_replying_1_and_cancels_it_by_text(
    server: Running, world: World, phone_line: FakeTwilio
) -> None:
    await _set_policy(server, world.queues["general"].id, POLICY)
    await add_endpoint(server, **sms_endpoint(phone_line, world.queues["general"].id))

    async def texted(words: str) -> list[str] | None:
        return [m.body for m in phone_line.messages if words in m.body] or None

    posted = await phone_line.post_signed(sms_url(server), inbound("SM-1", "my card is lost"))
    assert posted.status_code == 200, posted.text
    [offer] = await eventually(lambda: texted("Reply 1"))
    assert "more than" in offer  # nobody is available: the wait has no upper bound
    await phone_line.post_signed(sms_url(server), inbound("SM-2", "1"))

    async def callback_in(status: str) -> Callback | None:
        async with server.ctx.db.sessions() as session:
            row = await session.scalar(select(Callback))
        return row if row is not None and row.status == status else None

    callback = await eventually(lambda: callback_in("waiting"))
    assert callback.phone == SMS_CUSTOMER
    await eventually(lambda: texted("when it's your turn"))  # the confirmation, with a link
    await phone_line.post_signed(sms_url(server), inbound("SM-3", "Cancel."))
    await eventually(lambda: callback_in("cancelled"))
    await eventually(lambda: texted("Your callback is cancelled"))
    assert len(await texted("Reply 1") or []) == 1  # offered once


# ---------------------------------------------------------------- app -> call (journey 3)
async def test_a_caller_with_an_app_code_skips_the_menus_and_keeps_the_app_context(
    server: Running, world: World, phone_line: FakeTwilio, anonymous: httpx.AsyncClient
) -> None:
    app = await make_app(server, world)  # the phone line above is the app's number too
    passkey = {"level": "verified", "method": "passkey", "at": ago(minutes=2)}
    elena = await open_app(anonymous, app.key, identity=signed("elena@example.com", passkey))
    contact_id = (await elena.post("/contacts", LOST_CARD)).json()["contact_id"]
    code = (await elena.post("/call-now", {"contact_id": contact_id})).json()["code"]
    async with server.ctx.db.sessions() as session:
        app_contact = await session.get(Contact, contact_id)
    assert app_contact is not None

    async def ring(sid: str) -> ET.Element:
        return twiml(
            await phone_line.call_webhook(voice_url(server), sid, CALLER, NUMBER, "ringing")
        )

    async def enter(root: ET.Element, sid: str, digits: str) -> ET.Element:
        gather = root.find("Gather")
        assert gather is not None and gather.get("numDigits") == "6"  # the code, first
        action = gather.get("action") or ""
        return twiml(await phone_line.call_webhook(action, sid, CALLER, NUMBER, Digits=digits))

    # a wrong code: said so, then the usual questions
    wrong = await enter(await ring("CA-x"), "CA-x", "000000")
    assert "not valid" in " ".join(said(wrong)) and gather_action(wrong)

    # Elena calls from another phone and enters her code: no menus, the app's context
    on_hold = await enter(await ring("CA-elena"), "CA-elena", code)
    assert "what you told us in the app" in " ".join(said(on_hold))
    async with server.ctx.db.sessions() as session:
        calls = list(await session.scalars(select(Contact).where(Contact.channel == "voice")))
    [call] = [c for c in calls if c.context.get("call_sid") == "CA-elena"]
    assert call.thread_id == app_contact.thread_id  # Elena's one thread, not the caller's
    assert call.reason == "lost_card" and call.min_tier == 2
    assert call.context["answers"] == {"card": "debit", "when": "yesterday"}
    assert call.context["assurance"]["method"] == "passkey"
    assert call.enqueued_at == app_contact.enqueued_at  # the app's place in line
    # the code is used: the next caller is not asked for one
    plain = (await ring("CA-2")).find("Gather")
    assert plain is not None and plain.get("numDigits") == "1"
    # hanging up while waiting abandons the continued call, in Elena's thread
    status_url = voice_url(server, "/status")
    await phone_line.call_webhook(status_url, "CA-elena", CALLER, NUMBER, "completed")
    async with server.ctx.db.sessions() as session:
        gone = await session.get(Contact, call.id)
    assert gone is not None and gone.status == "abandoned"


async def book_due(ctx: Context, world: World, languages: list[str | None]) -> list[str]:
    """Booked callbacks in the general queue whose window has started, as `do_book` leaves
    them (a customer and a thread each, in `languages`); their ids."""
    due = utcnow() - timedelta(seconds=1)
    ids: list[str] = []
    async with ctx.uow() as uow:
        for i, language in enumerate(languages):
            customer = Customer(org_id=world.org_id, name=f"C{i}", phone=f"+3519100010{i:02d}")
            uow.session.add(customer)
            await uow.session.flush()
            thread = Thread(
                org_id=world.org_id, customer_id=customer.id, status="resolved", language=language
            )
            uow.session.add(thread)
            await uow.session.flush()
            callback = Callback(
                org_id=world.org_id,
                thread_id=thread.id,
                customer_id=customer.id,
                queue_id=world.queues["general"].id,
                kind="booked",
                status="scheduled",
                phone=customer.phone,
                window_start=due,
                window_end=due + timedelta(minutes=30),
                max_attempts=3,
            )
            uow.session.add(callback)
            await uow.session.flush()
            timers.schedule(uow.session, world.org_id, CALLBACK_DUE, callback.id, due)
            ids.append(callback.id)
    return ids


async def test_booked_callbacks_due_together_open_once_each_in_a_batch(
    server: Running, world: World
) -> None:
    """A timer batch of booked callbacks: each opens one contact with its two timeline
    entries; on PostgreSQL the entries' ids are taken from the sequence up front, so the
    flush writes them with executemany, not an INSERT ... RETURNING of every row."""
    queue = world.queues["general"]
    await _set_policy(server, queue.id, POLICY)
    callback_ids = await book_due(server.ctx, world, [None] * 12)
    written: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO thread_events" in statement:
            written.append(statement)

    engine = server.ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        server.ctx.timers.wake()

        async def opened() -> bool:
            async with server.ctx.db.sessions() as session:
                statuses = await session.scalars(
                    select(Callback.status).where(Callback.id.in_(callback_ids))
                )
                return all(status == "waiting" for status in statuses)

        await eventually(opened)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    async with server.ctx.db.sessions() as session:
        callbacks = list(
            await session.scalars(select(Callback).where(Callback.id.in_(callback_ids)))
        )
        for callback in callbacks:
            contacts = list(
                await session.scalars(
                    select(Contact).where(Contact.thread_id == callback.thread_id)
                )
            )
            assert [c.id for c in contacts] == [callback.contact_id]
            entries = list(
                await session.scalars(
                    select(ThreadEvent)
                    .where(ThreadEvent.thread_id == callback.thread_id)
                    .order_by(ThreadEvent.seq)
                )
            )
            assert [(e.seq, e.kind) for e in entries] == [(1, "queued"), (2, "callback")]
            assert entries[1].data["action"] == "due" and entries[0].id < entries[1].id
    assert written  # the entries went through the engine
    if server.ctx.db.dialect == "postgresql":
        assert not [s for s in written if "RETURNING" in s], written[0][:200]
