"""Calls in a Twilio Conference (a number with `settings.conference`): the caller and the
agent meet in a conference named from the contact, so the agent can put the caller on hold
and supervisors can listen, whisper or barge in (Twilio's conference coaching).

The caller's TwiML is `<Dial><Conference>` (hold.py's connect turn); the agent's softphone is
dialled into the same conference through the Participants API, once per acceptance. The
conference's status callbacks (signed like every voice webhook) are the truth about who is in
it and who is on hold: participant-hold and participant-unhold become the timeline's
`call_held` / `call_resumed` entries and the `call.held` / `call.resumed` domain events,
once each (a retried callback finds its entry stored). Provider requests are made outside
any transaction."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.auth.roles import Principal
from threadline.channels.contract import CallFailed, InboundRequest, SignatureInvalid
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.channels.voice.calls import Call, call_event, is_stored
from threadline.channels.voice.ivr import Language
from threadline.channels.voice.twilio_voice import Params, one
from threadline.channels.webhooks import active_endpoint
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import Conflict, Invalid, NotAllowed, NotFound
from threadline.events.domain import CallHeld, CallResumed
from threadline.orgs.services import audit
from threadline.routing.models import Contact
from threadline.threads.services import append_event, lock_thread

log = structlog.get_logger(__name__)

PARTICIPANT_EVENTS = frozenset(
    {
        "conference-start",
        "conference-end",
        "participant-join",
        "participant-leave",
        "participant-hold",
        "participant-unhold",
        "participant-mute",
        "participant-unmute",
        "participant-modify",
        "participant-speech-start",
        "participant-speech-stop",
        "announcement-end",
        "announcement-fail",
    }
)


def conference_name(contact_id: str) -> str:
    """The conference of a contact's call (its friendly name)."""
    return f"contact-{contact_id}"


def _client(agent_id: str) -> str:
    return "client:" + twiml.client_identity(agent_id)


# ------------------------------------------------------------------ connecting
async def connect_conference(ctx: Context, call: Call, contact: Contact, lang: Language) -> str:
    """The caller's TwiML once an agent has the contact: join the contact's conference,
    after dialling the agent's softphone into it (once per acceptance). When the provider
    refuses the agent's leg, the caller holds on and the next hold turn tries again."""
    action, recording = call.connect_urls(contact.id, contact.agent_id or "", lang.code)
    return await join_with_agent(
        ctx,
        call,
        contact,
        lang,
        say=call.menu.text("connecting", lang.code),
        action=action,
        recording_callback=recording,
    )


async def join_with_agent(
    ctx: Context,
    call: Call,
    contact: Contact,
    lang: Language,
    *,
    say: str,
    action: str,
    recording_callback: str | None,
) -> str:
    """`call`'s TwiML into the contact's conference (saying `say` first; Twilio posts the
    Dial's outcome to `action`), the agent's softphone dialled in beside it once per
    acceptance: an inbound caller (connect_conference) or a customer called back
    (outbound.py). A refused agent leg: the call holds on in the contact's hold loop."""
    agent_id = contact.agent_id or ""
    endpoint, adapter = call.endpoint, call.adapter
    name = conference_name(contact.id)
    if await _claim_agent_leg(ctx, contact.id, agent_id):
        try:
            leg = await adapter.add_participant(
                endpoint_config(endpoint),
                name,
                to=_client(agent_id),
                status_callback=adapter.webhook_url(
                    endpoint.key, "/conference/agent", contact=contact.id, agent=agent_id
                ),
                options=[
                    ("Beep", "false"),
                    ("StartConferenceOnEnter", "true"),
                    ("EndConferenceOnExit", "true"),
                    ("ConferenceStatusCallback", _status_url(call, contact.id)),
                    ("ConferenceStatusCallbackMethod", "POST"),
                    ("ConferenceStatusCallbackEvent", twiml.CONFERENCE_EVENTS),
                ],
            )
        except CallFailed as exc:
            log.info("voice.agent_leg_failed", contact_id=contact.id, error=exc.message)
            await _release_agent_leg(ctx, contact.id)
            next_url = adapter.webhook_url(
                endpoint.key, "/hold", contact=contact.id, lang=lang.code, turn=1
            )
            return twiml.hold(
                None, lang.say, call.menu.hold.poll_s, call.menu.hold.music_url, next_url
            )
        await _remember(ctx, contact.id, agent_call_sid=leg.call_sid)
    return twiml.dial_conference(
        say,
        lang.say,
        name,
        action=action,
        status_callback=_status_url(call, contact.id),
        wait_url=call.menu.hold.music_url,
        recording_callback=recording_callback,
    )


async def agents_call(ctx: Context, call: Call, thread_id: str, agent_id: str) -> Contact | None:
    """The voice contact of `thread_id` that `agent_id` has now (a callback's contact, say),
    made the contact of `call`: its hold button and its conference callbacks follow `call`."""
    async with ctx.db.sessions() as session:
        contact_id = await session.scalar(
            select(Contact.id)
            .where(
                Contact.org_id == call.endpoint.org_id,
                Contact.thread_id == thread_id,
                Contact.channel == "voice",
                Contact.status == "assigned",
                Contact.agent_id == agent_id,
            )
            .order_by(Contact.accepted_at.desc())
            .limit(1)
        )
    if contact_id is None:
        return None
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        if contact is None or contact.status != "assigned" or contact.agent_id != agent_id:
            return None
        contact.context = {**contact.context, "call_sid": call.sid, "endpoint_id": call.endpoint.id}
        return contact


def _status_url(call: Call, contact_id: str) -> str:
    return call.adapter.webhook_url(call.endpoint.key, "/conference", contact=contact_id)


async def _claim_agent_leg(ctx: Context, contact_id: str, agent_id: str) -> bool:
    """Whether this process dials the agent: once per acceptance of the contact (a hold
    turn and the connector's redirect may both come here)."""
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        if contact is None or contact.status != "assigned" or contact.agent_id != agent_id:
            return False
        mark = f"{agent_id}:{contact.accepted_at.isoformat() if contact.accepted_at else ''}"
        if contact.context.get("agent_leg") == mark:
            return False
        contact.context = {**contact.context, "agent_leg": mark}
        return True


async def _release_agent_leg(ctx: Context, contact_id: str) -> None:
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        if contact is not None:
            contact.context = {k: v for k, v in contact.context.items() if k != "agent_leg"}


async def _remember(ctx: Context, contact_id: str, **values: Any) -> None:
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        if contact is not None:
            contact.context = {**contact.context, **values}


# ------------------------------------------------------------------ the agent's leg
async def do_agent_leg_status(ctx: Context, call: Call, *, contact_id: str, agent_id: str) -> str:
    """A status callback of the agent's leg: a softphone that did not answer puts the
    caller back in their place (routing's offer-timeout path, as with a missed <Dial>) and
    the caller's call back in the hold loop."""
    from threadline.channels.voice.hold import requeue_missed  # a cycle: hold connects here

    status = one(call.params, "CallStatus").lower()
    if status not in ("no-answer", "busy", "failed", "canceled"):
        return twiml.empty()
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
    if contact is None or contact.org_id != call.endpoint.org_id:
        raise NotFound("no such call in a queue")
    caller_sid = str(contact.context.get("call_sid") or "")
    if contact.context.get("agent_call_sid") not in (None, call.sid) or not caller_sid:
        return twiml.empty()  # an older leg of this contact
    event = await call_event(ctx, contact.org_id, caller_sid)
    if event is None:
        raise NotFound("no such call in a queue")
    moved = await requeue_missed(
        ctx, contact.org_id, event.thread_id, caller_sid, contact_id, agent_id, status, call.sid
    )
    if moved:
        lang = contact.context.get("lang")
        back = call.adapter.webhook_url(
            call.endpoint.key, "/hold", contact=contact_id, lang=lang, turn=0
        )
        try:
            await call.adapter.redirect(endpoint_config(call.endpoint), caller_sid, back)
        except CallFailed as exc:  # the caller hung up meanwhile
            log.info("voice.redirect_failed", call_sid=caller_sid, error=exc.message)
    return twiml.empty()


# ------------------------------------------------------------------ conference callbacks
async def verified_endpoint(ctx: Context, key: str, request: InboundRequest) -> Endpoint:
    """The number whose conference posted, once the signature checks out (a conference
    callback has no CallSid of its own on conference-start/end, so it is not a `Call`)."""
    endpoint = await active_endpoint(ctx, "voice", key)
    if endpoint is None:
        raise NotFound(f"no voice endpoint {key!r}")
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    try:
        adapter.verify(endpoint_config(endpoint), request)
    except SignatureInvalid as exc:
        raise NotAllowed(str(exc)) from None
    return endpoint


async def do_conference_status(
    ctx: Context, endpoint: Endpoint, params: Params, *, contact_id: str
) -> str:
    """One conference status callback: who joined (the caller, the agent's leg), and the
    caller put on hold or taken off it, on the timeline and as events, once."""
    kind = one(params, "StatusCallbackEvent")
    conference_sid = one(params, "ConferenceSid")
    call_sid = one(params, "CallSid")
    if kind not in PARTICIPANT_EVENTS or not conference_sid or len(conference_sid) > 64:
        raise Invalid("a conference callback needs a ConferenceSid and a known StatusCallbackEvent")
    if len(call_sid) > 64:
        raise Invalid("CallSid is too long")
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
    if contact is None or contact.org_id != endpoint.org_id or contact.channel != "voice":
        raise NotFound("no such call")
    caller = contact.context.get("call_sid")
    if kind == "participant-join":
        if call_sid and call_sid == caller:
            with contextlib.suppress(IntegrityError):  # a concurrent delivery stored it first
                await _caller_joined(ctx, contact, conference_sid)
        return twiml.empty()
    if kind == "participant-leave" and call_sid:
        await _forget_coach(ctx, contact.id, call_sid)
        return twiml.empty()
    if kind not in ("participant-hold", "participant-unhold") or call_sid != caller:
        return twiml.empty()
    sequence = one(params, "SequenceNumber")[:12] or one(params, "Timestamp")[:40]
    key = f"{conference_sid}:{kind}:{sequence}"
    with contextlib.suppress(IntegrityError):  # a concurrent delivery stored it first
        await _record_hold(ctx, contact.id, conference_sid, kind == "participant-hold", key)
    return twiml.empty()


async def _caller_joined(ctx: Context, found: Contact, conference_sid: str) -> None:
    """The caller is in the conference: the agent's desktop may hold them from now on."""
    key = f"{conference_sid}:join:{found.context.get('call_sid')}"
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, found.org_id, found.thread_id)
        contact = await uow.lock(Contact, found.id)
        if contact is None or await is_stored(uow, found.org_id, key):
            return
        contact.context = {**contact.context, "conference_sid": conference_sid}
        append_event(
            uow,
            thread,
            kind="call_status",
            channel="voice",
            author_type="system",
            contact_id=contact.id,
            body="the caller is in the call's conference",
            provider_msg_id=key,
            data={"call_sid": contact.context.get("call_sid"), "conference_sid": conference_sid},
        )


async def _record_hold(
    ctx: Context, contact_id: str, conference_sid: str, held: bool, key: str
) -> None:
    async with ctx.db.sessions() as session:
        found = await session.get(Contact, contact_id)
    assert found is not None
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, found.org_id, found.thread_id)
        contact = await uow.lock(Contact, contact_id)
        if contact is None or await is_stored(uow, found.org_id, key):
            return
        since = contact.context.get("held_since")
        if held == bool(since):
            return  # already in that state (a callback out of order, or a repeat)
        now = utcnow()
        call_sid = str(contact.context.get("call_sid"))
        common: dict[str, Any] = {
            "org_id": contact.org_id,
            "contact_id": contact.id,
            "thread_id": contact.thread_id,
            "customer_id": contact.customer_id,
            "queue_id": contact.queue_id,
            "channel": contact.channel,
            "agent_id": contact.agent_id,
            "call_sid": call_sid,
            "conference_sid": conference_sid,
        }
        data: dict[str, Any] = {
            "call_sid": call_sid,
            "conference_sid": conference_sid,
            "agent_id": contact.agent_id,
        }
        if held:
            contact.context = {**contact.context, "held_since": now.isoformat()}
            uow.emit(CallHeld(**common))
            body = "the caller is on hold"
        else:
            held_s = max(0.0, (now - datetime.fromisoformat(str(since))).total_seconds())
            contact.context = {k: v for k, v in contact.context.items() if k != "held_since"}
            uow.emit(CallResumed(**common, held_s=held_s))
            data["held_s"] = held_s
            body = f"the caller is back from hold ({round(held_s)} s)"
        append_event(
            uow,
            thread,
            kind="call_held" if held else "call_resumed",
            channel="voice",
            author_type="system",
            contact_id=contact.id,
            body=body,
            provider_msg_id=key,
            data=data,
        )


async def _forget_coach(ctx: Context, contact_id: str, call_sid: str) -> None:
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        coaches = dict(contact.context.get("coaches") or {}) if contact else {}
        left = [who for who, sid in coaches.items() if sid == call_sid]
        if contact is not None and left:
            contact.context = {
                **contact.context,
                "coaches": {w: s for w, s in coaches.items() if w not in left},
            }


# ------------------------------------------------------------------ the agent's hold button
async def _live_call(ctx: Context, org_id: str, contact_id: str) -> tuple[Contact, Endpoint]:
    async with ctx.db.sessions() as session:
        contact = await session.get(Contact, contact_id)
        endpoint_id = contact.context.get("endpoint_id") if contact else None
        endpoint = await session.get(Endpoint, endpoint_id) if endpoint_id else None
    if contact is None or contact.org_id != org_id or contact.channel != "voice":
        raise NotFound("no such call")
    if endpoint is None or contact.status != "assigned":
        raise Conflict("the call is not in progress")
    return contact, endpoint


async def do_hold(
    ctx: Context, principal: Principal, contact_id: str, *, hold: bool
) -> dict[str, Any]:
    """The agent of the call puts its caller on hold (with the number's hold music) or takes
    them off it, through the conference's Participants API. The timeline and the events follow
    from the conference's callback."""
    contact, endpoint = await _live_call(ctx, principal.org_id, contact_id)
    if contact.agent_id != principal.agent_id:
        raise NotAllowed("only the agent of the call can hold it")
    conference_sid = contact.context.get("conference_sid")
    if not conference_sid:
        raise Conflict("the call is not in a conference")
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    config = endpoint_config(endpoint)
    options = [("Hold", "true" if hold else "false")]
    music = adapter.menu(config).hold.music_url if hold else None
    if music:
        options += [("HoldUrl", music), ("HoldMethod", "GET")]
    participant = await _provider(
        adapter.update_participant(
            config, str(conference_sid), str(contact.context["call_sid"]), options
        )
    )
    return {"contact_id": contact.id, "hold": participant.hold}


async def _provider(request: Any) -> Any:
    try:
        return await request
    except CallFailed as exc:
        raise Conflict(f"the voice provider refused: {exc.message}") from None


# ------------------------------------------------------------------ supervisors' coaching
COACH_MODES = ("listen", "whisper", "barge", "leave")


async def _call_of_thread(ctx: Context, org_id: str, thread_id: str) -> Contact:
    async with ctx.db.sessions() as session:
        contact = await session.scalar(
            select(Contact)
            .where(
                Contact.org_id == org_id,
                Contact.thread_id == thread_id,
                Contact.channel == "voice",
                Contact.status == "assigned",
            )
            .order_by(Contact.accepted_at.desc())
            .limit(1)
        )
    if contact is None:
        raise NotFound("no live call on this thread")
    return contact


async def do_coach(ctx: Context, principal: Principal, thread_id: str, mode: str) -> dict[str, Any]:
    """A supervisor on a live call in a conference: listen (a muted participant), whisper
    (coaching the agent's leg: only the agent hears them), barge (heard by both) or leave.
    Their softphone is dialled in the first time; later modes update that participant."""
    if mode not in COACH_MODES:
        raise Invalid(f"mode: one of {list(COACH_MODES)}")
    contact = await _call_of_thread(ctx, principal.org_id, thread_id)
    _, endpoint = await _live_call(ctx, principal.org_id, contact.id)
    conference_sid = str(contact.context.get("conference_sid") or "")
    agent_leg = str(contact.context.get("agent_call_sid") or "")
    if not conference_sid or not agent_leg:
        raise Conflict("the call is not in a conference with its agent")
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    config = endpoint_config(endpoint)
    mine = (contact.context.get("coaches") or {}).get(principal.agent_id)
    if mode == "leave":
        if mine:
            await _provider(adapter.remove_participant(config, conference_sid, mine))
        await _set_coach(ctx, contact.id, principal.agent_id, None, mode)
        return {"mode": "leave", "call_sid": None}
    options = {
        "listen": [("Muted", "true"), ("Coaching", "false")],
        "whisper": [("Muted", "false"), ("Coaching", "true"), ("CallSidToCoach", agent_leg)],
        "barge": [("Muted", "false"), ("Coaching", "false")],
    }[mode]
    if mine:
        participant = await _provider(
            adapter.update_participant(config, conference_sid, mine, options)
        )
    else:
        participant = await _provider(
            adapter.add_participant(
                config,
                conference_sid,
                to=_client(principal.agent_id),
                options=[
                    ("Beep", "false"),
                    ("StartConferenceOnEnter", "false"),
                    ("EndConferenceOnExit", "false"),
                    *options,
                ],
            )
        )
    await _set_coach(ctx, contact.id, principal.agent_id, participant.call_sid, mode)
    return {"mode": mode, "call_sid": participant.call_sid}


async def _set_coach(
    ctx: Context, contact_id: str, supervisor_id: str, call_sid: str | None, mode: str
) -> None:
    """Remember the supervisor's leg, and audit what they did, in one transaction."""
    async with ctx.uow() as uow:
        contact = await uow.lock(Contact, contact_id)
        if contact is None:
            return
        audit(
            uow.session,
            contact.org_id,
            supervisor_id,
            f"supervision.call_{mode}",
            contact.thread_id,
        )
        coaches = {
            k: v for k, v in (contact.context.get("coaches") or {}).items() if k != supervisor_id
        }
        if call_sid:
            coaches[supervisor_id] = call_sid
        contact.context = {**contact.context, "coaches": coaches}
