"""Translations of everything a customer sees (the widget, customer pages).

Catalogues live in web/locales/<language>.json; a missing key falls back to English.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    path = LOCALES_DIR / f"{language}.json"
    base: dict[str, str] = json.loads((LOCALES_DIR / "en.json").read_text("utf-8"))
    if language != DEFAULT_LANGUAGE and path.exists():
        base = {**base, **json.loads(path.read_text("utf-8"))}
    return base


@cache
def supported() -> frozenset[str]:
    return frozenset(p.stem for p in LOCALES_DIR.glob("*.json"))


def pick_language(locale: str | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """'pt-BR' -> 'pt' when we have Portuguese; otherwise the fallback."""
    if locale:
        language = locale.replace("_", "-").split("-")[0].lower()
        if language in supported():
            return language
    return fallback


def translate(language: str, key: str, **values: str) -> str:
    return catalogue(language).get(key, key).format(**values)


@cache
def page_catalogue(page: str, language: str) -> dict[str, str]:
    """The strings of an agent-facing page (web/locales/<page>/<language>.json); a missing
    key falls back to English. Kept apart from the customer catalogues, which are sent to
    every widget whole."""
    folder = LOCALES_DIR / page
    base: dict[str, str] = json.loads((folder / "en.json").read_text("utf-8"))
    path = folder / f"{language}.json"
    if language != DEFAULT_LANGUAGE and path.exists():
        base = {**base, **json.loads(path.read_text("utf-8"))}
    return base


def accepted_language(header: str | None, fallback: str = DEFAULT_LANGUAGE) -> str:
    """The first language of an Accept-Language header ("pt-PT,pt;q=0.9,en;q=0.8") that we
    have, by the client's preference (q) and then its order."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    for _q, _i, tag in sorted(ranked):
        language = pick_language(tag, "")
        if language:
            return language
    return fallback


# The language a person chose on a public staff page (the login's picker), kept for a year.
LANGUAGE_COOKIE = "tl_lang"
LANGUAGE_NAMES = {
    "en": "English",
    "pt": "Português",
    "es": "Español",
    "ru": "Русский",
    "el": "Ελληνικά",
}


def chosen_language(asked: str | None, cookie: str | None, header: str | None) -> str:
    """A public page's language: `?lang=` first, then the language cookie, then the first
    of Accept-Language we have (as `accepted_language`), else English."""
    for choice in (asked, cookie):
        if choice and (language := pick_language(choice, "")):
            return language
    return accepted_language(header)
