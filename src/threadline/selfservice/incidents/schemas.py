"""The incidents API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

LANGUAGES = ("en", "pt", "es", "ru", "el")
Term = Annotated[str, Field(min_length=2, max_length=100)]
Text = Annotated[str, Field(min_length=1, max_length=1000)]


def _known_languages(messages: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(messages) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}; use {', '.join(LANGUAGES)}")
    return {code: text.strip() for code, text in messages.items() if text.strip()}


Messages = Annotated[dict[str, Text], AfterValidator(_known_languages)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-12-06T10:00:00Z)")
    return value


When = Annotated[datetime | None, AfterValidator(_aware)]


class IncidentIn(BaseModel):
    """Declare an incident. `messages` is what every channel says while it lasts (one text
    per language; customers in another language get the first of: the organisation's
    language, English, any). `keywords` and `products` are the words customers use when
    they ask about it; `intents` the intents that mean it."""

    title: str = Field(min_length=3, max_length=200)
    messages: Messages = Field(min_length=1)
    resolution_messages: Messages = Field(default_factory=dict)
    products: list[Term] = Field(default_factory=list, max_length=50)
    regions: list[Term] = Field(default_factory=list, max_length=50)
    keywords: list[Term] = Field(default_factory=list, max_length=100)
    intents: list[Term] = Field(default_factory=list, max_length=100)
    starts_at: When = None  # None: now
    expected_end_at: When = None

    @model_validator(mode="after")
    def _order(self) -> IncidentIn:
        if not self.messages:
            raise ValueError("messages: give the text customers see in at least one language")
        if self.starts_at and self.expected_end_at and self.expected_end_at <= self.starts_at:
            raise ValueError("expected_end_at must be after starts_at")
        return self


class IncidentPatch(BaseModel):
    """Change an active incident; fields left out stay."""

    title: str | None = Field(default=None, min_length=3, max_length=200)
    messages: Messages | None = None
    resolution_messages: Messages | None = None
    products: list[Term] | None = Field(default=None, max_length=50)
    regions: list[Term] | None = Field(default=None, max_length=50)
    keywords: list[Term] | None = Field(default=None, max_length=100)
    intents: list[Term] | None = Field(default=None, max_length=100)
    expected_end_at: When = None


class ResolveIn(BaseModel):
    """Resolve an incident: what to tell the customers waiting to hear (per language;
    left out: the resolution messages given before, else a standard text)."""

    resolution_messages: Messages | None = None


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    status: Literal["active", "resolved"]
    messages: dict[str, str]
    resolution_messages: dict[str, str]
    products: list[str]
    regions: list[str]
    keywords: list[str]
    intents: list[str]
    starts_at: datetime
    expected_end_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime


class NoticeCounts(BaseModel):
    """How many customers are to be, or were, told about an incident."""

    followers: int
    affected: int
    waiting: int
    told: int
    skipped: int
    threads: int


class IncidentDetail(IncidentOut):
    counts: NoticeCounts


class AffectedIn(BaseModel):
    """Customers the company knows are affected: by id, phone (E.164) or email, up to 10,000
    per call. `tell_now`: tell them of the outage at once, before they ask (on the channel
    they last wrote on, once, with their consent); either way they are told when it is
    fixed."""

    customer_ids: list[Annotated[str, Field(max_length=36)]] = Field(default_factory=list)
    phones: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list)
    emails: list[Annotated[str, Field(max_length=320)]] = Field(default_factory=list)
    tell_now: bool = False

    @model_validator(mode="after")
    def _some(self) -> AffectedIn:
        total = len(self.customer_ids) + len(self.phones) + len(self.emails)
        if total == 0:
            raise ValueError("give customer_ids, phones or emails")
        if total > 10_000:
            raise ValueError("at most 10,000 customers per call")
        return self


class AffectedOut(BaseModel):
    matched: int
    added: int
    unknown: list[str]


class Banner(BaseModel):
    """What a customer's screen shows about an incident in force, in their language."""

    id: str
    title: str
    message: str
    starts_at: datetime
    expected_end_at: datetime | None


class FollowIn(BaseModel):
    incident_id: str = Field(max_length=36)


class FollowOut(BaseModel):
    incident_id: str
    following: bool
    message: str
