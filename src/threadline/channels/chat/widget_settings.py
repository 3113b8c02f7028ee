"""A chat widget's settings, as admins set them on its endpoint: the colour, the languages it
speaks (the first its default), a greeting per language, and the sites allowed to embed it.
Plain checks over plain data (no database, no web framework): `configure` raises ValueError
saying which setting is wrong and why."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from threadline.i18n.language import LANGUAGES

COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_GREETING = 500
MAX_ORIGINS = 50


def configure(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings normalised; keys this module does not know are kept as they are."""
    out = dict(settings)
    if (color := settings.get("color")) is not None:
        if not isinstance(color, str) or not COLOR.match(color):
            raise ValueError("color: a colour like #0b5cad")
        out["color"] = color.lower()
    languages = _languages(settings.get("languages"))
    if languages is not None:
        out["languages"] = languages
    language = settings.get("language")
    if language is not None:
        if language not in LANGUAGES:
            raise ValueError(f"language: one of {', '.join(LANGUAGES)}")
        if languages and language not in languages:
            raise ValueError("language: the default must be one of the widget's languages")
    elif languages:
        out["language"] = languages[0]
    if (greeting := settings.get("greeting")) is not None:
        out["greeting"] = _greeting(greeting)
    if (origins := settings.get("allowed_origins")) is not None:
        out["allowed_origins"] = _origins(origins)
    return out


def _languages(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f"languages: a list of at least one of {', '.join(LANGUAGES)}")
    unknown = [v for v in value if v not in LANGUAGES]
    if unknown:
        raise ValueError(f"languages: {unknown[0]!r} is not one of {', '.join(LANGUAGES)}")
    return list(dict.fromkeys(value))


def _greeting(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("greeting: {language: text}")
    out: dict[str, str] = {}
    for language, text in value.items():
        if language not in LANGUAGES:
            raise ValueError(f"greeting.{language}: not a language the widget speaks")
        if not isinstance(text, str) or len(text.strip()) > MAX_GREETING:
            raise ValueError(f"greeting.{language}: a text of at most {MAX_GREETING} characters")
        if text.strip():
            out[language] = text.strip()
    return out


def _origins(value: Any) -> list[str]:
    """Origins as browsers send them: scheme://host[:port], lower case, no path."""
    if not isinstance(value, list) or len(value) > MAX_ORIGINS:
        raise ValueError(f"allowed_origins: a list of at most {MAX_ORIGINS} origins")
    out: list[str] = []
    for raw in value:
        text = str(raw).strip().rstrip("/")
        parts = urlsplit(text)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username
        ):
            raise ValueError(
                f"allowed_origins: {text!r} is not an origin like https://shop.example"
            )
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            raise ValueError(f"allowed_origins: {text!r} has a wrong port") from None
        origin = f"{parts.scheme}://{parts.hostname}{port}"
        if origin not in out:
            out.append(origin)
    return out


def allows(settings: Mapping[str, Any], origin: str | None) -> bool:
    """Whether a page of `origin` may open the widget: any page when no list is set."""
    allowed = settings.get("allowed_origins") or []
    return not allowed or (origin or "").rstrip("/").lower() in allowed


def widget_language(settings: Mapping[str, Any], asked: str) -> str:
    """The language the widget speaks to a visitor who asked for `asked` (their browser's):
    one of its languages, else its default."""
    languages = settings.get("languages") or []
    default = str(settings.get("language") or (languages[0] if languages else "en"))
    return asked if not languages or asked in languages else default
