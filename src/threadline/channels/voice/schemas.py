"""API shapes of the voice channel."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class VoiceTokenOut(BaseModel):
    """An access token for the agent's softphone (Twilio Voice SDK)."""

    token: str = Field(description="the JWT to give the Voice SDK's Device")
    identity: str = Field(description="the softphone's client identity, which calls ring")
    expires_at: datetime
    endpoint_id: str = Field(description="the voice number whose account issued it")


class HoldOut(BaseModel):
    """The call's caller on hold or not, as the provider answered."""

    contact_id: str
    hold: bool


class CoachOut(BaseModel):
    """A supervisor's place on a call: `mode` listen|whisper|barge|leave, and their leg."""

    mode: str
    call_sid: str | None
