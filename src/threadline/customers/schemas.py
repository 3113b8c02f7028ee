"""API shapes for customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from threadline.boundary import not_null


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
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
    erased_at: datetime | None = Field(
        default=None, description="when the customer's personal data was erased, if it was"
    )
    identities: list[IdentityOut] = Field(default_factory=list)


class IdentityIn(BaseModel):
    """An email or phone typed on the customer page; a phone in national format is read in
    the organisation's phone region."""

    kind: Literal["email", "phone"]
    value: str = Field(min_length=1, max_length=320)


class IdentityChange(BaseModel):
    value: str = Field(min_length=1, max_length=320)


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
    attributes: dict[str, Any] | None = Field(default=None, json_schema_extra=not_null)

    @field_validator("attributes")
    @classmethod
    def _not_null(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        if value is None:
            raise ValueError("omit attributes to keep them; send {} to clear them")
        return value


class LinkedCustomerOut(CustomerOut):
    """The customer a record was linked into, and the link's id (to undo it)."""

    link_id: int


class AgentRef(BaseModel):
    id: str
    name: str | None


class LinkMoved(BaseModel):
    identities: int
    threads: int
    contacts: int


class LinkOut(BaseModel):
    """A link (merge) of another customer record into this one."""

    id: int
    target_id: str
    source_id: str
    source_name: str | None
    linked_at: datetime
    linked_by: AgentRef | None = Field(
        description="the agent who linked; null for an automatic link (verified widget identify)"
    )
    automatic: bool
    moved: LinkMoved
    fields: list[str] = Field(description="profile fields copied from the source")
    undoable: bool
    undone_at: datetime | None
    undone_by: AgentRef | None
    unlink_id: int | None


class UnlinkOut(BaseModel):
    """What undoing a link did."""

    link_id: int
    unlink_id: int
    source_id: str
    target_id: str
    moved: LinkMoved
    restored_fields: list[str] = Field(description="copied fields put back as they were")
    kept_fields: list[str] = Field(description="copied fields changed since, so kept")
