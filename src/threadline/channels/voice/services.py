"""Voice webhooks. An incoming call lands in the caller's one thread (the same customer as
their SMS: identity kind "phone"), stored once per CallSid, and is answered with the IVR;
every IVR choice is an internal timeline entry; the choice opens a contact in its queue and
the caller waits in a hold loop that re-announces the position and connects them to the
agent who accepts the offer; status callbacks land on the timeline once per (call, status).

The IVR is stateless between webhooks: the step, language and prompt count ride on the
action URLs, which Twilio signs with the rest of the request."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.channels.voice.ivr import Choice, Language, Menu, Option
from threadline.channels.voice.twilio_voice import CALL_STATUSES, ENDED, Params, one
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.customers.services import find_by_identity, resolve_identity
from threadline.db import UnitOfWork
from threadline.errors import Invalid, NotAllowed, NotFound
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, lock_thread, open_thread

WAITING = ("queued", "offered")
OPEN = ("queued", "offered", "assigned")


@dataclass(frozen=True, slots=True)
class Call:
    """A verified voice webhook: its endpoint, the number's menu and the call's fields."""

    endpoint: Endpoint
    adapter: VoiceAdapter
    menu: Menu
    sid: str
    params: Params


async def _verified(
    ctx: Context, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> Call:
    """The endpoint a webhook is for, once its signature checks out; nothing is stored
    before this returns."""
    async with ctx.db.sessions() as session:
        endpoint = await session.scalar(
            select(Endpoint).where(
                Endpoint.channel == "voice", Endpoint.key == key, Endpoint.active.is_(True)
            )
        )
    if endpoint is None:
        raise NotFound(f"no voice endpoint {key!r}")
    if not twiml.verify(endpoint.secret or "", url, params, headers):
        raise NotAllowed("the webhook signature is missing or invalid")
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    try:
        menu = adapter.menu(endpoint_config(endpoint))
    except ValueError as exc:
        raise Invalid(f"the number's IVR is misconfigured: {exc}") from None
    sid = one(params, "CallSid")
    if not sid or len(sid) > 64:
        raise Invalid("a voice webhook needs a CallSid")
    return Call(endpoint, adapter, menu, sid, params)


async def _call_event(ctx: Context, call: Call) -> ThreadEvent:
    async with ctx.db.sessions() as session:
        event = await session.scalar(
            select(ThreadEvent).where(
                ThreadEvent.org_id == call.endpoint.org_id,
                ThreadEvent.channel == "voice",
                ThreadEvent.provider_msg_id == call.sid,
            )
        )
    if event is None:
        raise NotFound(f"no call {call.sid!r}")
    return event


# ------------------------------------------------------------------ incoming call
async def do_voice_incoming(
    ctx: Context, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> str:
    """Store the call on the caller's timeline (once per CallSid) and answer with the
    greeting and the first IVR question: the language, unless the caller's is known."""
    call = await _verified(ctx, key, url, params, headers)
    caller = one(params, "From")
    if not caller:
        raise Invalid("an incoming call needs From")
    try:
        language = await _store_call(ctx, call, caller)
    except IntegrityError:  # a concurrent delivery of the same call stored it first
        language = await _stored_language(ctx, call)
    return _first_question(call, language)


async def _store_call(ctx: Context, call: Call, caller: str) -> str | None:
    endpoint = call.endpoint
    async with ctx.uow() as uow:
        session = uow.session
        customer = await find_by_identity(
            session, endpoint.org_id, "phone", caller, for_update=uow.row_locks
        )
        if customer is None:
            customer = await resolve_identity(session, endpoint.org_id, "phone", caller)
        stored = await session.scalar(
            select(ThreadEvent.id).where(
                ThreadEvent.org_id == endpoint.org_id,
                ThreadEvent.channel == "voice",
                ThreadEvent.provider_msg_id == call.sid,
            )
        )
        if stored is None:
            thread = await open_thread(
                session,
                endpoint.org_id,
                customer.id,
                customer.language,
                for_update=ctx.db.dialect != "sqlite",
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
                    "to": one(call.params, "To") or endpoint.key,
                    "status": one(call.params, "CallStatus") or "ringing",
                    "endpoint_id": endpoint.id,
                },
            )
        return customer.language


async def _stored_language(ctx: Context, call: Call) -> str | None:
    event = await _call_event(ctx, call)
    async with ctx.db.sessions() as session:
        thread = await session.get_one(Thread, event.thread_id)
        customer = await session.get_one(Customer, thread.customer_id)
        return customer.language


def _first_question(call: Call, known_language: str | None) -> str:
    menu = call.menu
    lang = menu.language(known_language)
    if lang is None and not menu.needs_language_step(known_language):
        lang = menu.default_language
    if lang is None:
        return _language_question(call, tries=1, greet=True)
    return _menu_question(call, lang, tries=1, greet=True)


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
    call: Call, lang: Language, *, tries: int, greet: bool = False, sorry: bool = False
) -> str:
    menu = call.menu
    prompts: list[tuple[str, str]] = []
    if sorry:
        prompts.append((menu.text("invalid", lang.code), lang.say))
    if greet:
        prompts.append((menu.greeting_for(lang.code), lang.say))
    prompts.append((menu.menu_prompt(lang.code), lang.say))
    return twiml.gather(
        prompts,
        call.adapter.webhook_url(
            call.endpoint.key, "/ivr", step="menu", lang=lang.code, tries=tries
        ),
        speech_language=lang.say,
        hints=menu.hints(lang.code),
    )


# ------------------------------------------------------------------ IVR steps
async def do_voice_ivr(
    ctx: Context,
    key: str,
    url: str,
    params: Params,
    headers: Mapping[str, str],
    *,
    step: str,
    lang: str | None,
    tries: int,
) -> str:
    """One answer to an IVR question (`Digits` or `SpeechResult`, or none on a timeout):
    record it, then ask the next question, ask again, or queue the call."""
    call = await _verified(ctx, key, url, params, headers)
    if step not in ("language", "menu"):
        raise Invalid("step: language or menu")
    event = await _call_event(ctx, call)
    menu = call.menu
    digits = one(params, "Digits").strip()[:8]
    speech = one(params, "SpeechResult").strip()[:300]
    if step == "language":
        choice = menu.choose_language(digits, speech)
        chosen = menu.language(choice.result)
        if chosen is None and tries < menu.max_prompts:
            await _record(ctx, call, event, choice)
            return _language_question(call, tries=tries + 1, sorry=True)
        chosen = chosen or menu.default_language
        await _record(ctx, call, event, choice, language=chosen.code)
        return _menu_question(call, chosen, tries=1)
    language = menu.language(lang) or menu.default_language
    choice, option = menu.choose_option(language.code, digits, speech)
    if option is None and tries < menu.max_prompts:
        await _record(ctx, call, event, choice)
        return _menu_question(call, language, tries=tries + 1, sorry=True)
    contact_id = await _record(ctx, call, event, choice, option=option, queue_call=True)
    if contact_id is None:
        return twiml.say_and_hang_up(menu.text("no_queue", language.code), language.say)
    return await _hold_turn(ctx, call, contact_id, language, turn=0)


async def _record(
    ctx: Context,
    call: Call,
    call_event: ThreadEvent,
    choice: Choice,
    *,
    language: str | None = None,
    option: Option | None = None,
    queue_call: bool = False,
) -> str | None:
    """Write the caller's choice on the timeline (internal); a chosen language becomes the
    customer's when they had none; `queue_call` opens (once per call) the contact in the
    chosen queue, or the default one. Returns the contact's id."""
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
        data = {**choice.as_data(), "call_sid": call.sid}
        if option is not None:
            data["queue"] = option.queue
        append_event(
            uow,
            thread,
            kind="ivr",
            channel="voice",
            author_type="system",
            body=_describe(choice),
            data=data,
        )
        if not queue_call:
            return None
        return await _queue_call(ctx, uow, call, thread, option, [*earlier, choice.as_data()])


def _describe(choice: Choice) -> str:
    said = f"pressed {choice.value}" if choice.input == "dtmf" else f"said {choice.value!r}"
    if choice.input == "none":
        said = "no input"
    return f"IVR {choice.step}: {said} -> {choice.result or 'not understood'}"


async def _choices(uow: UnitOfWork, thread_id: str, call_sid: str) -> list[dict[str, Any]]:
    events = await uow.session.scalars(
        select(ThreadEvent)
        .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind == "ivr")
        .order_by(ThreadEvent.seq)
    )
    return [
        {k: v for k, v in e.data.items() if k in ("step", "input", "value", "result")}
        for e in events
        if e.data.get("call_sid") == call_sid
    ]


async def _queue_call(
    ctx: Context,
    uow: UnitOfWork,
    call: Call,
    thread: Thread,
    option: Option | None,
    choices: list[Any],
) -> str | None:
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
    context = {"call_sid": call.sid, "endpoint_id": call.endpoint.id, "ivr": choices}
    contact = await ctx.routing.enqueue(uow, thread, queue, "voice", reason=reason, context=context)
    return contact.id


async def _abandon_waiting(
    ctx: Context, uow: UnitOfWork, call: Call, thread_id: str, status: str
) -> None:
    """The call ended: a contact of this call still waiting for an agent is abandoned."""
    waiting = await uow.session.scalars(
        select(Contact).where(
            Contact.thread_id == thread_id,
            Contact.channel == "voice",
            Contact.status.in_(("queued", "offered")),
        )
    )
    for contact in waiting:
        if contact.context.get("call_sid") == call.sid:
            await ctx.routing.abandon(uow, contact, f"call {status}")


# ------------------------------------------------------------------ hold loop
async def do_voice_hold(
    ctx: Context,
    key: str,
    url: str,
    params: Params,
    headers: Mapping[str, str],
    *,
    contact_id: str,
    lang: str | None,
    turn: int,
) -> str:
    """One turn of the hold loop: connect the caller to the agent who accepted the offer,
    or announce the position now and then and come back in a few seconds."""
    call = await _verified(ctx, key, url, params, headers)
    language = call.menu.language(lang) or call.menu.default_language
    return await _hold_turn(ctx, call, contact_id, language, turn=turn)


async def _hold_turn(ctx: Context, call: Call, contact_id: str, lang: Language, turn: int) -> str:
    menu = call.menu
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
        if (
            contact is None
            or contact.org_id != call.endpoint.org_id
            or contact.context.get("call_sid") != call.sid
        ):
            raise NotFound("no such call in a queue")
        position = 0
        if contact.status in WAITING:
            position = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(
                        Contact.queue_id == contact.queue_id,
                        Contact.status.in_(WAITING),
                        Contact.enqueued_at <= contact.enqueued_at,
                    )
                )
                or 1
            )
    if contact.status == "assigned" and contact.agent_id:
        return twiml.dial_client(menu.text("connecting", lang.code), lang.say, contact.agent_id)
    if contact.status not in WAITING:
        return twiml.say_and_hang_up(menu.text("goodbye", lang.code), lang.say)
    hold = menu.hold
    every = max(1, hold.announce_every_s // hold.poll_s)
    announcement = None
    if turn % every == 0:
        minutes = max(1, math.ceil(position * hold.per_caller_s / 60))
        announcement = menu.text("position", lang.code).format(position=position, minutes=minutes)
    next_url = call.adapter.webhook_url(
        call.endpoint.key, "/hold", contact=contact_id, lang=lang.code, turn=turn + 1
    )
    return twiml.hold(announcement, lang.say, hold.poll_s, hold.music_url, next_url)


# ------------------------------------------------------------------ status callbacks
async def do_voice_status(
    ctx: Context, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> str:
    """A call status callback: on the timeline once per (call, status), with the duration
    and the recording link when the provider gives them."""
    call = await _verified(ctx, key, url, params, headers)
    status = one(params, "CallStatus").lower()
    if status not in CALL_STATUSES:
        raise Invalid("a status callback needs a known CallStatus")
    raw_duration = one(params, "CallDuration") or one(params, "DialCallDuration")
    try:
        duration = int(raw_duration) if raw_duration else None
    except ValueError:
        raise Invalid("CallDuration is not a number") from None
    event = await _call_event(ctx, call)
    data: dict[str, Any] = {"call_sid": call.sid, "status": status, "duration_s": duration}
    for field, name in (("recording_url", "RecordingUrl"), ("recording_sid", "RecordingSid")):
        if value := one(params, name):
            data[field] = value
    try:
        async with ctx.uow() as uow:
            stored = await uow.session.scalar(
                select(ThreadEvent.id).where(
                    ThreadEvent.org_id == call.endpoint.org_id,
                    ThreadEvent.channel == "voice",
                    ThreadEvent.provider_msg_id == f"{call.sid}:{status}",
                )
            )
            if stored is None:
                thread = await lock_thread(uow, call.endpoint.org_id, event.thread_id)
                if status in ENDED:
                    await _abandon_waiting(ctx, uow, call, thread.id, status)
                append_event(
                    uow,
                    thread,
                    kind="call_status",
                    channel="voice",
                    author_type="system",
                    body=f"call {status}" + (f" ({duration} s)" if duration is not None else ""),
                    provider_msg_id=f"{call.sid}:{status}",
                    data=data,
                )
    except IntegrityError:
        pass  # a concurrent delivery of the same callback stored it
    return twiml.empty()
