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
