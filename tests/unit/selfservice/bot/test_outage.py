"""Outage mode's pure part: the offer in every language, what an answer to it means, and the
overlay kept beside the engine's state (round trip, the engine's state untouched)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from threadline.selfservice.bot import outage
from threadline.selfservice.flows import actions as a
from threadline.selfservice.flows.demo_bank import demo_flow
from threadline.selfservice.flows.messages import AGENT_CHOICE, OUTAGE, OUTAGE_KEYS
from threadline.selfservice.flows.render import render_messages

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("language", ["en", "pt", "es", "ru", "el"])
def test_the_offer_fits_every_channels_buttons_in_every_language(language: str) -> None:
    assert set(OUTAGE[language]) == set(OUTAGE_KEYS)
    offer = outage.offer("Card payments are failing.", language)
    assert [c.id for c in offer.choices] == [outage.FOLLOW_CHOICE, outage.CONTINUE_CHOICE]
    # WhatsApp reply buttons (not a list), with a person as the third
    [whatsapp] = render_messages([offer], "whatsapp")
    buttons = whatsapp.payload["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == [*(c.id for c in offer.choices), AGENT_CHOICE]
    # Messenger's quick replies keep their whole titles (20 characters at most)
    [messenger] = render_messages([offer], "messenger")
    titles = [q["title"] for q in messenger.payload["quick_replies"]]
    assert titles[:2] == [c.label for c in offer.choices]


def test_another_language_is_offered_in_english() -> None:
    assert outage.offer("x", "de").choices[0].label == OUTAGE["en"]["follow"]


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        (a.Choice(choice=outage.FOLLOW_CHOICE), ("follow", None)),
        (a.Choice(choice=outage.CONTINUE_CHOICE), ("continue", None)),
        (a.Choice(choice=AGENT_CHOICE), ("agent", None)),
        (a.Choice(choice="something_old"), ("continue", None)),
        (a.Message(text="Sim"), ("follow", None)),
        (a.Message(text="quero falar com uma pessoa"), ("agent", None)),
        (a.Message(text="  how do I change my PIN? "), ("continue", "how do I change my PIN?")),
        (a.Message(text="   "), ("continue", None)),
    ],
)
def test_what_an_answer_to_the_offer_means(given: a.Input, meant: tuple[str, str | None]) -> None:
    assert outage.answer_of(given) == meant


def test_the_overlay_rides_beside_the_engine_state_and_leaves_it_as_it_was() -> None:
    flow = demo_flow()
    state = outage.fresh_state(flow, "sms", "pt-BR", NOW)
    assert state.language == "pt" and state.step == flow.start and state.waiting == "customer"
    assert outage.fresh_state(flow, "sms", "de", NOW).language == flow.languages[0]
    overlay = {"said": ["inc-1"], "pending": {"incident_id": "inc-1", "fresh": True}}
    stored = outage.joined(state, overlay)
    assert stored[outage.OVERLAY] == overlay
    back, read = outage.split(stored)
    assert back == state and read == overlay
    assert outage.OVERLAY not in outage.joined(state, {})
    assert outage.split(state.model_dump(mode="json")) == (state, {})
    assert outage.overlay_of({}) == {}  # a conversation just begun has no state yet
