"""API shapes of the chat widget."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from threadline.journey.schemas import CustomerWaitOut
from threadline.threads.schemas import EventOut


class SessionIn(BaseModel):
    visitor_token: str | None = Field(default=None, max_length=500)
    locale: str | None = Field(default=None, max_length=35, description="navigator.language")
    page_url: str | None = Field(default=None, max_length=2000)
    timezone: str | None = Field(
        default=None, max_length=64, description="the visitor's IANA time zone"
    )


class AgentBrief(BaseModel):
    id: str
    name: str


class SessionOut(BaseModel):
    visitor_token: str
    customer_id: str
    customer_name: str | None
    thread_id: str | None
    language: str
    strings: dict[str, str] = Field(description="the widget's texts in the visitor's language")
    color: str | None = Field(default=None, description="the widget's colour (#rrggbb), if set")
    events: list[EventOut]
    agent: AgentBrief | None
    read_seq: int = Field(description="what the agent has read, up to this seq")
    open: bool = Field(default=True, description="whether agents are working now")
    opens_at: datetime | None = Field(default=None, description="next opening, when closed")
    wait: CustomerWaitOut | None = Field(
        default=None, description="their place in line, callback offer or callback, if any"
    )


class IdentifyIn(BaseModel):
    """Who the host page says the visitor is. With `hash`, every field is vouched for by
    the site's server, or the frame is refused; without it, every field is a claim."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40, description="E.164, e.g. +351…")
    hash: str | None = Field(
        default=None,
        max_length=128,
        description="hex HMAC-SHA256 of the canonical identity (docs/widget.md)",
    )


class WidgetBookIn(BaseModel):
    window_start: AwareDatetime
    phone: str | None = Field(
        default=None, min_length=3, max_length=32, description="the number to call"
    )
