"""The incidents page's strings (web/locales/incidents/): every key its template and script
use is in each of the five catalogues, with the same {placeholders}, and translated (not an
English copy) except what is the same word in every language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")
SAME_EVERYWHERE = {"nav_webhooks", "example_intents"}  # a product name, an intent's id


def _catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / "incidents" / f"{language}.json").read_text()))


def _keys_used() -> set[str]:
    template = (WEB / "templates" / "supervisor_incidents.html").read_text()
    forbidden = (WEB / "templates" / "forbidden.html").read_text()
    script = (WEB / "static" / "incidents" / "incidents.js").read_text()
    used = set(re.findall(r"\bt\.(\w+)", template + forbidden + script))
    # keys built from a prefix: t['field_' + name], t['example_' + name], "lang_" + code
    lists = ("keywords", "products", "regions", "intents")
    used |= {f"{prefix}_{name}" for prefix in ("field", "example") for name in lists}
    used |= {f"lang_{code}" for code in LANGUAGES}
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
