"""API shapes for threads and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    thread_id: str
    seq: int
    kind: str
    channel: str | None
    author_type: str
    author_id: str | None
    author_name: str | None
    body: str | None
    data: dict[str, Any]
    client_msg_id: str | None
    contact_id: str | None
    created_at: datetime


class ThreadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    customer_id: str
    status: str
    subject: str | None
    language: str | None
    assigned_agent_id: str | None
    last_seq: int
    customer_read_seq: int
    agent_read_seq: int
    created_at: datetime
    updated_at: datetime


class MessageIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)
    client_msg_id: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, description="reply channel; default: the contact's")


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


# seq columns are 32-bit integers; a larger number cannot even be compared on SQLite
MAX_SEQ = 2**31 - 1


class ReadIn(BaseModel):
    seq: int = Field(ge=0, le=MAX_SEQ)
