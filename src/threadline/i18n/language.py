"""The language a customer writes in, from their message; pure (the model ships in py3langid).

Used when a customer's language is not known yet (a first SMS, a chat from a browser that
names no language we speak), so automatic texts answer them in it. Only the organisation's
languages are ever chosen, and only on clear evidence:

* Cyrillic or Greek letters decide Russian or Greek outright (no other language we speak
  uses those scripts);
* Latin text is scored by py3langid's naive Bayes model over all of its 97 languages: the
  winner must be one we have texts for (an Italian or Catalan writer is not told Spanish),
  the text long enough, the model confident between our Latin-script languages (Portuguese
  and Spanish look alike), and the language one of the organisation's;
* anything else (``ok``, ``1``, a name, an emoji, a mix) is ``None``: the caller keeps the
  endpoint's or organisation's default, never a wild guess.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Final, Protocol, cast

# Languages we have customer-facing texts for (web/locales, the voice prompts).
LANGUAGES: Final = ("en", "pt", "es", "ru", "el")
# A script only one of our languages is written in decides it outright.
SCRIPT_LANGUAGE: Final = {"cyrillic": "ru", "greek": "el"}
LATIN_LANGUAGES: Final = tuple(code for code in LANGUAGES if code not in SCRIPT_LANGUAGE.values())
# Latin text: fewer letters than this is a greeting or a keyword ("ok", "hola", "thanks"),
# too little to tell Portuguese from Spanish.
MIN_LETTERS: Final = 9
# Latin text: the winner's probability, normalised over our Latin-script languages.
MIN_CONFIDENCE: Final = 0.8
# A script counts when it holds at least this share of the letters.
SCRIPT_SHARE: Final = 0.6

_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+|[@#]\w+",  # links, addresses, handles: not language
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Detection:
    """A detected language (``None``: not sure) and why."""

    language: str | None
    confidence: float
    # "script" | "model" (detected); "empty" | "short" | "mixed" | "other-language" |
    # "unsure" | "not-served" (not)
    reason: str


class _Identifier(Protocol):
    def rank(self, text: str) -> list[tuple[str, float]]: ...


@cache
def _identifier() -> _Identifier:
    """py3langid's model with probabilities (read once per process, about 0.7 s)."""
    from py3langid.langid import (  # type: ignore[import-untyped]  # no type hints shipped
        MODEL_FILE,
        LanguageIdentifier,
    )

    return cast(_Identifier, LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))


def load() -> None:
    """Read the model now (at start-up) rather than on the first message."""
    _identifier()


def _letters_by_script(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        script = name.split(" ", 1)[0].lower() if name else "other"
        counts[script] = counts.get(script, 0) + 1
    return counts


def detect(text: str, languages: Iterable[str] = LANGUAGES) -> Detection:
    """The language of ``text`` among ``languages`` (the organisation's), or ``None`` with
    the reason it is not sure."""
    allowed = frozenset(languages) & frozenset(LANGUAGES)
    cleaned = _NOISE.sub(" ", text)
    scripts = _letters_by_script(cleaned)
    letters = sum(scripts.values())
    if letters == 0:
        return Detection(None, 0.0, "empty")
    for script, language in SCRIPT_LANGUAGE.items():
        if scripts.get(script, 0) >= max(2, SCRIPT_SHARE * letters):
            if language in allowed:
                return Detection(language, 1.0, "script")
            return Detection(None, 1.0, "not-served")
    latin = scripts.get("latin", 0)
    if latin < SCRIPT_SHARE * letters:
        return Detection(None, 0.0, "mixed")  # another script, or a mix of scripts
    if latin < MIN_LETTERS:
        return Detection(None, 0.0, "short")
    ranked = _identifier().rank(cleaned)
    if ranked[0][0] not in LATIN_LANGUAGES:
        return Detection(None, ranked[0][1], "other-language")
    ours = [(code, p) for code, p in ranked if code in LATIN_LANGUAGES]
    best, probability = ours[0][0], ours[0][1] / (sum(p for _code, p in ours) or 1.0)
    if probability < MIN_CONFIDENCE:
        return Detection(None, probability, "unsure")
    if best not in allowed:
        return Detection(None, probability, "not-served")
    return Detection(best, probability, "model")


def language_of(text: str, languages: Iterable[str] = LANGUAGES) -> str | None:
    """The detected language of ``text`` among ``languages``, or ``None`` when not sure."""
    return detect(text, languages).language
