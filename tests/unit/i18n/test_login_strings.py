"""The sign-in page's strings (web/locales/login/): every key its template, base.html and
script use is in each of the five catalogues, with the same {placeholders}, translated; and
how the page chooses its language (`?lang=`, the cookie, Accept-Language)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import threadline.web
from threadline.web.i18n import LANGUAGE_NAMES, chosen_language

WEB = Path(threadline.web.__file__).parent
LANGUAGES = ("en", "pt", "es", "ru", "el")


def _catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((WEB / "locales" / "login" / f"{language}.json").read_text("utf-8")))


def _keys_used() -> set[str]:
    sources = [WEB / "templates" / "login.html", WEB / "templates" / "base.html"]
    sources.append(WEB / "static" / "desktop" / "login.js")
    return set(re.findall(r"\bt\.(\w+)", "".join(p.read_text() for p in sources)))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_page_uses_is_translated(language: str) -> None:
    english, strings = _catalogue("en"), _catalogue(language)
    assert _keys_used() == set(english) == set(strings)
    for key, text in strings.items():
        assert text.strip(), key
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", english[key]))
        if language != "en":
            assert text != english[key], f"{language}.{key} is the English text"


def test_the_picker_names_every_language_in_itself() -> None:
    assert tuple(LANGUAGE_NAMES) == LANGUAGES


@pytest.mark.parametrize(
    ("asked", "cookie", "header", "expected"),
    [
        (None, None, None, "en"),
        (None, None, "pt-BR,pt;q=0.9,en;q=0.8", "pt"),
        (None, "el", "pt-BR", "el"),  # the remembered choice beats the browser's
        ("ru", "el", "pt-BR", "ru"),  # a ?lang= beats both
        ("xx", "el", "pt-BR", "el"),  # an unknown ?lang= is ignored
        ("es-MX", None, None, "es"),
        (None, "<script>", "de-DE,el;q=0.5", "el"),  # a forged cookie is ignored
    ],
)
def test_the_language_is_chosen_by_link_then_cookie_then_browser(
    asked: str | None, cookie: str | None, header: str | None, expected: str
) -> None:
    assert chosen_language(asked, cookie, header) == expected
