"""The hold loop and the agent's phone. A queued caller hears their place and wait now and
then (routing's live estimate) and comes back every few seconds; once an agent has the
contact the loop dials their softphone (connect.py redirects the call there at once; the
loop is the fallback). An agent whose softphone does not answer puts the contact back in
its place in the queue, through routing's own offer-timeout path."""

from __future__ import annotations

from sqlalchemy import func, select

from threadline.channels.outbox import endpoint_config
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.calls import WAITING, Call, stored_call_event
from threadline.channels.voice.conference import connect_conference
from threadline.channels.voice.ivr import Language, Menu
from threadline.channels.voice.twilio_voice import DIAL_MISSED, DIAL_STATUSES, one
from threadline.context import CallSurvey, Context, KeypadTurn
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Invalid, NotFound, ThreadlineError
from threadline.journey.services import do_keep_place, may_keep_place
from threadline.routing.models import Contact, Offer
from threadline.routing.services import OFFER_TIMEOUT
from threadline.threads.models import Thread
from threadline.threads.services import append_event, lock_thread
from threadline.workers import timers


async def do_voice_hold(
    ctx: Context, call: Call, *, contact_id: str, lang: str | None, turn: int
) -> str:
    """One turn of the hold loop: connect the caller to the agent who accepted the offer,
    or announce the place and wait now and then and come back in a few seconds. Also the
    TwiML a call is redirected to when its offer is accepted (`turn` 1: no announcement)."""
    language = call.menu.language(lang) or call.menu.default_language
    return await hold_turn(ctx, call, contact_id, language, turn=turn)


async def hold_turn(
    ctx: Context, call: Call, contact_id: str, lang: Language, turn: int, lead: str = ""
) -> str:
    """One turn: dial the agent who has the contact, or (now and then) say the place and
    wait, pause and come back; hang up when the contact is over. `lead`: said first (why the
    caller is back on hold)."""
    menu = call.menu
    contact = await _call_contact(ctx, call, contact_id)
    if contact.status == "assigned" and contact.agent_id:
        if call.adapter.conferences(endpoint_config(call.endpoint)):
            return await connect_conference(ctx, call, contact, lang)
        return connect_twiml(call, contact, lang)
    if contact.status not in WAITING:
        return twiml.say_and_hang_up(menu.text("goodbye", lang.code), lang.say)
    hold = menu.hold
    every = max(1, hold.announce_every_s // hold.poll_s)
    announcement = lead
    if turn % every == 0:
        announcement = f"{lead} {await _place_and_wait(ctx, call, contact, lang)}".strip()
        if await _may_offer_callback(ctx, call, contact):
            action = call.adapter.webhook_url(
                call.endpoint.key,
                "/hold-callback",
                contact=contact_id,
                lang=lang.code,
                turn=turn + 1,
            )
            offer = menu.text("callback_offer", lang.code)
            prompts = [(announcement, lang.say), (offer, lang.say)]
            return twiml.gather(prompts, action, speech_language=lang.say, hints="1, one")
    next_url = call.adapter.webhook_url(
        call.endpoint.key, "/hold", contact=contact_id, lang=lang.code, turn=turn + 1
    )
    return twiml.hold(announcement or None, lang.say, hold.poll_s, hold.music_url, next_url)


async def _may_offer_callback(ctx: Context, call: Call, contact: Contact) -> bool:
    """Offer to call back, keeping the place, when the queue's policy says the wait is long
    enough and the caller's number is known."""
    if twiml.withheld(one(call.params, "From")):
        return False
    return await may_keep_place(ctx, contact.org_id, contact.id)


async def do_voice_hold_callback(
    ctx: Context, call: Call, *, contact_id: str, lang: str | None, turn: int
) -> str:
    """The caller's answer to the callback offer: 1 (or "one") keeps their place as a
    callback to this number and ends the call; anything else, or silence, holds on."""
    language = call.menu.language(lang) or call.menu.default_language
    digits = one(call.params, "Digits")
    speech = one(call.params, "SpeechResult").strip().lower().rstrip(".")
    if digits == "1" or speech in ("1", "one", "um", "uno", "один", "ένα"):
        contact = await _call_contact(ctx, call, contact_id)
        try:
            await do_keep_place(
                ctx,
                contact.org_id,
                contact.id,
                phone=one(call.params, "From"),
                language=language.code,
            )
        except ThreadlineError:
            pass  # an agent is taking the call this moment, or the offer ended: hold on
        else:
            kept = call.menu.text("callback_kept", language.code)
            return twiml.say_and_hang_up(kept, language.say)
    return await hold_turn(ctx, call, contact_id, language, turn=turn)


async def _call_contact(ctx: Context, call: Call, contact_id: str) -> Contact:
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
    if (
        contact is None
        or contact.org_id != call.endpoint.org_id
        or contact.context.get("call_sid") != call.sid
    ):
        raise NotFound("no such call in a queue")
    return contact


async def _place_and_wait(ctx: Context, call: Call, contact: Contact, lang: Language) -> str:
    """The caller's place and wait: routing's live estimate (the place among the contacts
    the same agents serve, the EWT as a range of minutes); for a contact routing is not
    holding as waiting (offered to an agent this moment), its place in the queue and no
    promise of a wait (the only estimate is routing's, the one every channel shows)."""
    menu = call.menu
    estimate = await ctx.routing.estimate(contact.org_id, contact.id)
    if estimate is not None:
        return wait_text(menu, lang.code, estimate.position, estimate.low_s, estimate.high_s)
    async with ctx.db.sessions() as session:
        position = await session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.queue_id == contact.queue_id,
                Contact.status.in_(WAITING),
                Contact.enqueued_at <= contact.enqueued_at,
            )
        )
    return menu.text("position_only", lang.code).format(position=int(position or 1))


def wait_text(menu: Menu, lang: str, position: int, low_s: float, high_s: float | None) -> str:
    """A place and a wait range in whole minutes, in the menu's words for the caller."""
    low, high = round(low_s / 60), None if high_s is None else round(high_s / 60)
    if high is None:
        key = "position_over"
    elif high <= 1:
        key = "position_soon"
    elif low <= 0:
        key = "position_under"
    else:
        key = "position_range"
    return menu.text(key, lang).format(position=position, low=max(low, 1), high=high or 0)


def connect_twiml(call: Call, contact: Contact, lang: Language) -> str:
    """Dial the agent who has the contact; Twilio posts the dial's outcome to `/dialed`."""
    agent_id = contact.agent_id or ""
    action, recording = call.connect_urls(contact.id, agent_id, lang.code)
    return twiml.dial_client(
        call.menu.text("connecting", lang.code),
        lang.say,
        twiml.client_identity(agent_id),
        action=action,
        recording_callback=recording,
    )


# ------------------------------------------------------------------ the agent's phone
async def do_voice_dialed(
    ctx: Context, call: Call, *, contact_id: str, agent_id: str, lang: str | None
) -> str:
    """The outcome of dialling the agent (`DialCallStatus`). Answered: the call is over when
    the dial is, and the agent wraps the contact up. Not answered (no-answer, busy, failed):
    the caller is not dropped; the contact goes back to its place in the queue, the agent
    is passed over and set away (routing's offer-timeout path), and the hold loop resumes."""
    status = one(call.params, "DialCallStatus").lower()
    if status not in DIAL_STATUSES:
        raise Invalid("a dial action needs a known DialCallStatus")
    language = call.menu.language(lang) or call.menu.default_language
    if status not in DIAL_MISSED:
        return await _after_the_agent(ctx, call, contact_id, agent_id, language)
    await _requeue(ctx, call, contact_id, agent_id, status)
    lead = call.menu.text("missed", language.code)
    return await hold_turn(ctx, call, contact_id, language, turn=0, lead=lead)


# ------------------------------------------------------------------ the keypad survey
SURVEY_TRIES = 2  # a question asked again after no key or a key off its scale, then goodbye


async def _after_the_agent(
    ctx: Context, call: Call, contact_id: str, agent_id: str, language: Language
) -> str:
    """The agent's leg ended. A caller still on the line may get the keypad survey (the
    surveys decide, through ctx.surveys); otherwise, or when not surveyed, the call ends."""
    hang_up = twiml.say_and_hang_up("", language.say)
    if ctx.surveys is None or one(call.params, "CallStatus").lower() != "in-progress":
        return hang_up  # the caller hung up first: Twilio ignores what we answer anyway
    try:
        contact = await _call_contact(ctx, call, contact_id)
    except NotFound:
        return hang_up  # a dial of another kind of call: nothing to ask about
    if contact.status != "assigned" or not agent_id or contact.agent_id != agent_id:
        return hang_up
    turn = await ctx.surveys.start_call(
        CallSurvey(
            org_id=contact.org_id,
            contact_id=contact.id,
            thread_id=contact.thread_id,
            customer_id=contact.customer_id,
            queue_id=contact.queue_id,
            agent_id=agent_id,
            language=language.code,
        )
    )
    return _survey_twiml(call, contact_id, language, turn, tries=1)


def _survey_twiml(
    call: Call, contact_id: str, language: Language, turn: KeypadTurn | None, tries: int
) -> str:
    """A question in a Gather of one key (its answer goes to `/survey`), or the thank-you
    and the hang-up."""
    if turn is None:
        return twiml.say_and_hang_up("", language.say)
    say = (call.menu.language(turn.language) or language).say
    if turn.kind not in ("csat", "ces"):
        return twiml.say_and_hang_up(turn.text, say)
    action = call.adapter.webhook_url(
        call.endpoint.key,
        "/survey",
        contact=contact_id,
        kind=turn.kind,
        lang=language.code,
        tries=tries,
    )
    return twiml.gather_code(turn.text, say, action, digits=1)


async def do_voice_survey(
    ctx: Context, call: Call, *, contact_id: str, kind: str, lang: str | None, tries: int
) -> str:
    """The key the caller pressed for a survey question (`Digits`; none when they pressed
    nothing): stored once, then the next question or the thank-you. The same question is
    asked again after no key or a key off its scale, at most SURVEY_TRIES times."""
    if kind not in ("csat", "ces"):
        raise Invalid("kind: csat or ces")
    language = call.menu.language(lang) or call.menu.default_language
    contact = await _call_contact(ctx, call, contact_id)
    if ctx.surveys is None:
        return twiml.say_and_hang_up("", language.say)
    digits = one(call.params, "Digits").strip()[:8]
    turn = await ctx.surveys.take_keys(contact.org_id, contact.id, kind, digits)
    if turn is None:
        raise NotFound("no survey on this call")
    if turn.kind == kind:  # not answered: ask again, or give up
        if tries >= SURVEY_TRIES:
            return twiml.say_and_hang_up(call.menu.text("goodbye", language.code), language.say)
        return _survey_twiml(call, contact_id, language, turn, tries=tries + 1)
    return _survey_twiml(call, contact_id, language, turn, tries=1)


async def _requeue(ctx: Context, call: Call, contact_id: str, agent_id: str, status: str) -> None:
    """A missed <Dial> of the agent (its DialCallSid names the leg)."""
    event = await stored_call_event(ctx, call)
    dial_sid = one(call.params, "DialCallSid")[:64]
    await requeue_missed(
        ctx, call.endpoint.org_id, event.thread_id, call.sid, contact_id, agent_id, status, dial_sid
    )


async def requeue_missed(
    ctx: Context,
    org_id: str,
    thread_id: str,
    call_sid: str,
    contact_id: str,
    agent_id: str,
    status: str,
    dial_sid: str,
) -> bool:
    """Once per missed dial (a retried callback finds the contact moved on): the ringing
    softphone was the offer, and it was missed. The contact becomes an offer to that agent
    that has just expired, and routing's own timeout handler (a timer due now) puts it back
    in the queue at its place (enqueued_at is kept), passes the agent over and sets them
    away, exactly as when an offer in the desktop times out."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, org_id, thread_id)
        contact: Contact | None = await uow.lock(Contact, contact_id)
        if contact is None or contact.context.get("call_sid") != call_sid:
            raise NotFound("no such call in a queue")
        if contact.status != "assigned" or contact.agent_id != agent_id:
            return False
        now = utcnow()
        contact.status, contact.accepted_at = "offered", None
        await _unassign(uow, thread, contact)
        offer = Offer(
            org_id=org_id,
            contact_id=contact.id,
            agent_id=agent_id,
            created_at=now,
            expires_at=now,
        )
        uow.session.add(offer)
        await uow.session.flush()
        timers.schedule(uow.session, org_id, OFFER_TIMEOUT, offer.id, now)
        append_event(
            uow,
            thread,
            kind="call_status",
            channel="voice",
            author_type="system",
            contact_id=contact.id,
            body=f"the agent's phone did not answer ({status}); the caller is back in the queue",
            provider_msg_id=f"{call_sid}:dial:{dial_sid}" if dial_sid else None,
            data={
                "call_sid": call_sid,
                "dial_status": status,
                "dial_call_sid": dial_sid or None,
                "agent_id": agent_id,
            },
        )
    return True


async def _unassign(uow: UnitOfWork, thread: Thread, contact: Contact) -> None:
    """The thread is no longer the missed agent's through this call: it goes back to the
    agent of another contact of the thread still in service (the SMS they were answering),
    or to the queue."""
    serving = await uow.session.scalar(
        select(Contact.agent_id)
        .where(
            Contact.thread_id == thread.id,
            Contact.id != contact.id,
            Contact.status == "assigned",
        )
        .order_by(Contact.accepted_at.desc())
        .limit(1)
    )
    if serving:
        thread.status, thread.assigned_agent_id = "assigned", serving
    else:
        thread.status, thread.assigned_agent_id = "queued", None
