"""Supervision's strings (web/locales/supervision/), shown on the dashboard and the agent
desktop: every key its templates and script use is in each of the five catalogues, with the
same {placeholders}, and translated (not an English copy)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
PRESENCES = ("available", "busy", "away", "offline")
STATUSES = ("queued", "offered", "assigned")


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "supervision" / f"{language}.json"
    return dict(json.loads(path.read_text("utf-8")))


def _keys_used() -> set[str]:
    sources = [
        WEB / "templates" / "supervision_panel.html",
        WEB / "templates" / "supervision_desk.html",
        WEB / "static" / "desktop" / "supervision.js",
    ]
    text = "".join(path.read_text("utf-8") for path in sources)
    used = set(re.findall(r"\b(?:sv|t)\.(\w+)", text))
    used |= {f"presence_{p}" for p in PRESENCES}  # t[`presence_${...}`]
    used |= {f"status_{s}" for s in STATUSES}  # t[`status_${c.status}`]
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_pages_use_the_catalogue() -> None:
    used = _keys_used()
    assert {"live_heading", "whisper_send", "take_over", "desk_whisper_from"} <= used
    assert not set(_catalogue("en")) - used, "keys nobody uses"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    assert not _keys_used() - set(strings)
    assert set(strings) == set(english)
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en":
            assert text != english[key], f"{language}.{key} is the English text"
