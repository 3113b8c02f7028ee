"""The knowledge base's API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Language = Literal["en", "pt", "es", "ru", "el"]
Slug = Annotated[
    str, StringConstraints(min_length=1, max_length=80, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(max_length=100_000)]
Source = Literal["help_center", "widget", "app"]


class CategoryIn(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    slug: Slug
    names: dict[Language, Title] = Field(description="the category's name per language")
    position: int = 0


class CategoryPatch(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    slug: Slug | None = None
    names: dict[Language, Title] | None = None
    position: int | None = None


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    slug: str
    names: dict[str, str]
    position: int


class ArticleIn(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    category_id: str = Field(max_length=36)
    slug: Slug
    position: int = 0


class ArticlePatch(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    category_id: str | None = Field(default=None, max_length=36)
    slug: Slug | None = None
    position: int | None = None


class TranslationIn(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    title: Title
    body: Body = Field(description="Markdown; raw HTML is shown as text")


class TranslationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    language: str
    title: str
    body: str
    version: int
    updated_by: str | None
    updated_at: datetime


class ArticleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    category_id: str
    slug: str
    status: Literal["draft", "published"]
    position: int
    published_at: datetime | None
    updated_at: datetime
    translations: list[TranslationOut] = []


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    title: str
    body: str
    author_id: str | None
    created_at: datetime


class DiffOut(BaseModel):
    from_version: int
    to_version: int
    diff: str = Field(description="unified diff of title and body ('' when the same)")


class HitOut(BaseModel):
    article_id: str
    slug: str
    language: str
    title: str
    title_html: str = Field(description="the title, escaped, matching words in <mark>")
    snippet_html: str = Field(description="the best passage, escaped, matches in <mark>")
    url: str = Field(description="the article in the public help center")
    rank: float


class ArticleView(BaseModel):
    """A published article as a reader gets it (the widget, the app)."""

    article_id: str
    slug: str
    language: str
    title: str
    html: str = Field(description="the body rendered from Markdown, sanitised")
    url: str
    category: str


class FeedbackIn(BaseModel):
    model_config = ConfigDict(strict=True)  # JSON types as documented: no 1 for true

    helpful: bool
    language: Language


class FeedbackOut(BaseModel):
    recorded: bool = True
