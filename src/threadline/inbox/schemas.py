"""API shapes of the inbox: views, search, labels, canned replies, macros, snooze."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from threadline.boundary import JsonInt

View = Literal["mine", "unassigned", "queues", "snoozed", "resolved", "all"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "queues", "snoozed", "resolved", "all")
SHORTCUT = r"^[a-z0-9][a-z0-9_-]{0,39}$"
COLOUR = r"^#[0-9a-fA-F]{6}$"


class LabelIn(BaseModel):
    name: str = Field(min_length=1, max_length=60, pattern=r"\S")
    colour: str = Field(default="#6b7280", pattern=COLOUR, description="#rrggbb")


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    colour: str


class InboxRow(BaseModel):
    """One thread as an inbox view lists it."""

    id: str
    customer_id: str
    customer_name: str | None
    status: str
    assigned_agent_id: str | None
    queue_id: str | None
    channel: str | None
    snoozed_until: datetime | None
    updated_at: datetime
    last_seq: int
    agent_read_seq: int
    preview: str | None = Field(description="the latest message, cut short")
    labels: list[LabelOut]


class InboxPage(BaseModel):
    rows: list[InboxRow]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class InboxCounts(BaseModel):
    mine: int
    unassigned: int
    queues: int
    snoozed: int
    resolved: int
    all: int


class MessageHit(BaseModel):
    thread_id: str
    event_id: int
    kind: str
    author_type: str
    author_name: str | None
    snippet: str
    created_at: datetime
    customer_id: str
    customer_name: str | None
    status: str


class CustomerHit(BaseModel):
    customer_id: str
    name: str | None
    email: str | None
    phone: str | None
    thread_id: str | None = Field(description="their latest conversation, to open")


class SearchOut(BaseModel):
    messages: list[MessageHit]
    customers: list[CustomerHit]


class CannedIn(BaseModel):
    shortcut: str = Field(pattern=SHORTCUT, description="typed after / in the composer")
    title: str = Field(min_length=1, max_length=120, pattern=r"\S")
    body: str = Field(
        min_length=1,
        max_length=5000,
        description="may name {customer.name}, {customer.first_name}, {customer.email}, "
        "{customer.phone}, {agent.name}, {agent.first_name}",
    )
    personal: bool = Field(
        default=False, strict=True, description="only mine (else the organisation's)"
    )


class CannedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    shortcut: str
    title: str
    body: str
    owner_agent_id: str | None
    updated_at: datetime


class Rendered(BaseModel):
    text: str


class MacroIn(BaseModel):
    name: str = Field(min_length=1, max_length=80, pattern=r"\S")
    reply: str | None = Field(default=None, min_length=1, max_length=5000)
    label_ids: list[str] = Field(default_factory=list, max_length=20)
    then: Literal["resolve", "snooze"] | None = None
    resolve_reason: str | None = Field(default=None, min_length=1, max_length=100)
    snooze_minutes: JsonInt | None = Field(default=None, ge=1, le=60 * 24 * 90)

    @model_validator(mode="after")
    def _complete(self) -> MacroIn:
        if self.then == "resolve" and not self.resolve_reason:
            raise ValueError("a macro that resolves needs resolve_reason")
        if self.then == "snooze" and not self.snooze_minutes:
            raise ValueError("a macro that snoozes needs snooze_minutes")
        if not (self.reply or self.label_ids or self.then):
            raise ValueError("a macro does at least one thing: reply, label, resolve or snooze")
        return self


class MacroOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    reply: str | None
    label_ids: list[str]
    then: str | None
    resolve_reason: str | None
    snooze_minutes: int | None


Preset = Literal["1h", "3h", "tomorrow", "next_week"]


def _iso_text(value: Any) -> Any:
    """A time is ISO 8601 text: a number is not taken for a Unix time."""
    if value is not None and not isinstance(value, str):
        raise ValueError("give the time as ISO 8601 text with its offset")
    return value


class SnoozeIn(BaseModel):
    """Until when: a preset (in the agent's time zone: tomorrow and next week mean 09:00),
    an instant with its offset, or a wall-clock time in the agent's time zone."""

    preset: Preset | None = None
    until: Annotated[AwareDatetime | None, BeforeValidator(_iso_text)] = Field(
        default=None, description="ISO 8601 with an offset"
    )
    local: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$",
        description="YYYY-MM-DDTHH:MM in the agent's time zone",
    )

    @model_validator(mode="after")
    def _one(self) -> SnoozeIn:
        if sum(x is not None for x in (self.preset, self.until, self.local)) != 1:
            raise ValueError("give exactly one of preset, until or local")
        if self.local is not None:
            try:
                datetime.fromisoformat(self.local)
            except ValueError:
                raise ValueError("local is not a date and time") from None
        return self


class ReopenIn(BaseModel):
    queue_id: str | None = Field(
        default=None, max_length=36, description="default: the queue it was last in"
    )
