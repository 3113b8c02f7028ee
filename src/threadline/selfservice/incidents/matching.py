"""Which incident a customer's words are about, and what to tell them: pure, no clock, no
database (the caller passes the incidents in force and the time)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

WORD = re.compile(r"\w+", re.UNICODE)
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True, slots=True)
class IncidentView:
    """What matching needs of an incident (a plain copy of its row)."""

    id: str
    title: str
    keywords: tuple[str, ...]
    products: tuple[str, ...]
    intents: tuple[str, ...]
    messages: dict[str, str]
    starts_at: datetime
    status: str = "active"
    expected_end_at: datetime | None = None


def fold(text: str) -> str:
    """Lower case without accents ("Cartão" -> "cartao", "Κάρτα" -> "καρτα")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return WORD.findall(fold(text))


def _word_matches(term: str, word: str) -> bool:
    """A word of the message matches a word of a term when it is that word with the ending
    our five languages give it: a long term loses its last two letters ("cartao" ~
    "cartoes", "καρτες" ~ "καρτα"), a five-letter one its last ("карта" ~ "карты"), and a
    short one takes only a plural ("card" ~ "cards", never "car" or "cardiology")."""
    if word == term:
        return True
    if len(term) <= 4:
        return word in (term + "s", term + "es")
    stem = term[:-2] if len(term) >= 6 else term[:-1]
    return word.startswith(stem) and len(word) <= len(term) + 3


def phrase_in(phrase: str, text_words: Sequence[str]) -> bool:
    """Whether every word of `phrase` appears, in order and side by side, in `text_words`."""
    terms = words(phrase)
    if not terms:
        return False
    n = len(terms)
    for start in range(len(text_words) - n + 1):
        if all(
            _word_matches(t, w) for t, w in zip(terms, text_words[start : start + n], strict=True)
        ):
            return True
    return False


def in_force(incident: IncidentView, now: datetime) -> bool:
    return incident.status == "active" and incident.starts_at <= now


def matching(
    incidents: Iterable[IncidentView],
    now: datetime,
    *,
    text: str | None = None,
    intent: str | None = None,
) -> list[IncidentView]:
    """The incidents in force that a message (its text, or the intent a classifier gave it)
    is about, most recently started first."""
    text_words = words(text) if text else []
    found = []
    for incident in incidents:
        if not in_force(incident, now):
            continue
        if intent is not None and intent in incident.intents:
            found.append(incident)
            continue
        terms = (*incident.keywords, *incident.products)
        if text_words and any(phrase_in(term, text_words) for term in terms):
            found.append(incident)
    return sorted(found, key=lambda i: i.starts_at, reverse=True)


def message_for(messages: dict[str, str], language: str | None, default: str | None = None) -> str:
    """The text in the customer's language, else the organisation's, else English, else any."""
    for code in (language, default, FALLBACK_LANGUAGE):
        if code and messages.get(code):
            return messages[code]
    return next((text for text in messages.values() if text), "")
