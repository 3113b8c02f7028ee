"""The knowledge base's tables: categories, articles, one translation per language with
every version kept, and "did this help?" feedback. The search index beside them is not a
model: its shape depends on the database (search.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class KbCategory(OrgOwned, Base):
    """A group of articles; `names` per language ({"en": "Cards", "pt": "Cartões"})."""

    __tablename__ = "kb_categories"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    slug: Mapped[str] = mapped_column(String(80))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbArticle(OrgOwned, Base):
    """An article: `draft` (only staff see it) or `published` (the help center, the widget
    and search show its translations)."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("org_id", "slug"),
        Index("ix_kb_articles_category", "category_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    category_id: Mapped[str] = mapped_column(ForeignKey("kb_categories.id"))
    slug: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="draft")  # draft|published
    position: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbTranslation(OrgOwned, Base):
    """An article in one language, as its latest version says (`version`)."""

    __tablename__ = "kb_translations"
    __table_args__ = (UniqueConstraint("article_id", "language"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1)
    updated_by: Mapped[str | None] = mapped_column(String(36), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbVersion(OrgOwned, Base):
    """One saved version of a translation: who, when, what (never changed or removed)."""

    __tablename__ = "kb_versions"
    __table_args__ = (UniqueConstraint("translation_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    translation_id: Mapped[str] = mapped_column(
        ForeignKey("kb_translations.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbFeedback(OrgOwned, Base):
    """One "did this help?" answer about an article in a language, from where it was read
    (`source`: help_center|widget|app)."""

    __tablename__ = "kb_feedback"
    __table_args__ = (Index("ix_kb_feedback_article", "org_id", "article_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    article_id: Mapped[str] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    helpful: Mapped[bool]
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
