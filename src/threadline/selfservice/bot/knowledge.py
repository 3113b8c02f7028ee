"""What the bot asks the knowledge base: one answer for a question, in a language. The
knowledge base (selfservice/knowledge) implements it; until one is registered the bot's
answer steps find nothing and take the flow's `missing` path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
