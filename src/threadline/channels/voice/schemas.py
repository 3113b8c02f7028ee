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
