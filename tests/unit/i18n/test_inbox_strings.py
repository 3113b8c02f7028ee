"""The inbox's strings (web/locales/inbox/): every key its templates and scripts use is in
each of the five catalogues, with the same {placeholders}, and translated (not an English
copy) except what is the same in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
SAME_EVERYWHERE = {"macros"}  # "Macros" in Portuguese and Spanish too
TEMPLATES = (
    "desktop.html",
    "desktop_inbox.html",
    "desktop_thread_tools.html",
    "desktop_manage.html",
)
SCRIPTS = ("inbox.js", "canned.js")
VIEWS = ("mine", "unassigned", "queues", "snoozed", "resolved", "all")


def _catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / "inbox" / f"{language}.json").read_text("utf-8")))


def _keys_used() -> set[str]:
    templates = "".join((WEB / "templates" / t).read_text("utf-8") for t in TEMPLATES)
    scripts = "".join((WEB / "static" / "desktop" / s).read_text("utf-8") for s in SCRIPTS)
    used = set(re.findall(r"\bti\.(\w+)", templates))
    used |= set(re.findall(r"\btr\(\"(\w+)\"", scripts))
    used |= {f"view_{v}" for v in VIEWS}  # tr(`view_${view}`)
    used |= {f"then_{t}" for t in ("resolve", "snooze")}
    used |= {f"ev_woke_{by}" for by in ("customer", "timer", "agent")}
    used |= {"ev_labelled", "ev_unlabelled"}  # tr(d.added ? "ev_labelled" : ...)
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_the_pages_use_the_catalogue() -> None:
    assert not set(_catalogue("en")) - _keys_used(), "keys nobody uses"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    assert not _keys_used() - set(strings), _keys_used() - set(strings)
    assert set(strings) == set(english)
    for key, text in strings.items():
        assert text.strip(), key
        assert _placeholders(text) == _placeholders(english[key]), key
        if language != "en" and key not in SAME_EVERYWHERE:
            assert text != english[key], f"{language}.{key} is the English text"
