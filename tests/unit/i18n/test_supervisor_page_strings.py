"""The supervisor dashboard's strings (web/locales/supervisor/): every key its template and
script use is in each of the five catalogues, with the same {placeholders}, and translated
(not an English copy) except what is the same in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
SAME_EVERYWHERE = {"nav_webhooks", "no_figure"}  # a product word, a dash
PRESENCES = ("available", "busy", "away", "offline")


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "supervisor" / f"{language}.json"
    return dict(json.loads(path.read_text("utf-8")))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "supervisor.html").read_text("utf-8")
    template += (WEB / "templates" / "staff_header.html").read_text(
        "utf-8"
    )  # the header it includes
    script = (WEB / "static" / "desktop" / "supervisor.js").read_text("utf-8")
    used = set(re.findall(r"\bt\.(\w+)", template + script))
    used |= {f"presence_{p}" for p in PRESENCES}  # t['presence_' + p]
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_page_uses_its_catalogue() -> None:
    used = _keys_used()
    assert {"heading", "sl_recent", "sl_today", "target", "presence_busy"} <= used
    assert not set(_catalogue("en")) - used, "keys nobody uses"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_page_uses_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    missing = _keys_used() - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"
