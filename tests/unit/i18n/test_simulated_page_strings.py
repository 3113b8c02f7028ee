"""The simulated pages' strings (web/locales/simulated/): every key their templates and script
use is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except product names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
CHANNELS = ("sms", "whatsapp", "telegram", "messenger")
# product names, the same in every language
SAME_EVERYWHERE = {f"channel_{name}" for name in CHANNELS}


def _catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / "simulated" / f"{language}.json").read_text()))


def _keys_used() -> set[str]:
    templates = "".join(p.read_text() for p in (WEB / "templates").glob("simulated_*.html"))
    script = (WEB / "static" / "simulated" / "simulated.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", templates + script))
    return used | {f"channel_{name}" for name in CHANNELS}  # t["channel_" ~ channel]


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_pages_use_the_catalogue() -> None:
    assert {"banner", "send", "call", "hold_music", "connected_agent"} <= _keys_used()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_pages_use_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    missing = _keys_used() - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"
