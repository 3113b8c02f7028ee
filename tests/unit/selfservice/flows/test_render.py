"""Rendering per channel: each provider's payload shape and limits, the fallbacks past them
(buttons -> list -> numbered text), TwiML for the phone, and answers read back."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.channel_kinds import CHANNELS
from threadline.selfservice.flows import actions as a
from threadline.selfservice.flows.messages import BUILTIN, asks_for_person
from threadline.selfservice.flows.render import (
    LIMITS,
    offered,
    render_messages,
    render_voice,
    reply_input,
    voice_input,
)

UI = {
    "agent": "Talk to a person",
    "choose": "Reply with a number.",
    "press": "For {label}, press {n}.",
    "options": "Options",
}


def question(*labels: str, text: str = "Which one?", language: str = "en") -> a.PresentChoices:
    return a.PresentChoices(
        text=text,
        language=language,
        ui=UI,
        choices=[a.ChoiceItem(id=f"c{i}", label=label) for i, label in enumerate(labels, 1)],
    )


def test_every_channel_has_limits() -> None:
    assert set(LIMITS) == set(CHANNELS)


def test_chat_gets_buttons_with_a_person_last() -> None:
    [out] = render_messages([question("Yes", "No")], "chat")
    assert out.payload == {
        "text": "Which one?",
        "choices": [
            {"id": "c1", "label": "Yes"},
            {"id": "c2", "label": "No"},
            {"id": "agent", "label": "Talk to a person"},
        ],
    }


def test_whatsapp_reply_buttons_for_up_to_three_short_choices() -> None:
    [out] = render_messages([question("Yes", "No")], "whatsapp")
    assert out.payload == {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Which one?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "c1", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "c2", "title": "No"}},
                    {"type": "reply", "reply": {"id": "agent", "title": "Talk to a person"}},
                ]
            },
        },
    }


def test_whatsapp_falls_back_to_a_list_then_to_numbers() -> None:
    [listed] = render_messages([question("A", "B", "C")], "whatsapp")  # 4 with a person
    interactive = listed.payload["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Options"
    assert [r["id"] for r in interactive["action"]["sections"][0]["rows"]] == [
        "c1",
        "c2",
        "c3",
        "agent",
    ]
    long_label = "My card has not arrived yet, weeks after"
    [clipped] = render_messages([question(long_label, "B")], "whatsapp")  # too long for a button
    row = clipped.payload["interactive"]["action"]["sections"][0]["rows"][0]
    assert row["title"] == "My card has not arrived…" and len(row["title"]) == 24
    assert row["description"] == long_label
    [numbered] = render_messages([question(*"ABCDEFGHIJ")], "whatsapp")  # 11 with a person
    assert numbered.payload["type"] == "text"
    assert numbered.text.splitlines()[1:] == [
        "1. A",
        "2. B",
        "3. C",
        "4. D",
        "5. E",
        "6. F",
        "7. G",
        "8. H",
        "9. I",
        "10. J",
        "0. Talk to a person",
        "Reply with a number.",
    ]


def test_telegram_inline_keyboard_with_callback_data_within_64_bytes() -> None:
    action = a.PresentChoices(
        text="?",
        language="en",
        ui=UI,
        choices=[
            a.ChoiceItem(id="x" * 70, label="Long id"),
            a.ChoiceItem(id="short", label="Short"),
        ],
    )
    [out] = render_messages([action], "telegram")
    keyboard = out.payload["reply_markup"]["inline_keyboard"]
    assert keyboard == [
        [{"text": "Long id", "callback_data": "#1"}],
        [{"text": "Short", "callback_data": "short"}],
        [{"text": "Talk to a person", "callback_data": "agent"}],
    ]
    assert reply_input("telegram", action.choices, "", {"callback_data": "#1"}) == a.Choice(
        choice="x" * 70
    )


def test_messenger_quick_replies_up_to_thirteen() -> None:
    [out] = render_messages([question(*(f"Option number {i}" for i in range(12)))], "messenger")
    quick = out.payload["quick_replies"]
    assert len(quick) == 13 and all(len(q["title"]) <= 20 for q in quick)
    assert quick[0] == {"content_type": "text", "title": "Option number 0", "payload": "c1"}
    [numbered] = render_messages([question(*(f"O{i}" for i in range(13)))], "messenger")
    assert "quick_replies" not in numbered.payload and "13. O12" in numbered.text


def test_sms_numbers_the_choices_and_reads_the_number_back() -> None:
    action = question("Card", "Loan")
    [out] = render_messages([action], "sms")
    assert out.payload == {
        "body": "Which one?\n1. Card\n2. Loan\n0. Talk to a person\nReply with a number."
    }
    assert reply_input("sms", action.choices, " 2 ") == a.Choice(choice="c2")
    assert reply_input("sms", action.choices, "0") == a.Choice(choice="agent")
    assert reply_input("sms", action.choices, "7") == a.Message(text="7")
    assert reply_input("sms", [], "2") == a.Message(text="2")


def test_whatsapp_and_messenger_replies_name_their_choice() -> None:
    long_label = "My card has not arrived yet, weeks after"
    action = question(long_label, "B")
    # WhatsApp reports a list row by its title, as we clipped it
    assert reply_input("whatsapp", action.choices, "My card has not arrived…") == a.Choice(
        choice="c1"
    )
    assert reply_input("messenger", action.choices, "B", {"quick_reply": "c2"}) == a.Choice(
        choice="c2"
    )
    assert reply_input("messenger", action.choices, "x", {"postback": "agent"}) == a.Choice(
        choice="agent"
    )
    assert reply_input("messenger", action.choices, "hm", {"quick_reply": "ghost"}) == a.Message(
        text="hm"
    )


def test_say_and_ask_are_text_and_long_text_is_split_at_spaces() -> None:
    words = " ".join(["word"] * 500)  # 2,499 characters
    out = render_messages(
        [
            a.Say(text=words, language="en"),
            a.Ask(text="And?", language="en"),
            a.ClassifyIntent(request="r", text="x", language="en"),
        ],
        "messenger",
    )
    assert [len(o.text) for o in out] == [1999, 499, 4]
    assert all(o.payload == {"text": o.text} for o in out)
    assert " ".join(o.text for o in out[:2]) == words


@given(
    st.sampled_from([c for c in CHANNELS if c != "voice"]),
    st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=30),
    st.text(min_size=1, max_size=3000),
)
def test_no_channel_limit_is_ever_exceeded(channel: Any, labels: list[str], text: str) -> None:
    limits = LIMITS[channel]
    action = question(*labels, text=text)
    out = render_messages([action], channel)
    assert out[-1].choices == tuple(offered(action))
    for message in out:
        assert 0 < len(message.text) <= limits.text
        payload = message.payload
        if "quick_replies" in payload:
            assert len(payload["quick_replies"]) <= limits.buttons
            assert all(len(q["title"]) <= limits.title for q in payload["quick_replies"])
        if "reply_markup" in payload:
            rows = payload["reply_markup"]["inline_keyboard"]
            assert len(rows) <= limits.buttons
            assert all(len(b["callback_data"].encode()) <= 64 for [b] in rows)
        if payload.get("type") == "interactive":
            interactive = payload["interactive"]
            assert len(interactive["body"]["text"]) <= limits.question_text
            if interactive["type"] == "button":
                buttons = interactive["action"]["buttons"]
                assert len(buttons) <= 3
                assert all(len(b["reply"]["title"]) <= 20 for b in buttons)
            else:
                rows = interactive["action"]["sections"][0]["rows"]
                assert len(rows) <= 10
                assert all(len(r["title"]) <= 24 for r in rows)
                assert all(len(r.get("description", "")) <= 72 for r in rows)
                assert len(interactive["action"]["button"]) <= 20


def twiml(document: str) -> ElementTree.Element:
    return ElementTree.fromstring(document)  # noqa: S314 - TwiML we just built


def test_voice_choices_are_keys_in_a_gather_with_speech_and_zero_for_a_person() -> None:
    actions = [
        a.Say(text="Olá.", language="pt"),
        question("Cartões", "Empréstimos", text="Escolha:", language="pt"),
    ]
    root = twiml(render_voice(actions, "https://x.example/flow", voices={"pt": "pt-BR"}))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib["input"] == "dtmf speech"
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["language"] == "pt-BR"
    assert gather.attrib["action"] == "https://x.example/flow"
    assert gather.attrib["hints"] == "Cartões, Empréstimos, Talk to a person"
    says = [(s.text, s.attrib["language"]) for s in gather.findall("Say")]
    assert says == [
        ("Olá.", "pt-BR"),
        (
            "Escolha: For Cartões, press 1. For Empréstimos, press 2. "
            "For Talk to a person, press 0.",
            "pt-BR",
        ),
    ]
    assert root.find("Redirect") is not None


def test_voice_past_nine_choices_takes_two_keys_and_hash() -> None:
    gather = twiml(render_voice([question(*"ABCDEFGHIJ")], "/f")).find("Gather")
    assert gather is not None
    assert "numDigits" not in gather.attrib and gather.attrib["finishOnKey"] == "#"


def test_voice_open_question_end_and_waiting_turns() -> None:
    ask = twiml(render_voice([a.Ask(text="Last four digits?", language="en")], "/f"))
    gather = ask.find("Gather")
    assert gather is not None and gather.attrib["finishOnKey"] == "#"
    end = twiml(
        render_voice(
            [
                a.Say(text="Bye.", language="el"),
                a.EndConversation(deflected=True, reason="x", intent=None, article_id=None),
            ],
            "/f",
        )
    )
    assert [c.tag for c in end] == ["Say", "Hangup"]
    assert end[0].attrib["language"] == "el-GR"
    waiting = twiml(render_voice([a.ClassifyIntent(request="r", text="x", language="en")], "/f"))
    assert [c.tag for c in waiting] == ["Pause", "Redirect"]


@pytest.mark.parametrize(
    ("digits", "speech", "expected"),
    [
        ("2", "", a.Digits(digits="2")),
        ("", "cards", a.Speech(text="cards")),
        ("", " ", a.Timeout()),
    ],
)
def test_voice_input(digits: str, speech: str, expected: Any) -> None:
    assert voice_input(digits, speech) == expected


def test_built_in_yes_no_and_person_fit_whatsapp_reply_buttons_in_every_language() -> None:
    for language, texts in BUILTIN.items():
        for key in ("yes", "no", "agent", "other", "options"):
            assert len(texts[key]) <= LIMITS["whatsapp"].title, (language, key)
        assert asks_for_person(texts["agent"]), language  # typed back, it still works
