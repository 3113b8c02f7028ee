"""Language-aware text analysis for search: words, their normal form, their stems, and the
query strings each database understands. Pure: no database, no clock.

Both databases see text that went through `normalise` (the Portuguese plural -ões/-ães of
-ão, which Snowball leaves apart; Greek without accents, as people type it). PostgreSQL
then stems with its own language configuration; SQLite's FTS5 has no stemmer for these
languages, so it indexes the Snowball stems computed here (the same algorithms PostgreSQL
uses). Highlighting (highlight.py) uses these stems on both.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import snowballstemmer  # type: ignore[import-untyped]

# PostgreSQL text search configuration per language ('simple' for Greek: no stemming there)
PG_CONFIGS = {"en": "english", "pt": "portuguese", "es": "spanish", "ru": "russian", "el": "simple"}
_SNOWBALL = {"en": "english", "pt": "portuguese", "es": "spanish", "ru": "russian"}
_WORD = re.compile(r"[^\W_]+")
_PT_NASAL_PLURAL = re.compile(r"(?:õe|ãe|ão)s\b")
MAX_TERMS = 24  # a pasted essay searches by its first words, not by all of them
MAX_TERM_CHARS = 40


def _listed(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The words that say nothing about a topic, per language (questions are full of them).
STOPWORDS: dict[str, frozenset[str]] = {
    "en": _listed(
        """a an and are as at be but by can do does for from had has have how i if in is it
        its me my no not of on or our so that the their them there this to was we what when
        where which who why will with would you your"""
    ),
    "pt": _listed(
        """a ao aos as até com como da das de do dos e é ela ele em entre eu foi isso já
        lhe mais mas me meu minha muito na nas no nos não o os ou para pela pelo por que
        se sem seu sua também te tem um uma você"""
    ),
    "es": _listed(
        """a al como con de del el en es esta este hay la las le lo los me mi mis muy no o
        para pero por que qué se si sin su sus también te tu un una y ya yo"""
    ),
    "ru": _listed(
        """а без в во вы где да для до его её ее если же за и из или им их к как ко когда
        ли меня мне мой моя на не нет но о об от по при с со так то у уже что это я"""
    ),
    "el": _listed(
        """για δεν η και με μου να ο οι πως που σε στη στην στο στον στα τα την της το
        τον του των ενα μια"""
    ),
}


@cache
def _stopwords(language: str) -> frozenset[str]:
    return frozenset(normalise(language, w) for w in STOPWORDS.get(language, ()))


def normalise(language: str, text: str) -> str:
    """Text as both databases index and query it (see the module's docstring)."""
    text = text.lower()
    if language == "pt":
        return _PT_NASAL_PLURAL.sub("ão", text)
    if language == "el":
        stripped = unicodedata.normalize("NFD", text)
        text = "".join(c for c in stripped if unicodedata.category(c) != "Mn")
        return unicodedata.normalize("NFC", text).replace("ς", "σ")
    return text


def words(text: str) -> list[str]:
    """The words of a text, in order (letters and digits; punctuation separates)."""
    return _WORD.findall(text)


@cache
def _stemmer(language: str) -> snowballstemmer.stemmer | None:
    name = _SNOWBALL.get(language)
    return snowballstemmer.stemmer(name) if name else None


def fold(word: str) -> str:
    """What SQLite's unicode61 tokenizer (remove_diacritics 2) makes of a word."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@lru_cache(maxsize=1 << 16)  # a help center's vocabulary is small; stemming is not free
def stem(language: str, word: str) -> str:
    """One normalised word's stem, folded as FTS5 folds it."""
    stemmer = _stemmer(language)
    return fold(stemmer.stemWord(word) if stemmer else word)


def stems(language: str, text: str) -> list[str]:
    """The stems of a text's words, in order."""
    return [stem(language, w) for w in words(normalise(language, text))]


def index_text(language: str, text: str) -> str:
    """What SQLite's FTS5 table stores for a text: its stems, space-separated."""
    return " ".join(stems(language, text))


@dataclass(frozen=True, slots=True)
class Query:
    """A search: its terms (normalised words, stopwords out) and whether the last one is
    still being typed (matched as a prefix)."""

    language: str
    terms: tuple[str, ...]
    prefix: bool = False

    @property
    def empty(self) -> bool:
        return not self.terms

    def term_stems(self) -> tuple[str, ...]:
        return tuple(stem(self.language, t) for t in self.terms)

    def fts5(self) -> str:
        """The FTS5 MATCH expression: any term, each quoted; the last as a prefix if typing."""
        parts = [f'"{s}"' for s in self.term_stems()]
        if self.prefix and parts:
            parts[-1] += "*"
        return " OR ".join(parts)

    def tsquery(self) -> str:
        """The text of PostgreSQL's to_tsquery(config, ...): any term, the last as a prefix
        if typing. Terms are letters and digits only, so nothing in them is an operator."""
        parts = list(self.terms)
        if self.prefix and parts:
            parts[-1] += ":*"
        return " | ".join(parts)


def build_query(language: str, text: str, *, prefix: bool = False) -> Query:
    """The query for what a person typed: its words less the stopwords (PostgreSQL's
    configurations drop them too, so both databases find the same); `prefix` when they
    are still typing the last word (a trailing space means they finished it)."""
    typing = prefix and bool(text) and not text[-1].isspace()
    found = [w[:MAX_TERM_CHARS] for w in words(normalise(language, text))]
    stop = _stopwords(language)
    terms = tuple(dict.fromkeys(w for w in found if w not in stop))[:MAX_TERMS]
    last_kept = bool(found) and bool(terms) and terms[-1] == found[-1]
    return Query(language, terms, prefix=typing and last_kept)
