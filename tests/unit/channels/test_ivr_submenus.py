"""IVR submenus (channels/voice/ivr.py): parsing and checking nested menus, the back key,
choosing at each level by key or by speech, and menus stored before submenus existed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from threadline.channels.voice.ivr import MAX_DEPTH, parse_menu, parse_path, path_text, routes

LANGUAGES = [
    {"digit": "1", "code": "en", "say": "en-GB", "label": "For English, press 1."},
    {"digit": "2", "code": "pt", "say": "pt-PT", "label": "Para português, prima 2."},
]
CARDS = {
    "digit": "1",
    "keywords": {"en": ["card", "cards"], "pt": ["cartão"]},
    "prompt": {"en": "For cards, press 1.", "pt": "Para cartões, prima 1."},
    "submenu": {
        "intro": {"en": "Cards.", "pt": "Cartões."},
        "options": [
            {
                "digit": "1",
                "keywords": {"en": ["lost", "stolen"], "pt": ["perdido"]},
                "queue": "Cards",
                "reason": "card_lost",
                "prompt": {"en": "For a lost card, press 1.", "pt": "Cartão perdido, prima 1."},
            },
            {
                "digit": "2",
                "keywords": {"en": ["arrived"]},
                "queue": "Cards",
                "reason": "card_not_arrived",
                "prompt": {"en": "If your card has not arrived, press 2."},
            },
        ],
    },
}
IVR: dict[str, Any] = {
    "languages": LANGUAGES,
    "greeting": {"en": "Welcome.", "pt": "Bem-vindo."},
    "options": [
        CARDS,
        {"digit": "2", "queue": "General", "reason": "other", "prompt": {"en": "Else, 2."}},
    ],
    "default": {"queue": "General", "reason": "ivr_no_choice"},
}


def ivr(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(IVR), **changes}


def nested(depth: int) -> dict[str, Any]:
    """An option `depth` menus deep below the main menu (1: a plain route)."""
    option: dict[str, Any] = {"digit": "1", "queue": "General", "reason": "deep"}
    for _ in range(depth - 1):
        option = {"digit": "1", "submenu": {"options": [option]}}
    return option


def test_a_stored_menu_without_submenus_reads_as_before() -> None:
    plain = ivr(options=[{"digit": "1", "queue": "Cards", "reason": "card_blocked"}])
    menu = parse_menu(plain)
    assert menu.back_key == "*"
    assert menu.options[0].submenu is None and menu.options[0].result == "card_blocked"
    assert menu.options_at(()) == menu.options
    assert menu.menu_prompt("en") == ""  # no prompts configured, no back hint at the top


def test_an_option_opens_a_submenu_with_its_intro_and_the_way_back() -> None:
    menu = parse_menu(ivr())
    submenu = menu.options[0].submenu
    assert submenu is not None and [o.reason for o in submenu.options] == [
        "card_lost",
        "card_not_arrived",
    ]
    assert menu.menu_prompt("en", (0,)) == (
        "Cards. For a lost card, press 1. If your card has not arrived, press 2. "
        "To go back, press star."
    )
    # Portuguese, with the English prompt where none was written in Portuguese
    assert menu.menu_prompt("pt", (0,)) == (
        "Cartões. Cartão perdido, prima 1. If your card has not arrived, press 2. "
        "Para voltar, prima asterisco."
    )
    assert menu.hints("en", (0,)) == "lost, stolen, arrived"
    assert menu.options_at((1,)) is None  # option 2 routes: no submenu there
    assert menu.options_at((5,)) is None and menu.options_at((0, 0)) is None


def test_choosing_at_each_level_by_key_and_by_speech() -> None:
    menu = parse_menu(ivr())
    choice, option = menu.choose_option("en", "1", "")
    assert option is menu.options[0] and choice.result == "submenu:1"
    choice, option = menu.choose_option("en", "2", "", (0,))
    assert option is not None and (option.queue, option.reason) == ("Cards", "card_not_arrived")
    assert choice.as_data() == {
        "step": "menu",
        "input": "dtmf",
        "value": "2",
        "result": "card_not_arrived",
    }
    # spoken keywords at each level, in the caller's language, accents folded
    _, option = menu.choose_option("pt", "", "O meu cartao", ())
    assert option is menu.options[0]
    _, option = menu.choose_option("pt", "", "Foi perdido.", (0,))
    assert option is not None and option.reason == "card_lost"
    # a word of another level does not match here
    choice, option = menu.choose_option("en", "", "my card was stolen", ())
    assert option is menu.options[0]  # "card" is the main menu's
    choice, option = menu.choose_option("en", "", "stolen", ())
    assert option is None and choice.result is None
    choice, option = menu.choose_option("en", "7", "", (0,))
    assert option is None and choice.result is None
    assert menu.goes_back("*") and not menu.goes_back("1")


def test_a_configured_back_key_is_said_and_may_not_be_an_option_digit() -> None:
    menu = parse_menu(ivr(back_key="9"))
    assert menu.goes_back("9") and not menu.goes_back("*")
    assert menu.menu_prompt("en", (0,)).endswith("To go back, press 9.")
    with pytest.raises(ValueError, match=r"^settings\.ivr\.options\[0\]\.submenu\.options: "):
        parse_menu(ivr(back_key="2"))  # the submenu's option 2
    with pytest.raises(ValueError, match=r"^settings\.ivr\.back_key: "):
        parse_menu(ivr(back_key="#"))


def test_menus_nest_up_to_the_limit() -> None:
    deepest = parse_menu(ivr(options=[nested(MAX_DEPTH)]))
    at = (0,) * (MAX_DEPTH - 1)
    options = deepest.options_at(at)
    assert options is not None and options[0].reason == "deep"
    assert parse_path(path_text(at)) == at
    assert routes(deepest.options)[0] == (
        "settings.ivr.options[0]" + ".submenu.options[0]" * (MAX_DEPTH - 1) + ".queue",
        "General",
    )
    with pytest.raises(ValueError, match=f"menus nest at most {MAX_DEPTH} deep"):
        parse_menu(ivr(options=[nested(MAX_DEPTH + 1)]))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {**CARDS, "queue": "Cards", "reason": "x"},
            r"settings\.ivr\.options\[0\]: either a queue and reason or a submenu",
        ),
        (
            {**CARDS, "submenu": {"options": []}},
            r"settings\.ivr\.options\[0\]\.submenu\.options: a non-empty list",
        ),
        (
            {**CARDS, "submenu": {"options": [{"digit": "1", "queue": "Cards"}]}},
            r"settings\.ivr\.options\[0\]\.submenu\.options\[0\]\.reason: ",
        ),
        (
            {**CARDS, "submenu": {"intro": {"fr": "Cartes."}, "options": [nested(1)]}},
            r"settings\.ivr\.options\[0\]\.submenu\.intro: languages not offered",
        ),
        (
            {**CARDS, "submenu": {"options": [nested(1), nested(1)]}},
            r"settings\.ivr\.options\[0\]\.submenu\.options: each digit once",
        ),
        ({**CARDS, "submenu": ["x"]}, r"settings\.ivr\.options\[0\]\.submenu: an object"),
    ],
)
def test_a_faulty_submenu_is_refused_naming_its_field(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_menu(ivr(options=[option]))


@pytest.mark.parametrize("text", ["", "x", "1.x", "-1", "0.0.0.0.0", "123", None])
def test_a_malformed_path_is_the_main_menu(text: str | None) -> None:
    assert parse_path(text) == ()
