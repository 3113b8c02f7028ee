"""A flow as a number's IVR, from the voice side. A number with `settings.bot.flow` answers
its callers with the flow engine instead of the menu's options: each webhook is one turn
(`/ivr?step=flow&turn=N`), played by ctx.voice_flows (selfservice/bot/voice.py, behind the
Context's VoiceFlows protocol: this package imports no self-service). A hand-off queues the
call like a menu option does, and the caller goes on hold (hold.py) with the flow's words
said first."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.calls import Call
from threadline.channels.voice.hold import hold_turn
from threadline.channels.voice.twilio_voice import Params, one
from threadline.context import Context, VoiceFlows
from threadline.errors import Invalid
from threadline.threads.models import ThreadEvent

SPEECH_CHARS = 300  # what a caller says in one answer, at most
DIGITS = 40


@dataclass(frozen=True, slots=True)
class FlowCall:
    """One call as its flow sees it: the call's entry on the caller's thread is the key
    of the flow's run (one per call)."""

    org_id: str
    endpoint_id: str
    flow_id: str
    call_sid: str
    thread_id: str
    call_seq: int  # the call's entry on the thread's timeline
    language: str | None  # the caller's, when known or chosen
    voices: Mapping[str, str]  # the <Say> and speech language per language code
    action_url: Callable[[int], str]  # where the caller's answer to turn N is posted


@dataclass(frozen=True, slots=True)
class FlowInput:
    """What the caller did at a turn: keys, speech (with the recogniser's confidence), or
    nothing (the Gather timed out and Twilio followed the Redirect)."""

    turn: int
    digits: str = ""
    speech: str = ""
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class FlowReply:
    """The flow's answer: the TwiML to play, in the caller's language; or a hand-off, with
    the call's contact (None: no queue to put it in) and the words said before the hold."""

    twiml: str
    language: str
    handed_off: bool = False
    contact_id: str | None = None
    said: str = ""


def flows_of(ctx: Context) -> VoiceFlows:
    if ctx.voice_flows is None:
        raise Invalid("this installation runs no flows")
    return ctx.voice_flows


def flow_call(call: Call, event: ThreadEvent, language: str | None) -> FlowCall:
    """The call, as its flow sees it; `event` is the call's entry on its thread."""
    if call.flow is None:
        raise Invalid("the number runs no flow")
    adapter, key = call.adapter, call.endpoint.key

    def action_url(turn: int) -> str:
        return adapter.webhook_url(key, "/ivr", step="flow", turn=turn)

    return FlowCall(
        org_id=call.endpoint.org_id,
        endpoint_id=call.endpoint.id,
        flow_id=call.flow,
        call_sid=call.sid,
        thread_id=event.thread_id,
        call_seq=event.seq,
        language=language,
        voices={lang.code: lang.say for lang in call.menu.languages},
        action_url=action_url,
    )


def flow_input(params: Params, turn: int) -> FlowInput:
    """The caller's answer in a Gather's post (Digits, SpeechResult, Confidence): keys
    among 0-9 * #, speech trimmed, a confidence outside 0-1 (or unreadable) taken as none."""
    raw = one(params, "Confidence")
    try:
        confidence: float | None = float(raw) if raw else None
    except ValueError:
        confidence = None
    if confidence is not None and not (math.isfinite(confidence) and 0 <= confidence <= 1):
        confidence = None
    digits = "".join(c for c in one(params, "Digits") if c in "0123456789*#")
    return FlowInput(
        turn=turn,
        digits=digits[:DIGITS],
        speech=one(params, "SpeechResult").strip()[:SPEECH_CHARS],
        confidence=confidence,
    )


async def flow_turn(
    ctx: Context, call: Call, event: ThreadEvent, language: str | None, given: FlowInput | None
) -> tuple[str, str]:
    """One turn of the call's flow (`given` None: its start) as TwiML, and the language the
    flow speaks to the caller. A hand-off holds the call in its queue (hold.py)."""
    reply = await flows_of(ctx).turn(flow_call(call, event, language), given)
    return await answered(ctx, call, reply), reply.language


async def answered(ctx: Context, call: Call, reply: FlowReply) -> str:
    if not reply.handed_off:
        return reply.twiml
    menu = call.menu
    lang = menu.language(reply.language) or menu.default_language
    if reply.contact_id is None:
        text = f"{reply.said} {menu.text('no_queue', lang.code)}".strip()
        return twiml.say_and_hang_up(text, lang.say)
    return await hold_turn(ctx, call, reply.contact_id, lang, turn=0, lead=reply.said)
