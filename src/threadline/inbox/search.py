"""Full-text search over an organisation's messages, notes and customers, one interface on
both databases (the knowledge base's approach: selfservice/knowledge/search.py).

The indexes are written by triggers the migration creates (c9e1f3a5b7d2), so whatever
writes a message body or a customer's name, email or phone (a reply, an erasure, a
retention purge) updates them in its own transaction: erased content is gone from the index
when the erasure commits. SQLite: FTS5 (unicode61, diacritics removed), an external-content
table over thread_events and a table of customers. PostgreSQL: tables of tsvectors under GIN
indexes; a message is indexed with its thread's language's configuration and with 'simple'
(every word as written). A query's words are stemmed in the searcher's language and matched
as prefixes, all of them required, so "cards" finds "card" and "running" finds "runs"
(PostgreSQL: the words as typed as prefixes, or stemmed by the searcher's language).
Every query names its organisation: this SQL is not the ORM's (db._scope_to_org)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.selfservice.knowledge.analysis import (
    MAX_TERM_CHARS,
    MAX_TERMS,
    PG_CONFIGS,
    normalise,
    stem,
    words,
)

SEARCHED_KINDS = ("message", "note")


@dataclass(frozen=True, slots=True)
class Terms:
    """What a person typed, as search terms: stems in their language, folded."""

    language: str
    raw: tuple[str, ...]
    stems: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.stems

    def fts5(self) -> str:
        """Every term required, each quoted and a prefix (terms are letters and digits)."""
        return " ".join(f'"{s}"*' for s in self.stems)

    def tsquery(self) -> str:
        """PostgreSQL's 'simple' lexemes keep diacritics: the words as typed, as prefixes
        (the stemmed match is plainto_tsquery's, in the searcher's configuration)."""
        return " & ".join(f"{w}:*" for w in self.raw)


def terms(language: str, typed: str) -> Terms:
    found = [w[:MAX_TERM_CHARS] for w in words(normalise(language, typed))]
    raw = tuple(dict.fromkeys(found))[:MAX_TERMS]
    return Terms(language, raw, tuple(dict.fromkeys(stem(language, w) for w in raw)))


class SearchIndex(Protocol):
    async def messages(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[int]:
        """Ids of matching timeline entries (messages, notes), best first."""
        ...

    async def customers(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[str]:
        """Ids of customers whose name, email or phone matches."""
        ...


class SqliteFts:
    async def messages(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[int]:
        rows = await session.execute(
            text(
                "SELECT e.id FROM inbox_search_messages s"
                " JOIN thread_events e ON e.id = s.rowid"
                " WHERE inbox_search_messages MATCH :match AND e.org_id = :org"
                " AND e.kind IN ('message', 'note')"
                " ORDER BY s.rank, e.id DESC LIMIT :n"
            ),
            {"match": query.fts5(), "org": org_id, "n": limit},
        )
        return [int(r[0]) for r in rows]

    async def customers(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[str]:
        # names, addresses and numbers are not stemmed: the words as typed, as prefixes
        match = " ".join(f'"{w}"*' for w in query.raw)
        rows = await session.execute(
            text(
                "SELECT customer_id FROM inbox_search_customers"
                " WHERE inbox_search_customers MATCH :match AND org_id = :org"
                " ORDER BY rank LIMIT :n"
            ),
            {"match": match, "org": org_id, "n": limit},
        )
        return [str(r[0]) for r in rows]


class PostgresFullText:
    async def messages(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[int]:
        rows = await session.execute(
            text(
                "SELECT s.event_id FROM inbox_search_messages s"
                " JOIN thread_events e ON e.id = s.event_id,"
                " to_tsquery('simple', :prefixes) p,"
                " plainto_tsquery(CAST(:config AS regconfig), :typed) q"
                " WHERE s.org_id = :org AND (s.document @@ p OR s.document @@ q)"
                " AND e.kind IN ('message', 'note')"
                " ORDER BY ts_rank_cd(s.document, p || q) DESC, s.event_id DESC LIMIT :n"
            ),
            {
                "prefixes": query.tsquery(),
                "config": PG_CONFIGS.get(query.language, "simple"),
                "typed": " ".join(query.raw),
                "org": org_id,
                "n": limit,
            },
        )
        return [int(r[0]) for r in rows]

    async def customers(
        self, session: AsyncSession, org_id: str, query: Terms, limit: int
    ) -> list[str]:
        rows = await session.execute(
            text(
                "SELECT customer_id FROM inbox_search_customers,"
                " to_tsquery('simple', :prefixes) p"
                " WHERE org_id = :org AND document @@ p"
                " ORDER BY ts_rank_cd(document, p) DESC, customer_id LIMIT :n"
            ),
            {"prefixes": query.tsquery(), "org": org_id, "n": limit},
        )
        return [str(r[0]) for r in rows]


def search_index(dialect: str) -> SearchIndex:
    """The index of this database."""
    return SqliteFts() if dialect == "sqlite" else PostgresFullText()
