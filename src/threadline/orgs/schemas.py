"""API shapes of an organisation's settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from threadline.boundary import not_null

LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1, e.g. pt")]


class OrgSettingsOut(BaseModel):
    name: str
    slug: str
    timezone: str = Field(description="IANA time zone, e.g. Europe/Lisbon")
    phone_region: str | None = Field(
        description="ISO 3166 region national-format numbers are read in, e.g. PT"
    )
    languages: list[str] = Field(description="languages offered to customers, the default first")
    retention_days: int | None


class OrgSettingsPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200, json_schema_extra=not_null)
    timezone: str | None = Field(
        default=None, min_length=1, max_length=64, json_schema_extra=not_null
    )
    phone_region: str | None = Field(
        default=None, max_length=2, description="null: international numbers only"
    )
    languages: list[LanguageCode] | None = Field(
        default=None, min_length=1, max_length=20, json_schema_extra=not_null
    )

    @field_validator("name", "timezone", "languages")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("omit the field to keep it; it cannot be null")
        return value
