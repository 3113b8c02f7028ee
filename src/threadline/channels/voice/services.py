"""Voice webhooks: the incoming call, the IVR, status and recording callbacks.

An incoming call lands in the caller's one thread (the same customer as their SMS: identity
kind "phone"; a caller who withholds their number is a new customer of their own), stored
once per CallSid, and is answered with the IVR; every IVR choice is an internal timeline
entry; the choice opens the call's contact in its queue and the caller goes on hold
(hold.py). Status and recording callbacks land on the call's timeline once; a call that
ends while it waits abandons its contact.

The IVR is stateless between webhooks: the step, language, prompt count and where the caller
is in nested menus (`at`, ivr.py's Path) ride on the action URLs, which Twilio signs with the
rest; so a retried webhook answers the same and advances nothing twice (its choice is
written on the timeline once). A number whose IVR is a flow (flow.py) keeps
each call's flow state in the database instead, and the turn rides on the action URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.channels.outbox import endpoint_config
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import RecordingUnavailable
from threadline.channels.voice.calls import (
    OPEN,
    WAITING,
    Call,
    is_stored,
    parse_status,
    stored_call_event,
)
from threadline.channels.voice.flow import flow_input, flow_turn
from threadline.channels.voice.hold import hold_turn
from threadline.channels.voice.ivr import Choice, Language, Option, Path, path_text
from threadline.channels.voice.twilio_voice import ENDED, one
from threadline.context import Context
from threadline.customers.identities import normalise_phone
from threadline.customers.models import Customer
from threadline.customers.services import owner_of_address, resolve_identity
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Invalid
from threadline.routing import hours as business_hours
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, lock_thread, open_thread
from threadline.verification.continuation import Continuation, redeem
from threadline.verification.exceptions import ContinuationLocked
from threadline.verification.models import ContinuationCode
from threadline.web.media import media_store

log = structlog.get_logger(__name__)

SERVED = ("assigned", "waiting_customer")  # thread statuses in which an agent has it
RECORDING_STATUSES = frozenset({"in-progress", "completed", "absent", "failed"})
# what _queue_call answers for a queue outside its business hours (routing/hours.py: the
# weekly hours, closed dates and holidays) instead of a contact id: the caller is told
QUEUE_CLOSED = "queue-closed"


# ------------------------------------------------------------------ incoming call
async def do_voice_incoming(ctx: Context, call: Call) -> str:
    """Store the call on the caller's timeline (once per CallSid) and answer with the
    greeting and the first IVR question: the language, unless the caller's is known."""
    try:
        language = await _store_call(ctx, call, one(call.params, "From"))
    except IntegrityError:  # a concurrent delivery of the same call stored it first
        language = await _stored_language(ctx, call)
    if await pending_codes(ctx, call.endpoint.org_id):
        document = _code_question(call, language)
    elif _runs_flow(call, language):  # the flow greets the caller in their language
        event = await stored_call_event(ctx, call)
        document, language = await flow_turn(ctx, call, event, language, None)
    else:
        document = _first_question(call, language)
    return await _incidents_first(ctx, call, language, document)


def _runs_flow(call: Call, language: str | None) -> bool:
    """Whether the number's flow takes the call now: it has one, and the caller's language
    is known or is not asked (the menu's language question comes first otherwise)."""
    return call.flow is not None and not call.menu.needs_language_step(language)


async def _incidents_first(
    ctx: Context, call: Call, known_language: str | None, document: str
) -> str:
    """Outage mode: the incidents in force are said before anything else, in the caller's
    language when we know it (else the number's first)."""
    lang = call.menu.language(known_language) or call.menu.default_language
    for banner in reversed(await ctx.incidents.banners(call.endpoint.org_id, lang.code)):
        document = twiml.prepend_say(document, banner.message, lang.say)
    return document


def _code_question(call: Call, known_language: str | None) -> str:
    """Before the menus, while some customer holds an app code ("call now"): ask for it."""
    menu = call.menu
    lang = menu.language(known_language) or menu.default_language
    action = call.adapter.webhook_url(call.endpoint.key, "/ivr", step="code", lang=lang.code)
    prompt = f"{menu.greeting_for(lang.code)} {menu.text('code_prompt', lang.code)}".strip()
    return twiml.gather_code(prompt, lang.say, action)


def _phone(caller: str) -> str | None:
    """The caller's number in E.164, or None when they withheld it (or it is no number)."""
    if twiml.withheld(caller):
        return None
    try:
        return normalise_phone(caller)
    except Invalid:
        return None


async def _store_call(ctx: Context, call: Call, caller: str) -> str | None:
    endpoint = call.endpoint
    phone = _phone(caller)
    async with ctx.uow() as uow:
        session = uow.session
        customer: Customer | None = None
        if phone is not None:
            customer = await owner_of_address(  # a self-service customer's claim is not theirs
                session, endpoint.org_id, "phone", phone, for_update=uow.row_locks
            )
        stored = await session.scalar(
            select(ThreadEvent).where(
                ThreadEvent.org_id == endpoint.org_id,
                ThreadEvent.channel == "voice",
                ThreadEvent.provider_msg_id == call.sid,
            )
        )
        if stored is not None:  # a retried webhook: the call is on the timeline already
            known = await session.get(Customer, stored.author_id) if stored.author_id else None
            return known.language if known else None
        if customer is None:
            customer = await _new_caller(uow, endpoint.org_id, phone)
        thread = await open_thread(
            session,
            endpoint.org_id,
            customer.id,
            customer.language,
            for_update=uow.row_locks,
        )
        append_event(
            uow,
            thread,
            kind="call",
            channel="voice",
            author_type="customer",
            author_id=customer.id,
            author_name=customer.name,
            provider_msg_id=call.sid,
            data={
                "direction": "inbound",
                "from": caller,
                "anonymous": phone is None,
                "to": one(call.params, "To") or endpoint.key,
                "status": one(call.params, "CallStatus") or "ringing",
                "endpoint_id": endpoint.id,
            },
        )
        return customer.language


async def _new_caller(uow: UnitOfWork, org_id: str, phone: str | None) -> Customer:
    """A caller seen for the first time; one who withheld their number is a new customer of
    their own with no identity, so two anonymous callers are never taken for one."""
    if phone is not None:
        return await resolve_identity(uow.session, org_id, "phone", phone)
    customer = Customer(org_id=org_id, attributes={"anonymous_caller": True})
    uow.session.add(customer)
    await uow.session.flush()
    return customer


async def _stored_language(ctx: Context, call: Call) -> str | None:
    event = await stored_call_event(ctx, call)
    async with ctx.db.sessions() as session:
        thread = await session.get_one(Thread, event.thread_id)
        customer = await session.get_one(Customer, thread.customer_id)
        return customer.language


def _first_question(call: Call, known_language: str | None, *, greet: bool = True) -> str:
    menu = call.menu
    lang = menu.language(known_language)
    if lang is None and not menu.needs_language_step(known_language):
        lang = menu.default_language
    if lang is None:
        return _language_question(call, tries=1, greet=greet)
    return _menu_question(call, lang, tries=1, greet=greet)


def _language_question(call: Call, *, tries: int, greet: bool = False, sorry: bool = False) -> str:
    menu = call.menu
    default = menu.default_language
    prompts: list[tuple[str, str]] = []
    if sorry:
        prompts.append((menu.text("invalid", default.code), default.say))
    if greet:
        prompts.append((menu.greeting_for(default.code), default.say))
    prompts.extend((lang.label, lang.say) for lang in menu.languages)
    return twiml.gather(
        prompts,
        call.adapter.webhook_url(call.endpoint.key, "/ivr", step="language", tries=tries),
        speech_language=default.say,
        hints=", ".join(k for lang in menu.languages for k in lang.keywords),
    )


def _menu_question(
    call: Call,
    lang: Language,
    *,
    tries: int,
    greet: bool = False,
    sorry: bool = False,
    at: Path = (),
) -> str:
    """The menu at `at` (the main one by default) as a Gather; a submenu's path rides on
    the action URL."""
    menu = call.menu
    prompts: list[tuple[str, str]] = []
    if sorry:
        prompts.append((menu.text("invalid", lang.code), lang.say))
    if greet:
        prompts.append((menu.greeting_for(lang.code), lang.say))
    prompts.append((menu.menu_prompt(lang.code, at), lang.say))
    where = {"at": path_text(at)} if at else {}
    return twiml.gather(
        prompts,
        call.adapter.webhook_url(
            call.endpoint.key, "/ivr", step="menu", lang=lang.code, tries=tries, **where
        ),
        speech_language=lang.say,
        hints=menu.hints(lang.code, at),
    )


# ------------------------------------------------------------------ the app's code
async def _code_step(ctx: Context, call: Call, event: ThreadEvent, lang: str | None) -> str:
    """The caller's app code (or none): a good one continues the app session, skipping
    the menus: the call queues where the app would have routed it, with what the customer
    entered there, the assurance they reached and their place in line. Otherwise the
    usual questions follow."""
    menu = call.menu
    language = menu.language(lang) or menu.default_language
    digits = one(call.params, "Digits").strip()
    lead = ""
    if digits:
        try:
            continued = await redeem(
                ctx, call.endpoint.org_id, digits, caller=one(call.params, "From")
            )
        except ContinuationLocked:
            continued = None
        if continued is not None:
            chosen = menu.language(continued.language) or language
            contact_id = await _queue_continued(ctx, call, event, continued, chosen)
            if contact_id is not None:
                return await hold_turn(
                    ctx, call, contact_id, chosen, turn=0, lead=menu.text("code_ok", chosen.code)
                )
        lead = menu.text("code_invalid", language.code)
    known = language.code if lang else None
    if _runs_flow(call, known):
        question, spoken = await flow_turn(ctx, call, event, known, None)
        language = menu.language(spoken) or language
    else:
        question = _first_question(call, known, greet=False)
    if not lead:
        return question
    return twiml.prepend_say(question, lead, language.say)


async def _queue_continued(
    ctx: Context, call: Call, call_event: ThreadEvent, continued: Continuation, lang: Language
) -> str | None:
    """Queue the call as the continuation of the app session, in the app customer's
    thread (the agent sees the app's request there)."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, continued.org_id, continued.thread_id)
        queue = None
        if continued.queue_id:
            queue = await uow.session.get(Queue, continued.queue_id)
        if queue is None and call.menu.default_queue:
            queue = await uow.session.scalar(
                select(Queue).where(
                    Queue.org_id == thread.org_id, Queue.name == call.menu.default_queue
                )
            )
        if queue is None and call.endpoint.queue_id:
            queue = await uow.session.get(Queue, call.endpoint.queue_id)
        if queue is None:
            return None
        context = {
            **continued.contact_context(),
            "call_sid": call.sid,
            "endpoint_id": call.endpoint.id,
            "lang": lang.code,
            "call_thread_id": call_event.thread_id,
        }
        contact = await ctx.routing.enqueue(
            uow,
            thread,
            queue,
            "voice",
            reason=continued.reason,
            context=context,
            min_tier=continued.min_tier,
        )
        if continued.waited_since is not None:
            contact.enqueued_at = continued.waited_since  # the place the app held
        return contact.id


async def pending_codes(ctx: Context, org_id: str) -> bool:
    """Whether some customer of the organisation holds an app code that is still good."""
    async with ctx.db.sessions() as session:
        found = await session.scalar(
            select(ContinuationCode.id)
            .where(
                ContinuationCode.org_id == org_id,
                ContinuationCode.used_at.is_(None),
                ContinuationCode.expires_at > utcnow(),
            )
            .limit(1)
        )
    return found is not None


# ------------------------------------------------------------------ IVR steps
async def do_voice_ivr(
    ctx: Context,
    call: Call,
    *,
    step: str,
    lang: str | None,
    tries: int,
    turn: int = 0,
    at: Path = (),
) -> str:
    """One answer to an IVR question (`Digits` or `SpeechResult`, or none on a timeout):
    record it, then ask the next question, ask again, open a submenu, go back, or queue the
    call. `at` is the menu answered (ivr.py's Path). On a number whose IVR is a flow, `flow`
    is the answer to the flow's turn `turn` (flow.py)."""
    if step not in ("code", "language", "menu", "flow"):
        raise Invalid("step: code, language, menu or flow")
    if (step == "flow") != (call.flow is not None) and step in ("menu", "flow"):
        raise Invalid(f"step: the number's IVR has no {step} step")
    event = await stored_call_event(ctx, call)
    menu = call.menu
    if step == "code":
        return await _code_step(ctx, call, event, lang)
    if step == "flow":
        document, _ = await flow_turn(ctx, call, event, None, flow_input(call.params, turn))
        return document
    digits = one(call.params, "Digits").strip()[:8]
    speech = one(call.params, "SpeechResult").strip()[:300]
    if step == "language":
        choice = menu.choose_language(digits, speech)
        chosen = menu.language(choice.result)
        if chosen is None and tries < menu.max_prompts:
            await _record(ctx, call, event, choice)
            return _language_question(call, tries=tries + 1, sorry=True)
        chosen = chosen or menu.default_language
        await _record(ctx, call, event, choice, language=chosen.code)
        if call.flow is not None:
            document, _ = await flow_turn(ctx, call, event, chosen.code, None)
            return document
        return _menu_question(call, chosen, tries=1)
    language = menu.language(lang) or menu.default_language
    if menu.options_at(at) is None:
        at = ()  # the menu changed since the question was asked: start over
    where = {"at": path_text(at), "tries": tries}
    if menu.goes_back(digits):
        await _record(ctx, call, event, Choice("menu", "dtmf", digits, "back"), where=where)
        return _menu_question(call, language, tries=1, at=at[:-1])
    choice, option = menu.choose_option(language.code, digits, speech, at)
    if option is not None and option.submenu is not None:
        await _record(ctx, call, event, choice, where=where)
        opened = (*at, (menu.options_at(at) or ()).index(option))
        return _menu_question(call, language, tries=1, at=opened)
    if option is None and tries < menu.max_prompts:
        await _record(ctx, call, event, choice, where=where)
        return _menu_question(call, language, tries=tries + 1, sorry=True, at=at)
    contact_id = await _record(
        ctx, call, event, choice, option=option, queue_in=language, where=where
    )
    if contact_id == QUEUE_CLOSED:
        return twiml.say_and_hang_up(menu.text("closed", language.code), language.say)
    if contact_id is None:
        return twiml.say_and_hang_up(menu.text("no_queue", language.code), language.say)
    return await hold_turn(ctx, call, contact_id, language, turn=0)


async def _record(
    ctx: Context,
    call: Call,
    call_event: ThreadEvent,
    choice: Choice,
    *,
    language: str | None = None,
    option: Option | None = None,
    queue_in: Language | None = None,
    where: dict[str, Any] | None = None,
) -> str | None:
    """Write the caller's choice on the timeline (internal), once: a retried webhook (the
    same menu `where`, try and input) writes nothing more; a chosen language becomes the
    customer's when they had none; `queue_in` (the caller's language) opens, once per call,
    the contact in the chosen queue or the default one. Returns the contact's id
    (QUEUE_CLOSED when that queue is closed now)."""
    endpoint = call.endpoint
    async with ctx.uow() as uow:
        # the caller, then their thread: the order inbound messages lock them in
        customer: Customer | None = await uow.lock(Customer, call_event.author_id)
        thread = await lock_thread(uow, endpoint.org_id, call_event.thread_id)
        if language:
            if customer is not None and not customer.language:
                customer.language = language
            if not thread.language:
                thread.language = language
        earlier = await _choices(uow, thread.id, call.sid)
        data = {**choice.as_data(), "call_sid": call.sid, **(where or {})}
        if option is not None:
            data["queue"] = option.queue
        if where is None or data not in earlier:
            append_event(
                uow,
                thread,
                kind="ivr",
                channel="voice",
                author_type="system",
                body=_describe(choice),
                data=data,
            )
            earlier.append(data)
        if queue_in is None:
            return None
        choices = [{k: v for k, v in c.items() if k in CHOICE_KEYS} for c in earlier]
        return await _queue_call(ctx, uow, call, thread, customer, option, queue_in, choices)


def _describe(choice: Choice) -> str:
    said = f"pressed {choice.value}" if choice.input == "dtmf" else f"said {choice.value!r}"
    if choice.input == "none":
        said = "no input"
    return f"IVR {choice.step}: {said} -> {choice.result or 'not understood'}"


CHOICE_KEYS = ("step", "input", "value", "result")  # what a contact's context keeps of each


async def _choices(uow: UnitOfWork, thread_id: str, call_sid: str) -> list[dict[str, Any]]:
    """The call's IVR entries on its thread, as written."""
    events = await uow.session.scalars(
        select(ThreadEvent)
        .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind == "ivr")
        .order_by(ThreadEvent.seq)
    )
    return [dict(e.data) for e in events if e.data.get("call_sid") == call_sid]


async def _queue_call(
    ctx: Context,
    uow: UnitOfWork,
    call: Call,
    thread: Thread,
    customer: Customer | None,
    option: Option | None,
    language: Language,
    choices: list[Any],
) -> str | None:
    """The call's own voice contact (once per call). When an agent is serving the thread
    already (the customer's SMS, say), the call prefers that agent: they become the
    customer's last agent, whom routing tries first while eligible; the thread stays theirs
    while the call waits (RoutingService.enqueue leaves a served thread's assignment)."""
    session = uow.session
    open_contacts = await session.scalars(
        select(Contact).where(
            Contact.thread_id == thread.id, Contact.channel == "voice", Contact.status.in_(OPEN)
        )
    )
    for contact in open_contacts:
        if contact.context.get("call_sid") == call.sid:
            return contact.id  # a repeated webhook: the call is queued already
    menu = call.menu
    name = option.queue if option else menu.default_queue
    reason = option.reason if option else menu.default_reason
    queue = None
    if name:
        queue = await session.scalar(
            select(Queue).where(Queue.org_id == thread.org_id, Queue.name == name)
        )
    if queue is None and call.endpoint.queue_id:
        queue = await session.get(Queue, call.endpoint.queue_id)
    if queue is None:
        return None
    if not business_hours.is_open(queue.business_hours, utcnow()):
        return QUEUE_CLOSED  # outside its hours, or a holiday: nobody to wait for
    if customer is not None and thread.status in SERVED and thread.assigned_agent_id:
        # the customer row is locked (by _record): routing reads it after commit
        customer.last_agent_id, customer.last_served_at = thread.assigned_agent_id, utcnow()
    context = {
        "call_sid": call.sid,
        "endpoint_id": call.endpoint.id,
        "lang": language.code,
        "ivr": choices,
    }
    contact = await ctx.routing.enqueue(uow, thread, queue, "voice", reason=reason, context=context)
    return contact.id


async def _abandon_waiting(ctx: Context, uow: UnitOfWork, call: Call, status: str) -> None:
    """The call ended: a contact of this call still waiting for an agent is abandoned."""
    # usually in the caller's thread; a call continuing an app session waits in that one.
    # The call's id is matched in SQL: every waiting voice contact (booked callbacks wait
    # as voice contacts, thousands of them) would otherwise be loaded at each call's end.
    waiting = await uow.session.scalars(
        select(Contact).where(
            Contact.org_id == call.endpoint.org_id,
            Contact.channel == "voice",
            Contact.status.in_(WAITING),
            Contact.context["call_sid"].as_string() == call.sid,
        )
    )
    for contact in waiting:
        if contact.context.get("call_sid") == call.sid:
            await ctx.routing.abandon(uow, contact, f"call {status}")


# ------------------------------------------------------------------ status callbacks
async def do_voice_status(ctx: Context, call: Call) -> str:
    """A call status callback: on the timeline once per (call, status), with the duration;
    a call that ends while it waits for an agent abandons its contact."""
    status, duration = parse_status(call.params)
    event = await stored_call_event(ctx, call)
    data: dict[str, Any] = {"call_sid": call.sid, "status": status, "duration_s": duration}
    for field, name in (("recording_url", "RecordingUrl"), ("recording_sid", "RecordingSid")):
        if value := one(call.params, name):
            data[field] = value
    key = f"{call.sid}:{status}"
    try:
        async with ctx.uow() as uow:
            # the thread's lock first: a concurrent twin waits, then finds the entry stored
            thread = await lock_thread(uow, call.endpoint.org_id, event.thread_id)
            if await is_stored(uow, call.endpoint.org_id, key):
                return twiml.empty()
            if status in ENDED:
                await _abandon_waiting(ctx, uow, call, status)
            append_event(
                uow,
                thread,
                kind="call_status",
                channel="voice",
                author_type="system",
                body=f"call {status}" + (f" ({duration} s)" if duration is not None else ""),
                provider_msg_id=key,
                data=data,
            )
    except IntegrityError:
        pass  # a concurrent delivery of the same callback stored it
    if status in ENDED and call.flow is not None and ctx.voice_flows is not None:
        await ctx.voice_flows.hung_up(call.endpoint.org_id, event.thread_id, event.seq)
    return twiml.empty()


async def do_voice_recording(ctx: Context, call: Call) -> str:
    """A recording status callback: a finished (or failed) recording goes on the call's
    timeline once, with the link to it."""
    status = one(call.params, "RecordingStatus").lower()
    recording_sid = one(call.params, "RecordingSid")
    recording_url = one(call.params, "RecordingUrl")
    raw_duration = one(call.params, "RecordingDuration")
    if status not in RECORDING_STATUSES or not recording_sid or len(recording_sid) > 64:
        raise Invalid("a recording callback needs RecordingSid and a known RecordingStatus")
    if status == "completed" and not _http_url(recording_url):
        raise Invalid("a completed recording needs its RecordingUrl")
    if raw_duration and (not raw_duration.isdigit() or len(raw_duration) > 7):
        raise Invalid("RecordingDuration is not a number")
    if status not in ("completed", "failed"):
        return twiml.empty()  # nothing to link to (yet)
    event = await stored_call_event(ctx, call)
    duration = int(raw_duration) if raw_duration else None
    key = f"{call.sid}:recording:{recording_sid}"
    if await _recorded_already(ctx, call.endpoint.org_id, key):
        return twiml.empty()  # a retried callback: nothing to fetch again
    kept = None
    if status == "completed":
        kept = await _keep_recording(ctx, call, recording_sid, recording_url)
    try:
        async with ctx.uow() as uow:
            thread = await lock_thread(uow, call.endpoint.org_id, event.thread_id)
            if await is_stored(uow, call.endpoint.org_id, key):
                return twiml.empty()
            append_event(
                uow,
                thread,
                kind="call_recording",
                channel="voice",
                author_type="system",
                body=f"call recording {status}"
                + (f" ({duration} s)" if duration is not None else ""),
                provider_msg_id=key,
                data={
                    "call_sid": call.sid,
                    "recording_sid": recording_sid,
                    "recording_url": recording_url if status == "completed" else None,
                    "status": status,
                    "duration_s": duration,
                    **({"recording": kept} if kept else {}),
                },
            )
    except IntegrityError:
        pass  # a concurrent delivery of the same callback stored it
    return twiml.empty()


async def _recorded_already(ctx: Context, org_id: str, key: str) -> bool:
    """Whether this recording callback is on the timeline (read without taking the write
    lock; the check inside the transaction still decides)."""
    async with ctx.db.sessions() as session:
        found = await session.scalar(
            select(ThreadEvent.id).where(
                ThreadEvent.org_id == org_id,
                ThreadEvent.channel == "voice",
                ThreadEvent.provider_msg_id == key,
            )
        )
    return found is not None


async def _keep_recording(
    ctx: Context, call: Call, recording_sid: str, recording_url: str
) -> dict[str, Any] | None:
    """Fetch the recording once and keep it with the thread's files (by digest), before the
    entry naming it is committed: agents play it from our server (no provider credentials
    in a browser), and it outlives the provider's retention. When the provider does not
    hand it over now, the entry keeps the provider's link only."""
    try:
        audio = await call.adapter.fetch_recording(endpoint_config(call.endpoint), recording_url)
    except RecordingUnavailable as exc:
        log.warning("voice.recording_not_kept", call_sid=call.sid, reason=str(exc))
        return None
    sha256 = await media_store(ctx.settings).put(audio)
    filename = f"{recording_sid}.mp3"
    return {
        "sha256": sha256,
        "content_type": "audio/mpeg",
        "filename": filename,
        "size": len(audio),
    }


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(value) <= 1000
