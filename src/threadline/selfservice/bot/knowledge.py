"""What the bot asks the knowledge base: one answer for a question, in a language, and the
knowledge base's own articles behind it (selfservice/knowledge: published articles, searched
with the same full text search as the help center)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from threadline.context import Context
from threadline.selfservice.knowledge import rendering
from threadline.selfservice.knowledge.services import org_slug, search

ANSWER_CHARS = 700  # what a chat bubble or two SMS carry; the link has the rest


@dataclass(frozen=True, slots=True)
class KnowledgeAnswer:
    article_id: str
    title: str
    text: str  # what the bot says (plain text, a channel shows it as is)
    url: str | None = None


class KnowledgeSource(Protocol):
    async def answer(self, org_id: str, question: str, language: str) -> KnowledgeAnswer | None:
        """The published article that best answers `question` in `language`, or None."""
        ...


class NoKnowledge:
    """No knowledge base: nothing is ever found."""

    async def answer(self, org_id: str, question: str, language: str) -> KnowledgeAnswer | None:
        return None


class KnowledgeBase:
    """The organisation's published articles: the best match for the question, its text
    (up to ANSWER_CHARS, cut at a paragraph when it can be) and its help-center link."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def answer(self, org_id: str, question: str, language: str) -> KnowledgeAnswer | None:
        hits = await search(self._ctx, org_id, language, question, limit=1)
        if not hits:
            return None
        hit = hits[0]
        slug = await org_slug(self._ctx, org_id)
        base = self._ctx.settings.base_url.rstrip("/")
        url = f"{base}/help/{slug}/{hit.translation.language}/articles/{hit.article.slug}"
        return KnowledgeAnswer(
            article_id=hit.article.id,
            title=hit.translation.title,
            text=_excerpt(rendering.to_text(hit.translation.body)),
            url=url,
        )


def _excerpt(text: str) -> str:
    text = text.strip()
    if len(text) <= ANSWER_CHARS:
        return text
    cut = text.rfind("\n\n", 0, ANSWER_CHARS)
    if cut < ANSWER_CHARS // 3:
        cut = text.rfind(" ", 0, ANSWER_CHARS - 1)
    return text[:cut].rstrip() + ("" if text[cut:].startswith("\n\n") else " …")
