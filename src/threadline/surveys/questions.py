"""What a survey asks and how a reply is read: pure rules, no database, no clock (`now` is
an argument).

CSAT asks for 1-5 (5: very satisfied), CES for 1-7 (7: very easy). A reply by message is a
bare number ("5", " 4 ", "5."), or the id of a button or list row we sent
(`survey:<kind>:<score>`); anything else is not an answer, and goes to a person as usual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SCALES: dict[str, int] = {"csat": 5, "ces": 7}
KINDS = tuple(SCALES)
# channels a survey goes out on, and how: on the customer's screen (the chat widget), by
# a message they answer with a number, or by a link to a page (email)
# (not yet on the app page, which shows no timeline: an app contact is not surveyed)
ON_SCREEN = frozenset({"chat"})
BY_MESSAGE = frozenset({"sms", "whatsapp", "telegram", "messenger"})
BY_LINK = frozenset({"email"})
# a call: keys pressed after the agent's leg ends, while the caller is still on the line
BY_KEYPAD = frozenset({"voice"})
CHANNELS = tuple(sorted(ON_SCREEN | BY_MESSAGE | BY_LINK | BY_KEYPAD))
# WhatsApp's template language codes for ours
WHATSAPP_LANGUAGES = {"en": "en", "pt": "pt_PT", "es": "es", "ru": "ru", "el": "el"}
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.!)]?\s*$")
_BUTTON = re.compile(r"^survey:(csat|ces):(\d{1,2})$")


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply read as a number for `kind`; `valid` is False when it is out of its scale."""

    kind: str
    score: int
    valid: bool


def read_reply(step: str, body: str | None, reply_id: str | None = None) -> Reply | None:
    """The customer's reply to the question `step` (csat or ces), or None when it is not a
    number at all. A button's id names its own question: a stale button answers nothing."""
    if step not in SCALES:
        return None
    if reply_id:
        button = _BUTTON.match(reply_id)
        if button is not None:
            kind, score = button.group(1), int(button.group(2))
            return Reply(kind, score, kind == step and 1 <= score <= SCALES[kind])
    match = _NUMBER.match(body or "")
    if match is None:
        return None
    score = int(match.group(1))
    return Reply(step, score, 1 <= score <= SCALES[step])


def read_key(kind: str, digits: str) -> int | None:
    """The score a key pressed for question `kind` gives, or None (no key, a key off the
    scale, more than one)."""
    if kind not in SCALES or len(digits) != 1 or not digits.isdigit():
        return None
    score = int(digits)
    return score if 1 <= score <= SCALES[kind] else None


def checked_answers(questions: Iterable[str], answers: Mapping[str, int | None]) -> dict[str, int]:
    """The answers given, in the survey's order; ValueError for a question it did not ask or
    a score off its scale."""
    asked = list(questions)
    given = {k: v for k, v in answers.items() if v is not None}
    unknown = sorted(set(given) - set(asked))
    if unknown:
        raise ValueError(f"this survey does not ask {', '.join(unknown)}")
    for kind, score in given.items():
        if not 1 <= score <= SCALES[kind]:
            raise ValueError(f"{kind} is answered from 1 to {SCALES[kind]}")
    return {k: given[k] for k in asked if k in given}


def opted_out(attributes: Mapping[str, Any] | None, channel: str) -> bool:
    """Whether the customer said no to surveys, or to messages on this channel
    (`attributes.opt_out`: "all", "surveys", a channel, or a list of them)."""
    value = (attributes or {}).get("opt_out") or []
    said = {value} if isinstance(value, str) else {str(v) for v in value}
    return bool(said & {"all", "surveys", channel})


@dataclass(frozen=True, slots=True)
class Policy:
    """An organisation's survey settings, as the decision reads them."""

    enabled: bool
    channels: frozenset[str]
    every_days: int


def why_not(
    policy: Policy,
    channel: str,
    *,
    handled_by_agent: bool,
    opted_out: bool,
    last_sent_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why a resolved contact gets no survey, or None when it gets one."""
    if not policy.enabled:
        return "surveys are off"
    if not handled_by_agent:
        return "no agent handled the contact"
    if channel not in CHANNELS:
        return f"no survey is sent on {channel}"
    if channel not in policy.channels:
        return f"surveys are off on {channel}"
    if opted_out:
        return "the customer opted out"
    if last_sent_at is not None and now - last_sent_at < timedelta(days=policy.every_days):
        return f"surveyed on {last_sent_at:%Y-%m-%d}, within {policy.every_days} days"
    return None


def next_step(questions: Iterable[str], answered: Mapping[str, int | None]) -> str:
    """The first question not answered yet, or "done"."""
    return next((k for k in questions if answered.get(k) is None), "done")


# ------------------------------------------------------------------ per channel
def scale_line(texts: Mapping[str, str], kind: str) -> str:
    """ "Reply with a number from 1 (very dissatisfied) to 5 (very satisfied)." """
    return texts[f"reply_{kind}"]


def buttons(kind: str, texts: Mapping[str, str], channel: str) -> dict[str, Any]:
    """The choices as the channel draws them (event.data keys the outbox passes on):
    WhatsApp a list (more than its 3 reply buttons), Telegram an inline keyboard, Messenger
    quick replies. The text carries the numbers too, for a client that shows none."""
    top = SCALES[kind]
    ids = [(n, f"survey:{kind}:{n}") for n in range(1, top + 1)]
    if channel == "whatsapp":
        rows = []
        for n, ident in ids:
            row: dict[str, Any] = {"id": ident, "title": str(n)}
            label = texts.get(f"{kind}_{n}")
            if label:
                row["description"] = label[:72]
            rows.append(row)
        return {
            "interactive": {
                "type": "list",
                "body": {"text": f"{texts[f'{kind}_question']}\n{scale_line(texts, kind)}"},
                "action": {"button": texts["choose"][:20], "sections": [{"rows": rows}]},
            }
        }
    if channel == "telegram":
        return {
            "reply_markup": {
                "inline_keyboard": [[{"text": str(n), "callback_data": i} for n, i in ids]]
            }
        }
    if channel == "messenger":
        return {
            "quick_replies": [
                {"content_type": "text", "title": str(n), "payload": i} for n, i in ids
            ]
        }
    return {}
