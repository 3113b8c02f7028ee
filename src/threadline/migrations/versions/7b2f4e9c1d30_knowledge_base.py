"""knowledge base: categories, articles, translations, versions, feedback, search index

Revision ID: 7b2f4e9c1d30
Revises: a883a8c07819
Create Date: 2026-12-06 12:45:00

The search index depends on the database: an FTS5 virtual table on SQLite, a table of
tsvectors under a GIN index on PostgreSQL (selfservice/knowledge/search.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "7b2f4e9c1d30"
down_revision: str | None = "a883a8c07819"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = threadline.db.UTCDateTime(timezone=True)


def _org() -> sa.Column[str]:
    return sa.Column("org_id", sa.String(length=36), nullable=False)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["org_id"], ["organizations.id"], name=op.f(f"fk_{table}_org_id_organizations")
    )


def upgrade() -> None:
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.String(length=36), nullable=False),
        _org(),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("names", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        _org_fk("kb_categories"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("org_id", "slug", name=op.f("uq_kb_categories_org_id_slug")),
    )
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.String(length=36), nullable=False),
        _org(),
        sa.Column("category_id", sa.String(length=36), nullable=False),
        sa.Column("slug", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("published_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_articles_category_id_kb_categories"),
        ),
        _org_fk("kb_articles"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
        sa.UniqueConstraint("org_id", "slug", name=op.f("uq_kb_articles_org_id_slug")),
    )
    op.create_index("ix_kb_articles_category", "kb_articles", ["category_id"])
    op.create_table(
        "kb_translations",
        sa.Column("id", sa.String(length=36), nullable=False),
        _org(),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_translations_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        _org_fk("kb_translations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_translations")),
        sa.UniqueConstraint(
            "article_id", "language", name=op.f("uq_kb_translations_article_id_language")
        ),
    )
    op.create_table(
        "kb_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _org(),
        sa.Column("translation_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        _org_fk("kb_versions"),
        sa.ForeignKeyConstraint(
            ["translation_id"],
            ["kb_translations.id"],
            name=op.f("fk_kb_versions_translation_id_kb_translations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_versions")),
        sa.UniqueConstraint(
            "translation_id", "number", name=op.f("uq_kb_versions_translation_id_number")
        ),
    )
    op.create_table(
        "kb_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _org(),
        sa.Column("article_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_feedback_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        _org_fk("kb_feedback"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_feedback")),
    )
    op.create_index("ix_kb_feedback_article", "kb_feedback", ["org_id", "article_id", "language"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE kb_search USING fts5(translation_id UNINDEXED,"
            " org_id UNINDEXED, article_id UNINDEXED, language UNINDEXED, title, body,"
            " tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE kb_search (translation_id VARCHAR(36) PRIMARY KEY"
            " REFERENCES kb_translations (id) ON DELETE CASCADE,"
            " org_id VARCHAR(36) NOT NULL, article_id VARCHAR(36) NOT NULL,"
            " language VARCHAR(8) NOT NULL, document TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_kb_search_document ON kb_search USING gin (document)")
        op.execute("CREATE INDEX ix_kb_search_org_language ON kb_search (org_id, language)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kb_search")
    op.drop_index("ix_kb_feedback_article", table_name="kb_feedback")
    op.drop_table("kb_feedback")
    op.drop_table("kb_versions")
    op.drop_table("kb_translations")
    op.drop_index("ix_kb_articles_category", table_name="kb_articles")
    op.drop_table("kb_articles")
    op.drop_table("kb_categories")
