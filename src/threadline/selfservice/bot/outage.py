"""Outage mode in the bot (issue 11 §5), the pure part: when a customer's message is about
an incident in force that the conversation has not mentioned yet, the bot says the
incident's message in the customer's language and offers "tell me when it is fixed" and
"continue" (a person too, as at every step); "continue" lets the flow go on with the
message. This module says what the offer is, what an answer to it means, and keeps what the
conversation knows of outages beside the engine's state; the runtime (services.py) asks
ctx.incidents what a message is about and registers the follower.

The flow engine knows nothing of incidents: the offer is made around it, and its state is
stored untouched next to the overlay (`OVERLAY` in the conversation's stored state)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from threadline.selfservice.flows import actions as act
from threadline.selfservice.flows.messages import (
    AGENT_CHOICE,
    OUTAGE,
    YES_CHOICE,
    asks_for_person,
    yes_or_no,
)
from threadline.selfservice.flows.schemas import Flow

FOLLOW_CHOICE = "incident_follow"
CONTINUE_CHOICE = "incident_continue"
OVERLAY = "outage"  # the key of the overlay in BotConversation.state
# how long the offer waits for an answer (then the conversation goes on as it would have),
# and how long registering a follower may take before the deadline ends the conversation
OFFER_WAIT = timedelta(minutes=10)
FOLLOW_WAIT = timedelta(seconds=60)

Answer = Literal["follow", "continue", "agent"]


def texts(language: str) -> dict[str, str]:
    return OUTAGE.get(language, OUTAGE["en"])


def choices(language: str) -> list[act.ChoiceItem]:
    """The offer's choices ("talk to a person" is added by every channel's rendering)."""
    said = texts(language)
    return [
        act.ChoiceItem(id=FOLLOW_CHOICE, label=said["follow"]),
        act.ChoiceItem(id=CONTINUE_CHOICE, label=said["continue"]),
    ]


def offer(message: str, language: str) -> act.PresentChoices:
    """The incident's message, with the choices under it."""
    return act.PresentChoices(text=message, language=language, choices=choices(language))


def answer_of(given: act.Input) -> tuple[Answer, str | None]:
    """What the customer's answer to the offer means, and the text the flow goes on with
    when they wrote something else instead (None: the message the offer was made for)."""
    if isinstance(given, act.Choice):
        if given.choice == FOLLOW_CHOICE:
            return "follow", None
        if given.choice == AGENT_CHOICE:
            return "agent", None
        return "continue", None
    text = str(getattr(given, "text", "") or "")
    if asks_for_person(text):
        return "agent", None
    if yes_or_no(text) == YES_CHOICE:  # "yes" to "shall we tell you?"
        return "follow", None
    return "continue", (text.strip() or None)


# ---- the overlay beside the engine's state ---------------------------------------------------


def split(stored: dict[str, Any]) -> tuple[act.State, dict[str, Any]]:
    """The engine's state and the outage overlay, from a conversation's stored state:
    `said` (the incidents already said), `pending` (the offer awaiting an answer: its
    incident, whether the flow has not started yet (`fresh`), the customer's message) and
    `following` (the incident a follower is being registered for)."""
    engine = {k: v for k, v in stored.items() if k != OVERLAY}
    return act.State.model_validate(engine), overlay_of(stored)


def overlay_of(stored: dict[str, Any]) -> dict[str, Any]:
    """The overlay alone (a conversation just begun has no state yet)."""
    overlay = stored.get(OVERLAY)
    return dict(overlay) if isinstance(overlay, dict) else {}


def joined(state: act.State, overlay: dict[str, Any]) -> dict[str, Any]:
    stored = state.model_dump(mode="json")
    if overlay:
        stored[OVERLAY] = overlay
    return stored


def fresh_state(flow: Flow, channel: str, language: str | None, now: datetime) -> act.State:
    """The state of a conversation whose flow has not started (the offer came first), in
    the language the flow would speak (as engine.start picks it)."""
    asked = (language or "").split("-")[0].lower()
    return act.State(
        flow_id=flow.id,
        flow_version=flow.version,
        channel=channel,
        language=asked if asked in flow.languages else flow.languages[0],
        step=flow.start,
        started_at=now,
        updated_at=now,
    )
