"""API shapes for login and tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)
    org: str | None = Field(
        default=None, description="organisation slug, if several share an email"
    )


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class MeOut(BaseModel):
    agent_id: str
    org_id: str
    role: str
    name: str


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    token: str = Field(description="shown once; store it now")


class TokenRowOut(BaseModel):
    """A token as listed: never the token itself (only its digest is stored)."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None


class InviteCheckIn(BaseModel):
    token: str = Field(min_length=1, max_length=500)


class InvitedOut(BaseModel):
    name: str
    email: str
    organisation: str


class InviteAcceptIn(BaseModel):
    token: str = Field(min_length=1, max_length=500)
    password: str = Field(min_length=8, max_length=200)
