"""API shapes of supervision: live conversations and what a supervisor does to them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from threadline.threads.schemas import EventOut


class Participant(BaseModel):
    """A supervisor who joined a conversation (and has not left it)."""

    agent_id: str
    name: str | None


class LiveConversation(BaseModel):
    """A thread with an open contact (queued, offered or assigned), as supervisors see it."""

    thread_id: str
    contact_id: str
    customer_id: str
    customer_name: str | None
    channel: str
    status: str = Field(description="the contact's: queued, offered or assigned")
    queue_id: str
    queue_name: str
    agent_id: str | None
    agent_name: str | None
    enqueued_at: datetime
    accepted_at: datetime | None
    updated_at: datetime
    participants: list[Participant]


class MonitorOut(BaseModel):
    """A live conversation opened read-only: its facts and its timeline so far."""

    conversation: LiveConversation
    events: list[EventOut]


class WhisperIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class ReassignIn(BaseModel):
    agent_id: str = Field(min_length=1, max_length=64, description="the agent to hand it to")
