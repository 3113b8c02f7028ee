"""A number whose IVR is a flow, as pure pieces: its settings (the menu optional, without
options), the menu its hold loop speaks from, and the caller's answer read from a Gather's
post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from threadline.channels.contract import EndpointConfig
from threadline.channels.voice.adapter import VoiceAdapter, flow_of
from threadline.channels.voice.flow import FlowInput, flow_input
from threadline.channels.voice.ivr import flow_menu, parse_menu

NUMBER = "+15005550006"
LANGUAGES: dict[str, Any] = {
    "languages": [
        {"digit": "1", "code": "en", "say": "en-GB", "label": "For English, press 1."},
        {"digit": "2", "code": "pt", "say": "pt-PT", "label": "Para português, prima 2."},
    ],
    "greeting": {"en": "Welcome."},
    "hold": {"poll_s": 2},
}
MENU: dict[str, Any] = {
    **LANGUAGES,
    "options": [{"digit": "1", "queue": "Cards", "reason": "cards"}],
}
FLOW = {"flow": "demo_bank"}


@pytest.fixture
async def adapter() -> AsyncIterator[VoiceAdapter]:
    voice = VoiceAdapter("https://contact.example.com")
    yield voice
    await voice.aclose()


def config(settings: dict[str, Any]) -> EndpointConfig:
    return EndpointConfig(id="e1", channel="voice", key=NUMBER, settings=settings, secret="t")


def test_flow_of_reads_only_a_named_flow() -> None:
    assert flow_of({"bot": FLOW}) == "demo_bank"
    assert flow_of({}) is None
    assert flow_of({"bot": {"flow": ""}}) is None
    assert flow_of({"bot": "demo_bank"}) is None


async def test_a_flow_makes_the_menu_optional_and_its_options_too(adapter: VoiceAdapter) -> None:
    base = {"account_sid": "AC123"}
    assert adapter.configure(NUMBER, {**base, "bot": FLOW})["bot"] == FLOW
    assert adapter.configure(NUMBER, {**base, "bot": FLOW, "ivr": LANGUAGES})["ivr"] == LANGUAGES
    with pytest.raises(ValueError, match=r"settings\.ivr"):
        adapter.configure(NUMBER, base)  # neither a menu nor a flow
    with pytest.raises(ValueError, match=r"settings\.ivr\.options"):
        adapter.configure(NUMBER, {**base, "ivr": LANGUAGES})  # a menu needs its options
    with pytest.raises(ValueError, match=r"settings\.ivr\.languages"):
        adapter.configure(NUMBER, {**base, "bot": FLOW, "ivr": {"greeting": {"en": "Hi"}}})
    # a flow's queues are looked up when it hands off (else the number's): none to check
    assert adapter.queue_names({**base, "bot": FLOW, "ivr": MENU}) == []
    assert adapter.queue_names({**base, "ivr": MENU}) == [
        ("settings.ivr.options[0].queue", "Cards")
    ]


async def test_the_menu_of_a_flow_number(adapter: VoiceAdapter) -> None:
    languages = [("en", "en-US"), ("ru", "ru-RU")]
    built = adapter.menu(config({"bot": FLOW}), languages)
    assert [(lang.code, lang.say) for lang in built.languages] == languages
    assert not built.needs_language_step(None)  # no labels to ask with: the flow's first
    assert built.options == () and built.hold.poll_s == 5
    assert built.text("goodbye", "ru") != built.text("goodbye", "en")  # built-in texts
    given = adapter.menu(config({"bot": FLOW, "ivr": LANGUAGES}), languages)
    assert given.needs_language_step(None) and not given.needs_language_step("pt")
    assert given.hold.poll_s == 2 and given.options == ()
    assert adapter.menu(config({"ivr": MENU})).options[0].queue == "Cards"


def test_a_flow_menu_without_languages_speaks_english() -> None:
    menu = flow_menu([])
    assert menu.default_language.code == "en" and not menu.needs_language_step(None)


def test_parse_menu_still_wants_options_without_a_flow() -> None:
    with pytest.raises(ValueError, match="a non-empty list"):
        parse_menu(LANGUAGES)
    assert parse_menu(LANGUAGES, needs_options=False).options == ()


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"Digits": ["4321#"]}, FlowInput(3, digits="4321#")),
        ({"Digits": ["0"], "SpeechResult": ["agent"]}, FlowInput(3, "0", "agent")),
        (
            {"SpeechResult": ["  a person please "], "Confidence": ["0.8"]},
            FlowInput(3, speech="a person please", confidence=0.8),
        ),
        ({"SpeechResult": ["hi"], "Confidence": ["1.5"]}, FlowInput(3, speech="hi")),
        ({"SpeechResult": ["hi"], "Confidence": ["nan"]}, FlowInput(3, speech="hi")),
        ({"SpeechResult": ["hi"], "Confidence": ["high"]}, FlowInput(3, speech="hi")),
        ({"Digits": ["1a2<"]}, FlowInput(3, digits="12")),
        ({}, FlowInput(3)),
    ],
)
def test_the_callers_answer(form: dict[str, list[str]], expected: FlowInput) -> None:
    assert flow_input(form, 3) == expected


def test_a_long_answer_is_cut() -> None:
    read = flow_input({"Digits": ["1" * 100], "SpeechResult": ["x" * 1000]}, 1)
    assert len(read.digits) == 40 and len(read.speech) == 300
