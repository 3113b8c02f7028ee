"""The surveys API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from threadline.boundary import JsonInt

Channel = Literal["chat", "sms", "whatsapp", "telegram", "messenger", "email", "voice"]
Kind = Literal["csat", "ces"]
ALL_CHANNELS: list[Channel] = [
    "chat",
    "email",
    "messenger",
    "sms",
    "telegram",
    "voice",
    "whatsapp",
]
BOTH: list[Kind] = ["csat", "ces"]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("each may be named once")
    return values


class SettingsIn(BaseModel):
    """An organisation's surveys: on or off, on which channels, which questions (in this
    order), whether a comment is asked, at most one survey per customer every `every_days`
    days, how long a reply by message (`reply_hours`) and an email's link (`link_days`)
    count, and the approved WhatsApp template (with one button per score, or asking for a
    number) sent outside WhatsApp's 24-hour window (none: no survey there then)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(strict=True)  # true or false, not 0 or "yes"
    channels: Annotated[list[Channel], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(ALL_CHANNELS)
    )
    questions: Annotated[list[Kind], AfterValidator(_unique)] = Field(
        default_factory=lambda: list(BOTH), min_length=1
    )
    comment: bool = Field(default=True, strict=True)
    every_days: JsonInt = Field(default=7, ge=0, le=365)
    reply_hours: JsonInt = Field(default=24, ge=1, le=168)
    link_days: JsonInt = Field(default=7, ge=1, le=60)
    whatsapp_template: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[a-z0-9_]+$"
    )


class SettingsOut(SettingsIn):
    model_config = ConfigDict(from_attributes=True)


class AnswerIn(BaseModel):
    """Answers to a survey: any of its questions not answered yet, and an optional comment
    given with the last of them. Answering again what is already stored changes nothing."""

    model_config = ConfigDict(extra="forbid")

    csat: int | None = Field(default=None, ge=1, le=5)
    ces: int | None = Field(default=None, ge=1, le=7)
    comment: str | None = Field(default=None, max_length=2000)


class SurveyOut(BaseModel):
    """A survey as its customer may see it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str
    step: str
    questions: list[str]
    csat: int | None
    ces: int | None


class ScoreSummary(BaseModel):
    responses: int
    mean: float | None


class CsatSummary(ScoreSummary):
    satisfied_share: float | None = Field(description="share of answers of 4 or 5")


class CesSummary(ScoreSummary):
    easy_share: float | None = Field(description="share of answers of 5, 6 or 7")


class ChannelSummary(BaseModel):
    channel: str
    sent: int
    answered: int
    csat: CsatSummary
    ces: CesSummary


class SummaryOut(BaseModel):
    """Surveys sent in the period and what their answers say (answers counted by when they
    came in): CSAT is the share of 4-5, CES the mean (and the share of 5-7)."""

    from_: datetime = Field(alias="from")
    to: datetime
    sent: int
    answered: int
    csat: CsatSummary
    ces: CesSummary
    by_channel: list[ChannelSummary]

    model_config = ConfigDict(populate_by_name=True)
