"""Highlighted snippets of search hits: the passage of a text where the query's words are
densest, HTML-escaped, its matching words in <mark>. Pure; the same on both databases
(analysis.py gives the stems the databases match on)."""

from __future__ import annotations

import re
from html import escape

from threadline.selfservice.knowledge.analysis import Query, normalise, stem

_TOKEN = re.compile(r"[^\W_]+")
SNIPPET_WORDS = 28


def _spans(query: Query, text: str) -> list[tuple[int, int, bool]]:
    """(start, end, matches) of every word."""
    wanted = frozenset(query.term_stems())
    typed = query.term_stems()[-1] if query.prefix and query.terms else None
    spans = []
    for m in _TOKEN.finditer(text):
        found = stem(query.language, normalise(query.language, m.group()))
        hit = found in wanted or (typed is not None and found.startswith(typed))
        spans.append((m.start(), m.end(), hit))
    return spans


def _marked(text: str, spans: list[tuple[int, int, bool]], start: int, end: int) -> str:
    out, at = [], start
    for s, e, hit in spans:
        if s < start or e > end or not hit:
            continue
        out.append(escape(text[at:s]))
        out.append(f"<mark>{escape(text[s:e])}</mark>")
        at = e
    out.append(escape(text[at:end]))
    return "".join(out)


def highlight(query: Query, text: str) -> str:
    """The whole (short) text, escaped, matching words marked: for titles."""
    return _marked(text, _spans(query, text), 0, len(text))


def snippet(query: Query, text: str, size: int = SNIPPET_WORDS) -> str:
    """The window of `size` words with the most matching words, escaped and marked, with
    an ellipsis where it cuts the text."""
    spans = _spans(query, text)
    if not spans:
        return escape(text[:200])
    best, best_hits = 0, -1
    hits = [int(h) for _, _, h in spans]
    running = sum(hits[:size])
    for first in range(max(1, len(spans) - size + 1)):
        if first:
            running += (hits[first + size - 1] if first + size - 1 < len(hits) else 0) - hits[
                first - 1
            ]
        if running > best_hits:
            best, best_hits = first, running
    window = spans[best : best + size]
    start = 0 if best == 0 else window[0][0]
    end = len(text) if best + size >= len(spans) else window[-1][1]
    body = _marked(text, window, start, end).strip()
    return ("… " if start else "") + body + (" …" if end < len(text) else "")
