"""Full-text search over published articles, one interface on both databases.

SQLite: an FTS5 virtual table (unicode61 tokenizer, diacritics removed) holding each
published translation's Snowball stems (analysis.py), ranked by bm25 with the title
weighing four times the body. PostgreSQL: a table of tsvectors built with the language's
text search configuration (title weight A, body B) under a GIN index, ranked by ts_rank_cd.
The migration creates the one its database needs; the services keep it in step with what
is published, in the same transaction. Every query names its organisation and language:
this SQL is not the ORM's, so the organisation filter (db._scope_to_org) does not add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.selfservice.knowledge.analysis import PG_CONFIGS, Query, index_text, normalise

TABLE = "kb_search"  # and, on SQLite, FTS5's own kb_search_* tables


@dataclass(frozen=True, slots=True)
class Document:
    """One published translation as search sees it (`body`: plain text, no Markdown)."""

    translation_id: str
    org_id: str
    article_id: str
    language: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Match:
    article_id: str
    translation_id: str
    rank: float  # higher is better, comparable within one result list only


class SearchIndex(Protocol):
    async def put(self, session: AsyncSession, document: Document) -> None: ...
    async def remove(self, session: AsyncSession, translation_ids: list[str]) -> None: ...
    async def find(
        self, session: AsyncSession, org_id: str, query: Query, limit: int
    ) -> list[Match]: ...


class SqliteFts:
    async def put(self, session: AsyncSession, document: Document) -> None:
        await self.remove(session, [document.translation_id])
        await session.execute(
            text(
                "INSERT INTO kb_search (translation_id, org_id, article_id, language, title, body)"
                " VALUES (:tid, :org, :article, :language, :title, :body)"
            ),
            {
                "tid": document.translation_id,
                "org": document.org_id,
                "article": document.article_id,
                "language": document.language,
                "title": index_text(document.language, document.title),
                "body": index_text(document.language, document.body),
            },
        )

    async def remove(self, session: AsyncSession, translation_ids: list[str]) -> None:
        for tid in translation_ids:
            await session.execute(
                text("DELETE FROM kb_search WHERE translation_id = :tid"),
                {"tid": tid},
            )

    async def find(
        self, session: AsyncSession, org_id: str, query: Query, limit: int
    ) -> list[Match]:
        if query.empty:
            return []
        rows = await session.execute(
            text(
                "SELECT article_id, translation_id, bm25(kb_search, 0, 0, 0, 0, 4.0, 1.0) AS r"
                " FROM kb_search WHERE kb_search MATCH :match"
                " AND org_id = :org AND language = :language ORDER BY r, article_id LIMIT :n"
            ),
            {"match": query.fts5(), "org": org_id, "language": query.language, "n": limit},
        )
        return [Match(a, t, -float(r)) for a, t, r in rows]


class PostgresFullText:
    async def put(self, session: AsyncSession, document: Document) -> None:
        await session.execute(
            text(
                "INSERT INTO kb_search (translation_id, org_id, article_id, language, document)"
                " VALUES (:tid, :org, :article, :language,"
                " setweight(to_tsvector(CAST(:config AS regconfig), :title), 'A')"
                " || setweight(to_tsvector(CAST(:config AS regconfig), :body), 'B'))"
                " ON CONFLICT (translation_id) DO UPDATE SET document = EXCLUDED.document"
            ),
            {
                "tid": document.translation_id,
                "org": document.org_id,
                "article": document.article_id,
                "language": document.language,
                "config": PG_CONFIGS.get(document.language, "simple"),
                "title": normalise(document.language, document.title),
                "body": normalise(document.language, document.body),
            },
        )

    async def remove(self, session: AsyncSession, translation_ids: list[str]) -> None:
        if translation_ids:
            await session.execute(
                text("DELETE FROM kb_search WHERE translation_id = ANY(:ids)"),
                {"ids": translation_ids},
            )

    async def find(
        self, session: AsyncSession, org_id: str, query: Query, limit: int
    ) -> list[Match]:
        if query.empty:
            return []
        rows = await session.execute(
            text(
                "SELECT s.article_id, s.translation_id, ts_rank_cd(s.document, q) AS r"
                " FROM kb_search s, to_tsquery(CAST(:config AS regconfig), :q) q"
                " WHERE s.org_id = :org AND s.language = :language AND s.document @@ q"
                " ORDER BY r DESC, s.article_id LIMIT :n"
            ),
            {
                "config": PG_CONFIGS.get(query.language, "simple"),
                "q": query.tsquery(),
                "org": org_id,
                "language": query.language,
                "n": limit,
            },
        )
        return [Match(a, t, float(r)) for a, t, r in rows]


def search_index(dialect: str) -> SearchIndex:
    """The index of this database."""
    return SqliteFts() if dialect == "sqlite" else PostgresFullText()


def described_by_models(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's `include_name`: the search indexes are built by hand per database (above,
    and the inbox's: inbox/search.py), so comparing the models with the schema leaves them
    (and FTS5's own tables) out."""
    return not (type_ == "table" and (name or "").startswith((TABLE, "inbox_search")))
