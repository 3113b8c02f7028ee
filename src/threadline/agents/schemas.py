"""API shapes for agents and presence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
)

from threadline.boundary import JsonInt, not_null
from threadline.channel_kinds import CHANNELS

Presence = Literal["available", "busy", "away", "offline"]
Role = Literal["agent", "supervisor", "admin"]


def _known_channels(capacity: dict[str, int]) -> dict[str, int]:
    unknown = set(capacity) - set(CHANNELS)
    if unknown:
        raise ValueError(f"unknown channel(s) {sorted(unknown)}; known: {', '.join(CHANNELS)}")
    return capacity


Capacity = Annotated[dict[str, JsonInt], AfterValidator(_known_channels)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]  # "pt", "pt-BR"


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    name: str
    role: Role
    skills: dict[str, int]
    languages: list[str]
    tier: int
    capacity: dict[str, int]
    max_total: int | None
    presence: Presence
    presence_since: datetime
    timezone: str
    active: bool = True
    team_id: str | None = None


class AgentCreated(AgentOut):
    invite_url: str | None = Field(
        default=None,
        description="created without a password: the link that lets them set theirs (once)",
    )


class InviteOut(BaseModel):
    invite_url: str = Field(description="single use; expires")
    expires_at: datetime


class AgentCreate(BaseModel):
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="omit it to invite them: the answer carries a link that sets it",
    )
    role: Role = "agent"
    skills: dict[str, JsonInt] = Field(default_factory=dict)
    languages: list[Language] = Field(default_factory=lambda: ["en"])
    tier: JsonInt = Field(default=1, ge=1, le=5)
    capacity: Capacity = Field(default_factory=lambda: {"chat": 3})
    max_total: JsonInt | None = Field(default=None, ge=1, le=1000)
    timezone: str = "UTC"
    team_id: str | None = Field(default=None, max_length=36)


class AgentUpdate(BaseModel):
    # null is refused where the column is NOT NULL: the document offers the type alone
    name: str | None = Field(default=None, min_length=1, max_length=200, json_schema_extra=not_null)
    role: Role | None = Field(default=None, json_schema_extra=not_null)
    skills: dict[str, JsonInt] | None = Field(default=None, json_schema_extra=not_null)
    languages: list[Language] | None = Field(default=None, json_schema_extra=not_null)
    tier: JsonInt | None = Field(default=None, ge=1, le=5, json_schema_extra=not_null)
    capacity: Capacity | None = Field(default=None, json_schema_extra=not_null)
    max_total: JsonInt | None = Field(default=None, ge=1, le=1000)
    active: bool | None = Field(default=None, strict=True, json_schema_extra=not_null)
    team_id: str | None = Field(default=None, max_length=36, description="null: no team")

    @field_validator("name", "role", "skills", "languages", "tier", "capacity", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Omit a field to leave it as it is; null would break a NOT NULL column.
        if value is None:
            raise ValueError("omit the field to keep it; it cannot be null")
        return value


class PresenceIn(BaseModel):
    presence: Presence


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    supervisor_id: str | None = Field(default=None, max_length=36)


class TeamPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100, json_schema_extra=not_null)
    supervisor_id: str | None = Field(default=None, max_length=36, description="null: none")

    @field_validator("name")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("omit the field to keep it; it cannot be null")
        return value


class TeamOut(BaseModel):
    id: str
    name: str
    supervisor_id: str | None
    member_ids: list[str]
