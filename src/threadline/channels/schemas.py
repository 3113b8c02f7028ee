"""API shapes of channel endpoints. The provider secret is write-only: responses only say
whether one is set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from threadline.channel_kinds import ChannelName


class EndpointIn(BaseModel):
    channel: ChannelName
    key: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9+@._-]+$",
        description="public id: a widget key, an E.164 number (sms), an address",
    )
    name: str = Field(min_length=1, max_length=200)
    queue_id: str | None = Field(default=None, max_length=36)
    secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,  # Meta access tokens run to several hundred characters
        description="provider credential (e.g. the Twilio auth token); never shown back",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="the channel's settings, e.g. sms: account_sid, api_base; no secrets here",
    )


class EndpointPatch(BaseModel):
    """What an admin may change on an endpoint; fields left out stay as they are. A
    secret sent replaces the stored one (it is never shown back)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    queue_id: str | None = Field(default=None, max_length=36)
    secret: str | None = Field(default=None, min_length=1, max_length=4000)
    settings: dict[str, Any] | None = None
    active: bool | None = Field(default=None, strict=True)


class WebhookOut(BaseModel):
    url: str


class EndpointOut(BaseModel):
    id: str
    channel: str
    key: str
    name: str
    queue_id: str | None
    settings: dict[str, Any]
    active: bool
    has_secret: bool
    created_at: datetime


class IdentitySecretOut(BaseModel):
    secret: str = Field(
        description="shown once: the widget's site signs visitors' identities with it"
    )
