"""The strings of the surveys admin page (web/locales/surveys_admin/) and the keypad
survey's (web/locales/surveys/, keys_*): every key the template and script use is in each
of the five catalogues, with the same {placeholders}, and translated (not an English copy)
except what is the same word in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web
from threadline.surveys.schemas import ALL_CHANNELS

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
# names (of pages, products, measures) and a format that are the same in every language
SAME_EVERYWHERE = {
    "nav_webhooks",
    "nav_supervisor",
    "channel_messenger",
    "channel_sms",
    "channel_telegram",
    "channel_whatsapp",
    "csat_share",
}
SAME_IN = {"pt": {"channel_chat"}, "es": {"channel_chat"}}


def _catalogue(page: str, language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / page / f"{language}.json").read_text()))


def _used() -> set[str]:
    template = (WEB / "templates" / "admin_surveys.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "surveys_admin" / "admin.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", template + forbidden + script))
    return used | {f"channel_{c}" for c in ALL_CHANNELS}


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_surveys_page_is_translated(language: str) -> None:
    english, strings = _catalogue("surveys_admin", "en"), _catalogue("surveys_admin", language)
    used = _used()
    assert len(used) >= 30
    assert not used - set(strings), used - set(strings)
    assert set(strings) == set(english)
    same = SAME_EVERYWHERE | SAME_IN.get(language, set())
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in same:
            assert text != english[key], f"{language}.{key} is the English text"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_keypad_survey_is_translated(language: str) -> None:
    english, strings = _catalogue("surveys", "en"), _catalogue("surveys", language)
    assert set(strings) == set(english)
    for key in ("keys_csat", "keys_ces"):
        assert strings[key].strip() and "1" in strings[key]
        if language != "en":
            assert strings[key] != english[key]
