"""The IVR tree's strings (web/locales/admin_ivr/, shown inside the channels page): every key
its template part and script use is in each of the five catalogues, with the same
{placeholders}, and translated (not an English copy) except "IVR" where the language says so."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
SAME_EVERYWHERE = {"ivr_title"}  # "IVR" in Spanish too


def _catalogue(language: str) -> dict[str, str]:
    path = WEB / "locales" / "admin_ivr" / f"{language}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _keys_used() -> set[str]:
    part = (WEB / "templates" / "admin_ivr_tree.html").read_text()
    channels = (WEB / "templates" / "admin_channels.html").read_text()
    script = (WEB / "static" / "admin_ivr" / "admin_ivr.js").read_text()
    used = set(re.findall(r"\bit\.(\w+)", part))  # {% set it = config.ivr_t %}
    used |= set(re.findall(r"\bivrT\.(\w+)", part + script))
    used |= set(re.findall(r"\bconfig\.ivr_t\.(\w+)", channels))
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_channels_page_includes_the_tree() -> None:
    channels = (WEB / "templates" / "admin_channels.html").read_text()
    assert '{% include "admin_ivr_tree.html" %}' in channels
    assert "/static/admin_ivr/admin_ivr.js" in channels


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_tree_uses_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    missing = _keys_used() - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    assert not set(english) - _keys_used(), "unused keys"
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"
