"""API shapes for customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    value: str
    verified: bool


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    email: str | None
    phone: str | None
    language: str | None
    timezone: str | None
    attributes: dict[str, Any]
    created_at: datetime
    identities: list[IdentityOut] = Field(default_factory=list)


class CustomerCreate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    timezone: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class CustomerUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")
    timezone: str | None = None
    attributes: dict[str, Any] | None = None

    @field_validator("attributes")
    @classmethod
    def _not_null(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        if value is None:
            raise ValueError("omit attributes to keep them; send {} to clear them")
        return value
