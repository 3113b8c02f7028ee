"""The engine's actions in each channel's own shape, and the customer's answers back.

Messaging channels get one payload per thing said, in the shape their provider's API takes
(without the recipient, which the adapter adds): the chat widget and the app show buttons;
WhatsApp Cloud API interactive messages use reply buttons (at most 3, titles up to 20
characters) or else a list (at most 10 rows, titles up to 24, the full label as the row's
description); Telegram's sendMessage carries an inline keyboard (callback data up to 64
bytes); Messenger's Send API message carries quick replies (at most 13, titles up to 20);
SMS and email number the choices ("0" is a person, as on the phone). Past a channel's limits
the choices fall back to the next form: buttons, then a list, then numbers.

The phone gets one TwiML document per turn (Twilio's <Gather input="dtmf speech"> around
<Say language=...>): each choice has its key, 0 is a person.

`reply_input` turns what a customer sent back (a button's id, a quick reply's payload, a
list row's title, "2") into the engine's input for the choices the state presents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from twilio.twiml.voice_response import (  # type: ignore[import-untyped]  # no stubs shipped
    Gather,
    VoiceResponse,
)

from threadline.channel_kinds import ChannelName
from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.messages import AGENT_CHOICE, AGENT_DIGIT, BUILTIN

Style = Literal["buttons", "whatsapp", "telegram", "messenger", "numbered", "voice"]


@dataclass(frozen=True, slots=True)
class ChoiceLimits:
    """How a channel shows choices and what its provider accepts. `buttons`: the most
    choices shown as buttons (quick replies, reply buttons); `rows`: as a list (WhatsApp);
    `title`: a button's (or row's) longest title; `text`: the longest message text."""

    style: Style
    buttons: int = 0
    title: int = 0
    rows: int = 0
    row_title: int = 0
    row_description: int = 0
    text: int = 4096
    question_text: int = 4096  # the text that goes with the choices (an interactive body)
    payload_bytes: int = 256  # the longest id a button carries back


LIMITS: dict[ChannelName, ChoiceLimits] = {
    "chat": ChoiceLimits("buttons", buttons=20, title=80, text=4000),
    "app": ChoiceLimits("buttons", buttons=20, title=80, text=4000),
    "video": ChoiceLimits("buttons", buttons=20, title=80, text=4000),
    "whatsapp": ChoiceLimits(
        "whatsapp",
        buttons=3,
        title=20,
        rows=10,
        row_title=24,
        row_description=72,
        text=4096,
        question_text=1024,
    ),
    "telegram": ChoiceLimits("telegram", buttons=100, title=64, text=4096, payload_bytes=64),
    "messenger": ChoiceLimits("messenger", buttons=13, title=20, text=2000, payload_bytes=1000),
    "sms": ChoiceLimits("numbered", text=1600),
    "email": ChoiceLimits("numbered", text=100_000),
    "voice": ChoiceLimits("voice", buttons=99),
}
# <Say> and speech recognition languages for the flows' languages (endpoint may override)
VOICES = {"en": "en-US", "pt": "pt-PT", "es": "es-ES", "ru": "ru-RU", "el": "el-GR"}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to send: `text` as the timeline shows it, `payload` in the provider's
    shape (chat/app: {text, choices}; whatsapp: the Cloud API's {type, <type>}; telegram:
    sendMessage's parameters; messenger: the Send API's message; sms/email: {body}), and
    the choices as offered (`choices`, in order; "agent" is a person)."""

    text: str
    payload: dict[str, Any]
    choices: tuple[act.ChoiceItem, ...] = field(default=())


def render_messages(actions: Sequence[Any], channel: ChannelName) -> list[Outgoing]:
    """What a messaging channel sends for one turn's actions (those the customer sees)."""
    limits = LIMITS[channel]
    out: list[Outgoing] = []
    for action in actions:
        if isinstance(action, act.Say | act.Ask):
            pieces = _chunks(action.text, limits.text)
            out.extend(_text(limits, piece) for piece in pieces if piece.strip())
        elif isinstance(action, act.PresentChoices):
            out.extend(_choices(limits, action))
    return out


def offered(action: act.PresentChoices) -> list[act.ChoiceItem]:
    """The choices as every channel offers them: the question's, then a person."""
    agent = action.ui.get("agent") or _builtin(action.language, "agent")
    return [*action.choices, act.ChoiceItem(id=AGENT_CHOICE, label=agent)]


# ---- text and buttons, per channel ------------------------------------------------------------


def _text(limits: ChoiceLimits, text: str) -> Outgoing:
    if limits.style == "whatsapp":
        return Outgoing(text, {"type": "text", "text": {"body": text, "preview_url": False}})
    if limits.style in ("telegram", "messenger", "buttons"):
        return Outgoing(text, {"text": text})
    return Outgoing(text, {"body": text})


def _choices(limits: ChoiceLimits, action: act.PresentChoices) -> list[Outgoing]:
    items = offered(action)
    text = action.text
    if limits.style == "voice":
        raise ValueError("the phone's choices are rendered by render_voice")
    if limits.style == "numbered" or len(items) > max(limits.buttons, limits.rows):
        return _numbered(limits, action, items)
    head = [_text(limits, p) for p in _chunks(text, limits.text)[:-1]]
    text = _chunks(text, limits.text)[-1]
    if limits.style == "whatsapp":
        return [*head, _whatsapp(limits, action, items, text)]
    if limits.style == "telegram":
        keyboard = [
            [{"text": _clip(c.label, limits.title), "callback_data": _payload(limits, c, i)}]
            for i, c in enumerate(items, 1)
        ]
        return [
            *head,
            Outgoing(
                text, {"text": text, "reply_markup": {"inline_keyboard": keyboard}}, tuple(items)
            ),
        ]
    if limits.style == "messenger":
        quick = [
            {
                "content_type": "text",
                "title": _clip(c.label, limits.title),
                "payload": _payload(limits, c, i),
            }
            for i, c in enumerate(items, 1)
        ]
        return [*head, Outgoing(text, {"text": text, "quick_replies": quick}, tuple(items))]
    buttons = [{"id": c.id, "label": _clip(c.label, limits.title)} for c in items]
    return [*head, Outgoing(text, {"text": text, "choices": buttons}, tuple(items))]


def _whatsapp(
    limits: ChoiceLimits, action: act.PresentChoices, items: list[act.ChoiceItem], text: str
) -> Outgoing:
    body = {"text": _clip(text, limits.question_text)}
    fits = all(len(c.label) <= limits.title for c in items)
    if len(items) <= limits.buttons and fits:
        buttons = [
            {"type": "reply", "reply": {"id": _payload(limits, c, i), "title": c.label}}
            for i, c in enumerate(items, 1)
        ]
        interactive = {"type": "button", "body": body, "action": {"buttons": buttons}}
    else:
        rows = []
        for i, c in enumerate(items, 1):
            row = {"id": _payload(limits, c, i), "title": _clip(c.label, limits.row_title)}
            if len(c.label) > limits.row_title:
                row["description"] = _clip(c.label, limits.row_description)
            rows.append(row)
        label = action.ui.get("options") or _builtin(action.language, "options")
        interactive = {
            "type": "list",
            "body": body,
            "action": {"button": _clip(label, limits.title), "sections": [{"rows": rows}]},
        }
    return Outgoing(text, {"type": "interactive", "interactive": interactive}, tuple(items))


def _numbered(
    limits: ChoiceLimits, action: act.PresentChoices, items: list[act.ChoiceItem]
) -> list[Outgoing]:
    """The choices as numbered lines (a person is 0, as on the phone), then how to answer."""
    lines = [action.text]
    lines += [f"{i}. {c.label}" for i, c in enumerate(action.choices, 1)]
    lines.append(f"{AGENT_DIGIT}. {items[-1].label}")
    lines.append(action.ui.get("choose") or _builtin(action.language, "choose"))
    text = "\n".join(lines)
    pieces = _chunks(text, limits.text)
    out = [_text(limits, p) for p in pieces]
    last = out[-1]
    out[-1] = Outgoing(last.text, last.payload, tuple(items))
    return out


def _payload(limits: ChoiceLimits, choice: act.ChoiceItem, index: int) -> str:
    """What a button carries back: the choice's id, or its number when the id is too long
    for the provider (Telegram's callback data: 64 bytes)."""
    if len(choice.id.encode()) <= limits.payload_bytes:
        return choice.id
    return f"#{index}"


# ---- the phone ------------------------------------------------------------------------------


def render_voice(
    actions: Sequence[Any],
    action_url: str,
    *,
    voices: Mapping[str, str] | None = None,
    timeout_s: int = 6,
) -> str:
    """One turn as TwiML. A question is said inside a <Gather input="dtmf speech"> that
    posts to `action_url` (and, when the caller says nothing, the call goes back there
    without input); choices get their keys (1-9, or two keys and # past nine; 0 is a person)
    and their labels as speech hints. A turn that ends the conversation hangs up; a hand-off
    says its text and leaves the rest (queueing, dialling) to the caller; a turn that waits
    for the classifier or the backend comes back to `action_url` after a pause."""
    table = {**VOICES, **(voices or {})}
    response = VoiceResponse()
    says: list[tuple[str, str]] = []
    question: act.Ask | act.PresentChoices | None = None
    finished = False
    for action in actions:
        if isinstance(action, act.Say):
            says.append((action.text, table.get(action.language, action.language)))
        elif isinstance(action, act.Ask | act.PresentChoices):
            question = action
        elif isinstance(action, act.HandOff | act.EndConversation):
            finished = True
    if question is None:
        for text, language in says:
            response.say(text, language=language)
        if any(isinstance(x, act.EndConversation) for x in actions):
            response.hangup()
        elif not finished:
            response.pause(length=1)
            response.redirect(action_url, method="POST")
        return str(response.to_xml())
    language = table.get(question.language, question.language)
    gather = _gather(question, action_url, language, timeout_s)
    for text, said_in in says:
        gather.say(text, language=said_in)
    for text in _voice_prompt(question):
        gather.say(text, language=language)
    response.append(gather)
    response.redirect(action_url, method="POST")
    return str(response.to_xml())


def _gather(question: Any, action_url: str, language: str, timeout_s: int) -> Any:
    options: dict[str, Any] = {
        "input": "dtmf speech",
        "action": action_url,
        "method": "POST",
        "timeout": timeout_s,
        "speech_timeout": "auto",
        "language": language,
    }
    if isinstance(question, act.PresentChoices):
        if len(question.choices) <= 9:
            options["num_digits"] = 1
        else:
            options["finish_on_key"] = "#"
        options["hints"] = ", ".join(c.label for c in offered(question))[:1000]
    else:
        options["finish_on_key"] = "#"
    return Gather(**options)


def _voice_prompt(question: act.Ask | act.PresentChoices) -> list[str]:
    if isinstance(question, act.Ask):
        return [question.text]
    press = question.ui.get("press") or _builtin(question.language, "press")
    lines = [question.text]
    lines += [press.format(label=c.label, n=i) for i, c in enumerate(question.choices, 1)]
    person = offered(question)[-1].label
    lines.append(press.format(label=person, n=AGENT_DIGIT))
    return [" ".join(lines)]


# ---- answers back ---------------------------------------------------------------------------


def reply_input(
    channel: ChannelName,
    presented: Sequence[act.ChoiceItem],
    body: str,
    data: Mapping[str, Any] | None = None,
) -> act.Message | act.Choice:
    """The engine's input for what a customer sent while `presented` (the state's choices)
    were offered: a Choice when a button's id or payload, a list row's title (as WhatsApp
    reports it, clipped as we sent it), or a number ("2", "0" for a person) names one;
    else the Message itself (the engine reads labels and words in it)."""
    data = data or {}
    limits = LIMITS[channel]
    items = [*presented, act.ChoiceItem(id=AGENT_CHOICE, label="")]
    for key in ("postback", "quick_reply", "callback_data", "reply_id"):
        payload = data.get(key)
        if isinstance(payload, str) and (found := _by_payload(limits, items, payload)):
            return act.Choice(choice=found)
    text = body.strip()
    if presented:
        number = text.rstrip(".)")
        if number == AGENT_DIGIT:
            return act.Choice(choice=AGENT_CHOICE)
        if number.isdigit() and 1 <= int(number) <= len(presented):
            return act.Choice(choice=presented[int(number) - 1].id)
        if limits.style == "whatsapp" and text:
            clipped = {
                _clip(c.label, n): c.id for c in presented for n in (limits.title, limits.row_title)
            }
            if text in clipped:
                return act.Choice(choice=clipped[text])
    return act.Message(text=body)


def voice_input(digits: str, speech: str, confidence: float | None = None) -> act.Input:
    """The engine's input for a Gather's result: the keys, else the speech, else silence."""
    if digits:
        return act.Digits(digits=digits[:40])
    if speech.strip():
        return act.Speech(text=speech, confidence=confidence)
    return act.Timeout()


def _by_payload(limits: ChoiceLimits, items: list[act.ChoiceItem], payload: str) -> str | None:
    for i, item in enumerate(items, 1):
        if payload in (item.id, f"#{i}") and payload == _payload(limits, item, i):
            return item.id
    return None


def _builtin(language: str, key: str) -> str:
    return BUILTIN.get(language, BUILTIN["en"])[key]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _chunks(text: str, limit: int) -> list[str]:
    """A text in pieces of at most `limit` characters, cut at a line or a space when it
    can be."""
    pieces = []
    while len(text) > limit:
        cut = max(text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        if piece := text[:cut].rstrip():
            pieces.append(piece)
        text = text[cut:].lstrip()
    return [*pieces, text] if text or not pieces else pieces
