"""API shapes of the bot: the summary card an agent sees first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TranscriptLine(BaseModel):
    at: datetime
    by: str = Field(description="customer or bot")
    text: str


class DeflectionRow(BaseModel):
    """Finished bot conversations of one outcome, intent and article."""

    outcome: str = Field(description="deflected, handed_off or ended")
    intent: str | None
    article_id: str | None
    count: int


class BotSummary(BaseModel):
    """What the bot learnt before it handed the customer over (contact.context.bot)."""

    contact_id: str
    flow: str | None = None
    reason: str | None = None
    language: str | None = None
    intent: str | None = None
    confidence: float | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = None
    summary: str = ""
    from_seq: int | None = Field(default=None, description="the transcript's timeline range")
    to_seq: int | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list)
