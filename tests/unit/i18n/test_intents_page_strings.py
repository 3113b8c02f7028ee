"""The strings of the intents admin page (web/locales/intents_admin/) and of the desktop's
knowledge-base panel (web/locales/desktop/, kb_*): every key the templates and scripts use
is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same word in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
SAME_EVERYWHERE = {"nav_webhooks", "nav_supervisor", "macro_f1"}  # names, a measure's name


def _catalogue(page: str, language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / page / f"{language}.json").read_text()))


def _intents_keys() -> set[str]:
    template = (WEB / "templates" / "admin_intents.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "intents" / "admin.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", template + forbidden + script))
    used |= set(re.findall(r'"(step_\w+)"', script))  # the steps' keys
    used |= {f"state_{s}" for s in ("queued", "training", "evaluating", "done", "failed")}
    return used


def _kb_keys() -> set[str]:
    template = (WEB / "templates" / "desktop.html").read_text()
    return set(re.findall(r"tr\('(kb_\w+)'\)", template))


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def _check(page: str, language: str, used: set[str], only: str = "") -> None:
    english, strings = _catalogue(page, "en"), _catalogue(page, language)
    missing = used - set(strings)
    assert not missing, missing
    assert set(strings) == set(english)
    for key, text in strings.items():
        if not key.startswith(only):
            continue
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_intents_page_is_translated(language: str) -> None:
    _check("intents_admin", language, _intents_keys())


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_desktop_knowledge_panel_is_translated(language: str) -> None:
    used = _kb_keys()
    assert len(used) >= 8
    _check("desktop", language, used, only="kb_")
