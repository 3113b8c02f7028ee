"""The flow engine as a phone number's IVR: ctx.voice_flows (context.VoiceFlows), played by
the voice webhooks (channels/voice/flow.py) one turn per webhook, with speech and DTMF, in
the caller's language.

Each call runs its flow once: a `bot_conversations` row (channel `voice`) on the caller's
thread, keyed by the call's entry on that timeline (`first_seq`), holding the engine's
state. The action URL of every question carries the turn it asks (`turn=N`); each turn the
caller hears is an `ivr` entry on the timeline (author `bot`, `provider_msg_id`
`<CallSid>:flow:<N>`) with what was heard and the TwiML played. An answer for a turn that is
not the conversation's current one (the provider retried a webhook, the same CallSid and
step) is answered with the stored TwiML again and advances nothing.

What a turn asks from outside (an intent on what the caller said, an answer from the
knowledge base, the company's backend) is done within the webhook by the chat bot's own
pieces (BotRuntime.machine), after the turn that asked commits and outside any transaction,
each within what is left of MACHINE_BUDGET_S (Twilio waits 15 s for a webhook's answer);
what does not come in time is answered as a timeout, so the flow takes its no-answer path
(clarify, `missing`, the backend's retries then `on_error`). A turn found waiting for such
an answer whose webhook is gone (a crash) is answered as a timeout by the next webhook.

A hand-off opens the call's contact as a menu option does (context: `call_sid`,
`endpoint_id`, `lang`, and `bot` as on the chat); the voice side then holds the call
(hold.py). An end, or a hang-up, leaves a `bot_outcomes` row as on the chat.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from threadline.channels.voice.flow import FlowCall, FlowInput, FlowReply
from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.routing.models import Contact
from threadline.routing.services import OPEN_CONTACT
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.bot.models import BotConversation
from threadline.selfservice.bot.services import (
    BotRuntime,
    Machine,
    bot_context,
    handoff_of,
    queue_for,
    record_end,
    record_handoff,
)
from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.engine import FlowMismatch, advance, start
from threadline.selfservice.flows.render import VOICES, render_voice, voice_input
from threadline.selfservice.flows.schemas import Flow
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, lock_thread

log = structlog.get_logger(__name__)

MACHINE_BUDGET_S = 8.0  # for the machine's work in one webhook; Twilio waits 15 s
MACHINE_TURNS = 12  # machine answers in one webhook, at most (a flow of calls and retries)
# what a turn may wait for from outside; a verification is not asked on the phone yet: it
# is answered as a timeout at once (the step's `on_fail`)
MACHINE_WAITS = ("intent", "knowledge", "backend", "verification")
Outside = Machine | act.RequireVerification


class VoiceFlowRuntime:
    """The IVR's turns (context.VoiceFlows); registered by wiring.register beside the bot,
    whose classifier, knowledge base and backend client it uses."""

    def __init__(self, ctx: Context, catalog: FlowCatalog, bot: BotRuntime) -> None:
        self._ctx = ctx
        self._catalog = catalog
        self._bot = bot

    async def languages(self, org_id: str, flow_id: str) -> list[tuple[str, str]]:
        async with self._ctx.db.sessions() as session:
            flow = await self._catalog.get(session, org_id, flow_id)
        if flow is None:
            return []
        return [(code, VOICES.get(code, code)) for code in flow.languages]

    # ---- a turn ---------------------------------------------------------------------------

    async def turn(self, call: FlowCall, given: FlowInput | None) -> FlowReply:
        started = time.monotonic()
        async with self._ctx.uow() as uow:
            thread = await lock_thread(uow, call.org_id, call.thread_id)
            conversation = await _of_call(uow, thread.id, call.call_seq)
            if conversation is not None and _answered(conversation, given):
                return await _replay(uow, call, conversation)
            # the version the call started on (a version published meanwhile waits for the
            # next call); the published one for a new call
            version = None if conversation is None else conversation.flow_version
            flow = await self._catalog.get(uow.session, call.org_id, call.flow_id, version)
            if flow is None:  # the flow was taken off meanwhile: a person answers
                return await self._without_flow(uow, thread, call)
            now = utcnow()
            if conversation is None:
                context = act.Context(channel="voice", language=call.language)
                state, actions = start(flow, context, now)
                conversation = _new_conversation(call, flow, thread, now)
                uow.session.add(conversation)
                await uow.session.flush()
            else:
                state = act.State.model_validate(conversation.state)
                if state.waiting in MACHINE_WAITS and _working(conversation, now):
                    return await _replay(uow, call, conversation)  # its webhook is on it
                state, actions = _advance(flow, state, _input_of(state, given), now)
            shown: list[Any] = []  # said since the webhook came, played when it waits
            heard = _heard(given)
            step = await self._apply(
                uow, thread, call, flow, conversation, state, actions, shown, heard
            )
        for _ in range(MACHINE_TURNS):
            if isinstance(step, FlowReply):
                return step
            outside, turn = step
            left = MACHINE_BUDGET_S - (time.monotonic() - started)
            answer = await self._outside(call.org_id, outside, left)
            async with self._ctx.uow() as uow:
                thread = await lock_thread(uow, call.org_id, call.thread_id)
                conversation = await uow.session.get_one(BotConversation, turn[0])
                await uow.session.refresh(conversation)  # as it is now the thread is held
                if conversation.done or conversation.turn != turn[1]:
                    return await _replay(uow, call, conversation)
                state = act.State.model_validate(conversation.state)
                state, actions = _advance(flow, state, answer, utcnow())
                step = await self._apply(
                    uow, thread, call, flow, conversation, state, actions, shown, heard
                )
        if isinstance(step, FlowReply):
            return step
        async with self._ctx.uow() as uow:  # a flow that keeps asking outside: come back
            conversation = await uow.session.get_one(BotConversation, step[1][0])
            return await _replay(uow, call, conversation)

    async def _apply(
        self,
        uow: UnitOfWork,
        thread: Thread,
        call: FlowCall,
        flow: Flow,
        conversation: BotConversation,
        state: act.State,
        actions: list[Any],
        shown: list[Any],
        heard: dict[str, Any] | None,
    ) -> FlowReply | tuple[Outside, tuple[str, int]]:
        """Store the turn; when it waits for the caller (or is over), what the caller hears
        (with everything said since the webhook came), else what to ask outside."""
        now = utcnow()
        conversation.state = state.model_dump(mode="json")
        conversation.turn += 1
        conversation.updated_at = now
        shown.extend(a for a in actions if isinstance(a, act.CUSTOMER_FACING))
        outside = next((a for a in actions if isinstance(a, Outside)), None)
        if outside is not None and state.waiting != "done":
            return outside, (conversation.id, conversation.turn)
        handoff = next((a for a in actions if isinstance(a, act.HandOff)), None)
        end = next((a for a in actions if isinstance(a, act.EndConversation)), None)
        contact_id = None
        if handoff is not None:
            contact_id = await self._hand_off(uow, thread, call, conversation, handoff)
        if end is not None:
            await _end(uow, thread, conversation, end)
        finished = [a for a in (handoff, end) if a is not None]
        document = render_voice(
            [*shown, *finished], call.action_url(conversation.turn), voices=call.voices
        )
        said = " ".join(a.text for a in shown if isinstance(a, act.Say))
        reply = FlowReply(
            twiml=document,
            language=state.language,
            handed_off=handoff is not None,
            contact_id=contact_id,
            said=said if handoff is not None else "",
        )
        _played(uow, thread, call, flow, conversation, reply, shown, heard)
        return reply

    async def _outside(self, org_id: str, action: Outside, left_s: float) -> Any:
        """The answer to what a turn asked outside, or a timeout when it does not come
        within `left_s` (or fails: the flow's no-answer path takes over)."""
        if isinstance(action, act.RequireVerification) or left_s <= 0:
            return act.Timeout()
        try:
            return await asyncio.wait_for(self._bot.machine(org_id, action), left_s)
        except TimeoutError:
            log.warning("voice_flow.machine_timeout", kind=action.kind)
        except Exception:
            log.exception("voice_flow.machine_failed", kind=action.kind)
        return act.Timeout()

    # ---- hand-off, end, hang-up -------------------------------------------------------------

    async def _hand_off(
        self,
        uow: UnitOfWork,
        thread: Thread,
        call: FlowCall,
        conversation: BotConversation,
        handoff: act.HandOff,
    ) -> str | None:
        """The call's contact, as a menu option opens it, with what the flow learnt."""
        queue = await queue_for(uow, thread.org_id, handoff.queue, call.endpoint_id)
        contact_id = None
        if queue is None:
            log.error("voice_flow.no_queue", thread_id=thread.id, queue=handoff.queue)
        else:
            context = {
                "call_sid": call.call_sid,
                "endpoint_id": call.endpoint_id,
                "lang": handoff.language,
                "bot": bot_context(conversation, thread, handoff),
            }
            contact = await self._ctx.routing.enqueue(
                uow,
                thread,
                queue,
                "voice",
                reason=handoff.intent or handoff.reason,
                context=context,
                priority=handoff.priority or 0,
            )
            extra = [s for s in handoff.skills if s not in contact.required_skills]
            if extra:
                contact.required_skills = [*contact.required_skills, *extra]
            contact_id = contact.id
        conversation.done, conversation.outcome = True, "handoff"
        record_handoff(uow, thread, conversation, handoff, contact_id, queue)
        return contact_id

    async def _without_flow(self, uow: UnitOfWork, thread: Thread, call: FlowCall) -> FlowReply:
        """The number names a flow that is gone: the call goes to the number's queue."""
        log.warning("voice_flow.no_flow", flow=call.flow_id, endpoint_id=call.endpoint_id)
        language = call.language or "en"
        contact_id = await _call_contact(uow, thread.id, call.call_sid)
        queue = await queue_for(uow, thread.org_id, None, call.endpoint_id)
        if contact_id is None and queue is not None:
            context = {"call_sid": call.call_sid, "endpoint_id": call.endpoint_id}
            contact = await self._ctx.routing.enqueue(
                uow, thread, queue, "voice", context={**context, "lang": language}
            )
            contact_id = contact.id
        return FlowReply(twiml="", language=language, handed_off=True, contact_id=contact_id)

    async def hung_up(self, org_id: str, thread_id: str, call_seq: int) -> None:
        async with self._ctx.uow() as uow:
            thread = await lock_thread(uow, org_id, thread_id)
            conversation = await _of_call(uow, thread.id, call_seq)
            if conversation is None or conversation.done:
                return
            state = act.State.model_validate(conversation.state)
            end = act.EndConversation(
                deflected=False, reason="hung_up", intent=state.intent, article_id=None
            )
            await _end(uow, thread, conversation, end)


# ---- the conversation's rows ----------------------------------------------------------------


async def _of_call(uow: UnitOfWork, thread_id: str, call_seq: int) -> BotConversation | None:
    found: BotConversation | None = await uow.session.scalar(
        select(BotConversation).where(
            BotConversation.thread_id == thread_id,
            BotConversation.channel == "voice",
            BotConversation.first_seq == call_seq,
        )
    )
    return found


def _new_conversation(call: FlowCall, flow: Flow, thread: Thread, now: datetime) -> BotConversation:
    return BotConversation(
        org_id=thread.org_id,
        thread_id=thread.id,
        endpoint_id=call.endpoint_id,
        channel="voice",
        flow_id=flow.id,
        flow_version=flow.version,
        first_seq=call.call_seq,
        last_seq=call.call_seq,
        started_at=now,
        updated_at=now,
    )


def _answered(conversation: BotConversation, given: FlowInput | None) -> bool:
    """Whether the webhook answers a turn that is not the current one (a retry, or the
    start of a call whose flow runs already)."""
    return given is None or conversation.done or given.turn != conversation.turn


def _working(conversation: BotConversation, now: datetime) -> bool:
    """Whether the webhook that asked outside may still be waiting for the answer."""
    return (now - conversation.updated_at).total_seconds() < MACHINE_BUDGET_S


def _advance(
    flow: Flow, state: act.State, given: Any, now: datetime
) -> tuple[act.State, list[Any]]:
    try:
        return advance(flow, state, given, now)
    except FlowMismatch:  # the flow changed under the call: a person takes over
        state = state.model_copy(update={"waiting": "done", "outcome": "handoff"})
        return state, [handoff_of(state, "flow_changed")]


def _input_of(state: act.State, given: FlowInput | None) -> Any:
    """The engine's input: what the caller did, or, for a turn left waiting for the
    machine's answer, that it never came."""
    if given is None or state.waiting in MACHINE_WAITS:
        return act.Timeout()
    return voice_input(given.digits, given.speech, given.confidence)


def _heard(given: FlowInput | None) -> dict[str, Any] | None:
    if given is None:
        return None
    if given.digits:
        return {"input": "dtmf", "value": given.digits}
    if given.speech:
        return {"input": "speech", "value": given.speech, "confidence": given.confidence}
    return {"input": "none", "value": ""}


def _played(
    uow: UnitOfWork,
    thread: Thread,
    call: FlowCall,
    flow: Flow,
    conversation: BotConversation,
    reply: FlowReply,
    shown: list[Any],
    heard: dict[str, Any] | None,
) -> None:
    """The turn the caller hears, on the timeline: what they did, what the flow said, and
    the TwiML (played again to a retried webhook)."""
    texts = [a.text for a in shown if isinstance(a, act.Say | act.Ask | act.PresentChoices)]
    heard_text = ""
    if heard is not None:
        heard_text = f"{'pressed' if heard['input'] == 'dtmf' else 'said'} {heard['value']!r}: "
        if heard["input"] == "none":
            heard_text = "no input: "
    conversation.last_seq = thread.last_seq + 1
    append_event(
        uow,
        thread,
        kind="ivr",
        channel="voice",
        author_type="bot",
        author_name=flow.name,
        body=(heard_text + " ".join(texts)).strip()[:2000] or "IVR flow",
        provider_msg_id=_turn_key(call, conversation.turn),
        data={
            "call_sid": call.call_sid,
            "bot": conversation.id,
            "turn": conversation.turn,
            "heard": heard,
            "twiml": reply.twiml,
            "language": reply.language,
            "handed_off": reply.handed_off,
            "contact_id": reply.contact_id,
            "said": reply.said,
        },
    )


def _turn_key(call: FlowCall, turn: int) -> str:
    return f"{call.call_sid}:flow:{turn}"


async def _replay(uow: UnitOfWork, call: FlowCall, conversation: BotConversation) -> FlowReply:
    """The conversation's current turn as it was played; a turn still waiting for the
    machine's answer (its webhook is on it) has the caller wait a second and ask again."""
    entry: ThreadEvent | None = await uow.session.scalar(
        select(ThreadEvent).where(
            ThreadEvent.org_id == call.org_id,
            ThreadEvent.channel == "voice",
            ThreadEvent.provider_msg_id == _turn_key(call, conversation.turn),
        )
    )
    language = str((conversation.state or {}).get("language") or call.language or "en")
    if entry is None:
        response = VoiceResponse()
        response.pause(length=1)
        response.redirect(call.action_url(conversation.turn), method="POST")
        return FlowReply(twiml=str(response.to_xml()), language=language)
    data = entry.data
    return FlowReply(
        twiml=str(data.get("twiml") or ""),
        language=str(data.get("language") or language),
        handed_off=bool(data.get("handed_off")),
        contact_id=data.get("contact_id"),
        said=str(data.get("said") or ""),
    )


async def _end(
    uow: UnitOfWork, thread: Thread, conversation: BotConversation, end: act.EndConversation
) -> None:
    """The flow is done with the call: deflected when it solved the need. A thread that
    waits for nobody else rests (resolved) until the customer comes back."""
    conversation.done, conversation.outcome = True, "end"
    if thread.status == "queued" and not await _open_contacts(uow, thread.id):
        thread.status = "resolved"
    record_end(uow, thread, conversation, end)


async def _open_contacts(uow: UnitOfWork, thread_id: str) -> bool:
    found = await uow.session.scalar(
        select(Contact.id)
        .where(Contact.thread_id == thread_id, Contact.status.in_(OPEN_CONTACT))
        .limit(1)
    )
    return found is not None


async def _call_contact(uow: UnitOfWork, thread_id: str, call_sid: str) -> str | None:
    contacts = await uow.session.scalars(
        select(Contact).where(
            Contact.thread_id == thread_id,
            Contact.channel == "voice",
            Contact.status.in_(OPEN_CONTACT),
        )
    )
    return next((c.id for c in contacts if c.context.get("call_sid") == call_sid), None)
