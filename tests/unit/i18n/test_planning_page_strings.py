"""The planning page's strings (web/locales/planning/): every key its template and script
use is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same word in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web
from threadline.analytics.forecast import DAILY, MODELS

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
# a product name, a unit, and "Supervisor", which Portuguese and Spanish write alike
SAME_EVERYWHERE = {"nav_webhooks", "seconds", "nav_supervisor"}


def _catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / "planning" / f"{language}.json").read_text()))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "planning.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "planning" / "planning.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", template + forbidden + script))
    used |= {f"model_{m.name}" for m in (*MODELS, DAILY)}  # t["model_" + model]
    return used


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


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


@pytest.mark.parametrize("page", ["supervisor", "incidents"])
def test_the_other_supervisor_pages_link_to_planning(page: str) -> None:
    for language in LANGUAGES:
        strings = json.loads((WEB / "locales" / page / f"{language}.json").read_text())
        assert strings["nav_planning"] == _catalogue(language)["nav_planning"]
