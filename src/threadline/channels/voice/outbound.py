"""Outbound calls through the provider's Calls API, for whoever needs to call a customer (the
callbacks of the virtual queue first):

    call = await place_call(ctx, org_id, to="+351912345678", thread_id=thread.id,
                            agent_id=reserved.id, purpose="callback", ref_id=callback.id,
                            language="pt")
    register_outcome_handler(ctx, "callback", on_callback_call)  # once, at start-up

`place_call` picks the organisation's voice number, asks the provider to call (no database
transaction is open meanwhile) and records the call on the thread's timeline once, the
CallSid as its provider id. When the customer answers, our `/outbound/answer` TwiML says the
announcement in their language and dials the reserved agent's softphone; on a number with
`settings.conference` the customer joins the conference of the agent's voice contact on the
thread and the softphone is dialled into it (conference.py, as for inbound calls), so the
agent can hold the call and supervisors can coach. The call's status
callbacks land on the timeline once per (call, status); each outcome (answered, completed,
no-answer, busy, failed, canceled) is handed to the handlers registered for the call's
purpose, inside the transaction that stores it, so a callback the provider retries reaches
them once.

What a call is for (thread, purpose, ref, agent, language, announcement) rides on the
webhook URLs we give the provider, which it signs with the rest of each request: a callback
that arrives before the call is recorded (the provider may be that quick) still knows it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from threadline.channels.contract import CallFailed, CallOutcomeUnknown
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.channels.voice.calls import Call, is_stored, parse_status
from threadline.channels.voice.conference import agents_call, join_with_agent
from threadline.channels.voice.ivr import Language
from threadline.channels.voice.messages import SAY
from threadline.channels.voice.twilio_voice import DIAL_MISSED, DIAL_STATUSES, one
from threadline.context import Context
from threadline.customers.identities import normalise_phone
from threadline.db import UnitOfWork
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import CallOutcome
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, lock_thread

__all__ = [
    "CallFailed",
    "CallOutcomeUnknown",
    "OutboundCall",
    "place_call",
    "register_outcome_handler",
]

# Twilio's CallStatus -> the outcome handed to handlers (progress statuses are not outcomes)
OUTCOMES = {
    "in-progress": "answered",
    "completed": "completed",
    "no-answer": "no-answer",
    "busy": "busy",
    "failed": "failed",
    "canceled": "canceled",
}
MAX_ANNOUNCE = 500
DEFAULT_RING_S = 30


@dataclass(frozen=True, slots=True)
class OutboundCall:
    call_sid: str
    org_id: str
    thread_id: str
    endpoint_id: str
    to: str
    from_: str
    status: str  # the provider's first word on it: queued, usually
    purpose: str
    ref_id: str
    agent_id: str | None


def register_outcome_handler(
    ctx: Context, purpose: str, handler: Callable[[UnitOfWork, CallOutcome], Awaitable[None]]
) -> None:
    """Hand the outcomes (`CallOutcome` events) of the calls placed for `purpose` to
    `handler`, inside the transaction that stores the status callback, once per (call,
    outcome). A handler that raises rolls that transaction back: the provider's retry
    brings the outcome again."""

    async def on_outcome(uow: UnitOfWork, event: CallOutcome) -> None:
        if event.purpose == purpose:
            await handler(uow, event)

    ctx.handlers.in_transaction(CallOutcome, on_outcome)


@dataclass(frozen=True, slots=True)
class CallPurpose:
    """What an outbound call is for, as carried on its webhook URLs."""

    thread_id: str
    purpose: str
    ref_id: str
    agent_id: str | None = None
    language: str | None = None
    announce: str | None = None

    def __post_init__(self) -> None:
        if not self.thread_id or len(self.thread_id) > 36:
            raise Invalid("thread: the call's thread")
        if not self.purpose or len(self.purpose) > 40:
            raise Invalid("purpose: what the call is for, at most 40 characters")
        if not self.ref_id or len(self.ref_id) > 64:
            raise Invalid("ref: the id of what the call is for, at most 64 characters")
        if self.agent_id is not None and len(self.agent_id) > 36:
            raise Invalid("agent: an agent's id")
        if self.language is not None and not 2 <= len(self.language) <= 8:
            raise Invalid("lang: a language code such as 'pt'")
        if self.announce is not None and len(self.announce) > MAX_ANNOUNCE:
            raise Invalid(f"announce: at most {MAX_ANNOUNCE} characters")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> CallPurpose:
        return cls(
            thread_id=query.get("thread", ""),
            purpose=query.get("purpose", ""),
            ref_id=query.get("ref", ""),
            agent_id=query.get("agent") or None,
            language=query.get("lang") or None,
            announce=query.get("announce") or None,
        )

    def query(self, *, announce: bool = False) -> dict[str, str | None]:
        return {
            "thread": self.thread_id,
            "purpose": self.purpose,
            "ref": self.ref_id,
            "agent": self.agent_id,
            "lang": self.language,
            "announce": self.announce if announce else None,
        }


# ------------------------------------------------------------------ placing a call
async def place_call(
    ctx: Context,
    org_id: str,
    *,
    to: str,
    thread_id: str,
    agent_id: str | None,
    purpose: str,
    ref_id: str,
    language: str | None = None,
    endpoint_id: str | None = None,
    announce: str | None = None,
    machine_detection: bool = False,
    timeout_s: int | None = None,
) -> OutboundCall:
    """Call a customer from the organisation's voice number (or `endpoint_id`) and, when they
    answer, say `announce` (default: the number's "outbound" text in `language`) and dial
    `agent_id`'s softphone. `timeout_s`: how long it rings (default 30 s);
    `machine_detection`: tell answering machines apart (the outcome's `answered_by`).

    Raises Invalid (a bad number), NotFound (thread or endpoint), Conflict (no voice
    number), CallFailed (the provider refused; `retryable` says whether a later attempt may
    work) or CallOutcomeUnknown (the call may have been placed: do not call again blindly).
    """
    number = normalise_phone(to)
    what = CallPurpose(thread_id, purpose, ref_id, agent_id, language, announce)
    endpoint = await _endpoint(ctx, org_id, endpoint_id)
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
    if thread is None or thread.org_id != org_id:
        raise NotFound("no such thread")
    adapter = _adapter(ctx)
    resource = await adapter.place(
        endpoint_config(endpoint),
        to=number,
        answer_url=adapter.webhook_url(
            endpoint.key, "/outbound/answer", **what.query(announce=True)
        ),
        status_callback=adapter.webhook_url(endpoint.key, "/outbound/status", **what.query()),
        machine_detection=machine_detection,
        timeout_s=timeout_s or DEFAULT_RING_S,
    )
    try:
        async with ctx.uow() as uow:
            locked = await lock_thread(uow, org_id, thread_id)
            await _record_call(uow, locked, endpoint, what, resource.sid, number, resource.status)
    except IntegrityError:
        pass  # a status callback that came first recorded it
    return OutboundCall(
        call_sid=resource.sid,
        org_id=org_id,
        thread_id=thread_id,
        endpoint_id=endpoint.id,
        to=number,
        from_=endpoint.key,
        status=resource.status,
        purpose=purpose,
        ref_id=ref_id,
        agent_id=agent_id,
    )


class VoiceCalls:
    """The voice channel's outbound calls as other domains reach them: the registry's
    `calls` (channels/contract.OutboundCalls)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def place_call(
        self,
        org_id: str,
        *,
        to: str,
        thread_id: str,
        agent_id: str | None,
        purpose: str,
        ref_id: str,
        language: str | None = None,
        announce: str | None = None,
        timeout_s: int | None = None,
    ) -> OutboundCall:
        return await place_call(
            self._ctx,
            org_id,
            to=to,
            thread_id=thread_id,
            agent_id=agent_id,
            purpose=purpose,
            ref_id=ref_id,
            language=language,
            announce=announce,
            timeout_s=timeout_s,
        )


def _adapter(ctx: Context) -> VoiceAdapter:
    return cast(VoiceAdapter, channels_of(ctx).get("voice"))


async def _endpoint(ctx: Context, org_id: str, endpoint_id: str | None) -> Endpoint:
    query = select(Endpoint).where(
        Endpoint.org_id == org_id, Endpoint.channel == "voice", Endpoint.active.is_(True)
    )
    if endpoint_id:
        query = query.where(Endpoint.id == endpoint_id)
    async with ctx.db.sessions() as session:
        endpoint = await session.scalar(query.order_by(Endpoint.created_at).limit(1))
    if endpoint is None and endpoint_id:
        raise NotFound("no such voice endpoint")
    if endpoint is None:
        raise Conflict("the organisation has no voice number to call from")
    return endpoint


async def _record_call(
    uow: UnitOfWork,
    thread: Thread,
    endpoint: Endpoint,
    what: CallPurpose,
    call_sid: str,
    to: str,
    status: str,
) -> None:
    """The call's timeline entry, once (call in the thread's row lock)."""
    stored = await uow.session.scalar(
        select(ThreadEvent.id).where(
            ThreadEvent.org_id == thread.org_id,
            ThreadEvent.channel == "voice",
            ThreadEvent.provider_msg_id == call_sid,
        )
    )
    if stored is not None:
        return
    append_event(
        uow,
        thread,
        kind="call",
        channel="voice",
        author_type="system",
        provider_msg_id=call_sid,
        data={
            "direction": "outbound",
            "from": endpoint.key,
            "to": to,
            "status": status,
            "endpoint_id": endpoint.id,
            "purpose": what.purpose,
            "ref_id": what.ref_id,
            "agent_id": what.agent_id,
        },
    )


# ------------------------------------------------------------------ the provider's webhooks
def _say_language(call: Call, code: str | None) -> tuple[str, str]:
    """(language code, the language of <Say>) for a call: as the number's menu says its
    languages, else the usual locale of the language ("ru" -> "ru-RU")."""
    menu = call.menu
    known = menu.language(code)
    if known is not None:
        return known.code, known.say
    if code:
        return code, code if "-" in code else SAY.get(code, code)
    return menu.default_language.code, menu.default_language.say


async def do_outbound_answer(ctx: Context, call: Call, what: CallPurpose) -> str:
    """The customer picked up: the announcement, then the reserved agent's softphone. An
    answering machine (with machine detection) is hung up on: the outcome says so."""
    answered_by = one(call.params, "AnsweredBy")
    code, say = _say_language(call, what.language)
    if answered_by.startswith("machine") or answered_by == "fax":
        return twiml.say_and_hang_up("", say)
    text = what.announce or call.menu.text("outbound", code)
    if not what.agent_id:
        return twiml.say_and_hang_up(text, say)
    adapter, endpoint = call.adapter, call.endpoint
    recording = None
    if adapter.records(endpoint_config(endpoint)):
        recording = adapter.webhook_url(endpoint.key, "/recording")
    action = adapter.webhook_url(endpoint.key, "/outbound/dialed", **what.query())
    if adapter.conferences(endpoint_config(endpoint)):
        contact = await agents_call(ctx, call, what.thread_id, what.agent_id)
        if contact is not None:  # in the contact's conference, so the agent can hold it
            lang = Language("", code, say, "")
            return await join_with_agent(
                ctx, call, contact, lang, say=text, action=action, recording_callback=recording
            )
    return twiml.dial_client(
        text,
        say,
        twiml.client_identity(what.agent_id),
        action=action,
        recording_callback=recording,
    )


async def do_outbound_dialed(ctx: Context, call: Call, what: CallPurpose) -> str:
    """How dialling the agent went; on the timeline once. A missed agent: the customer is
    told we will call again (the outcome's `agent_status` lets the caller decide)."""
    status = one(call.params, "DialCallStatus").lower()
    if status not in DIAL_STATUSES:
        raise Invalid("a dial action needs a known DialCallStatus")
    key = f"{call.sid}:dial"
    org_id = call.endpoint.org_id
    try:
        async with ctx.uow() as uow:
            thread = await lock_thread(uow, org_id, what.thread_id)
            if not await is_stored(uow, org_id, key):
                await _record_call(
                    uow, thread, call.endpoint, what, call.sid, one(call.params, "To"), "answered"
                )
                missed = status in DIAL_MISSED
                append_event(
                    uow,
                    thread,
                    kind="call_status",
                    channel="voice",
                    author_type="system",
                    body=f"the agent's phone did not answer ({status})"
                    if missed
                    else f"call with the agent {status}",
                    provider_msg_id=key,
                    data={
                        "call_sid": call.sid,
                        "dial_status": status,
                        "agent_id": what.agent_id,
                    },
                )
    except IntegrityError:
        pass  # a concurrent delivery of the same callback stored it
    code, say = _say_language(call, what.language)
    if status in DIAL_MISSED:
        return twiml.say_and_hang_up(call.menu.text("callback_later", code), say)
    return twiml.say_and_hang_up("", say)


async def do_outbound_status(ctx: Context, call: Call, what: CallPurpose) -> str:
    """A status callback of an outbound call: on the timeline once per (call, status); an
    outcome goes to the purpose's handlers in the same transaction."""
    status, duration = parse_status(call.params)
    answered_by = one(call.params, "AnsweredBy")[:32] or None
    key = f"{call.sid}:{status}"
    org_id = call.endpoint.org_id
    try:
        async with ctx.uow() as uow:
            # the thread's lock first: a concurrent twin of this callback waits for it, then
            # finds the outcome stored, so the handlers hear of it once
            thread = await lock_thread(uow, org_id, what.thread_id)
            if await is_stored(uow, org_id, key):
                return twiml.empty()
            to = one(call.params, "To")
            await _record_call(uow, thread, call.endpoint, what, call.sid, to, status)
            append_event(
                uow,
                thread,
                kind="call_status",
                channel="voice",
                author_type="system",
                body=f"call {status}" + (f" ({duration} s)" if duration is not None else ""),
                provider_msg_id=key,
                data={
                    "call_sid": call.sid,
                    "status": status,
                    "duration_s": duration,
                    "answered_by": answered_by,
                },
            )
            if status in OUTCOMES:
                outcome = CallOutcome(
                    call_sid=call.sid,
                    org_id=org_id,
                    thread_id=thread.id,
                    purpose=what.purpose,
                    ref_id=what.ref_id,
                    agent_id=what.agent_id,
                    status=OUTCOMES[status],
                    duration_s=duration,
                    answered_by=answered_by,
                    agent_status=await _dial_status(uow, org_id, call.sid),
                )
                uow.emit(outcome)
    except IntegrityError:
        pass  # a concurrent delivery of the same callback stored it (and told the handlers)
    return twiml.empty()


async def _dial_status(uow: UnitOfWork, org_id: str, call_sid: str) -> str | None:
    data: dict[str, Any] | None = await uow.session.scalar(
        select(ThreadEvent.data).where(
            ThreadEvent.org_id == org_id,
            ThreadEvent.channel == "voice",
            ThreadEvent.provider_msg_id == f"{call_sid}:dial",
        )
    )
    return str(data.get("dial_status")) if data else None
