"""The reasons API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

LANGUAGES = ("en", "pt", "es", "ru", "el")
CODE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE, description="lower case: letters, digits, _ . -")]
Value = Annotated[str, Field(min_length=1, max_length=100)]
Label = Annotated[str, Field(min_length=1, max_length=200)]


def _labels(labels: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(labels) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unknown language(s) {unknown}; use {', '.join(LANGUAGES)}")
    cleaned = {code: text.strip() for code, text in labels.items() if text.strip()}
    if "en" not in cleaned:
        raise ValueError("give at least the English label (en)")
    return cleaned


def _distinct(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v.strip()))


Labels = Annotated[dict[str, Label], AfterValidator(_labels)]
Values = Annotated[list[Value], Field(max_length=200), AfterValidator(_distinct)]


class ReasonIn(BaseModel):
    """One reason of the taxonomy. `parent` names a top-level reason (two levels at most);
    `intents` (the bot's), `ivr` (IVR options' and the app's reasons) and `wrapup` (agents'
    wrap-up codes) are the values that mean this reason: each value means one reason."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    labels: Labels
    parent: Code | None = None
    intents: Values = Field(default_factory=list)
    ivr: Values = Field(default_factory=list)
    wrapup: Values = Field(default_factory=list)


class ReasonPatch(BaseModel):
    """Change a reason: the fields given replace the stored ones (`parent: null` makes it
    top-level)."""

    model_config = ConfigDict(extra="forbid")

    labels: Labels | None = None
    parent: Code | None = None
    intents: Values | None = None
    ivr: Values | None = None
    wrapup: Values | None = None


class ReasonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    labels: dict[str, str]
    parent: str | None
    intents: list[str]
    ivr: list[str]
    wrapup: list[str]
    updated_at: datetime


class TrendRow(BaseModel):
    start: str = Field(description="the interval's start in the asked time zone")
    reason: str
    count: int


class TrendsOut(BaseModel):
    start: str
    end: str
    tz: str
    interval: str
    rows: list[TrendRow]
    totals: dict[str, int]


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reason: str
    day: str
    count: int
    expected: float
    limit: float
    at: datetime
