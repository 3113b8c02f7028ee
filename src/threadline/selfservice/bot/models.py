"""The bot's stored side: each thread's conversation with its flow state, and what each
conversation came to (deflected or handed off), kept for reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, OrgOwned, new_id, utcnow


class BotConversation(OrgOwned, Base):
    """One run of a flow on a thread. `state` is the engine's State as JSON; `last_seq` the
    last customer entry it read (a message is never read twice); `turn` counts the engine's
    turns, so a deadline timer set before a later turn knows it is stale."""

    __tablename__ = "bot_conversations"
    __table_args__ = (Index("ix_bot_conversations_thread_done", "thread_id", "done"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    endpoint_id: Mapped[str | None] = mapped_column(ForeignKey("endpoints.id"), default=None)
    channel: Mapped[str] = mapped_column(String(16))
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int]
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seq: Mapped[int]  # the timeline range the conversation covers
    last_seq: Mapped[int]
    turn: Mapped[int] = mapped_column(default=0)
    done: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)  # handoff|end
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotOutcome(OrgOwned, Base):
    """What one finished conversation came to, for reports: `deflected` (the bot solved
    it: per intent and per article), `handed_off` (to which queue, why) or `ended`."""

    __tablename__ = "bot_outcomes"
    __table_args__ = (Index("ix_bot_outcomes_org_at", "org_id", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("bot_conversations.id"), unique=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id"))
    channel: Mapped[str] = mapped_column(String(16))
    flow_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # deflected|handed_off|ended
    reason: Mapped[str | None] = mapped_column(String(100), default=None)
    intent: Mapped[str | None] = mapped_column(String(100), default=None)
    confidence: Mapped[float | None] = mapped_column(default=None)
    article_id: Mapped[str | None] = mapped_column(String(64), default=None)
    contact_id: Mapped[str | None] = mapped_column(String(36), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)
