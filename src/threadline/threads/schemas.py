"""API shapes for threads and their timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from threadline.boundary import JsonInt


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    thread_id: str
    seq: int
    kind: str = Field(
        description="message, note, queued, assigned, ...; `reaction` and `edit` name the "
        "message they are about in data.relates_to (event_id, seq, provider_msg_id); a "
        "reaction's data.emoji is empty when it is taken back"
    )
    channel: str | None
    author_type: str
    author_id: str | None
    author_name: str | None
    body: str | None
    data: dict[str, Any]
    client_msg_id: str | None
    contact_id: str | None
    created_at: datetime
    delivery: str | None = Field(
        default=None,
        description="for messages sent through a provider: queued, sending, sent, delivered, "
        "read, failed or unknown",
    )


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
    queue_id: str | None = Field(default=None, description="the queue of its latest contact")
    channel: str | None = Field(default=None, description="the channel it last came in on")
    snoozed_until: datetime | None = Field(
        default=None, description="set aside by its agent until then (the inbox)"
    )


class TemplateIn(BaseModel):
    """An approved message template (WhatsApp), e.g. to write outside the 24-hour window."""

    name: str = Field(pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(default="en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    params: list[str] = Field(
        default_factory=list, max_length=20, description="the body's {{1}}, {{2}}, ... in order"
    )


class AttachmentRef(BaseModel):
    """A file uploaded with POST /api/v1/attachments, as that answer gave it."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=127, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: JsonInt | None = Field(default=None, ge=0)


class MessageIn(BaseModel):
    body: str | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="required without template or attachments",
    )
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=10, description="files to send (provider channels)"
    )
    client_msg_id: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, description="reply channel; default: the contact's")
    template: TemplateIn | None = Field(
        default=None, description="send this approved template instead of free text (whatsapp)"
    )

    @model_validator(mode="after")
    def _body_or_template(self) -> MessageIn:
        if self.body is None and self.template is None and not self.attachments:
            raise ValueError("a message needs a body, a template or attachments")
        if self.template is not None and self.attachments:
            raise ValueError("a template goes without attachments")
        return self


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


# seq columns are 32-bit integers; a larger number cannot even be compared on SQLite
MAX_SEQ = 2**31 - 1


class ReadIn(BaseModel):
    seq: JsonInt = Field(ge=0, le=MAX_SEQ)
