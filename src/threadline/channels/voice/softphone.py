"""The agents' softphone: a Twilio Voice SDK access token, so the desktop's phone registers
under the client identity that `<Dial><Client>` rings when a call is connected to the agent.

Issued from a voice number whose settings name `api_key_sid` and `twiml_app_sid` and whose
secret holds the API key's secret (`{"auth_token": ..., "api_key_secret": ...}`); the secret
never leaves the server, only the signed token does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from threadline.auth.roles import Principal
from threadline.channels.models import Endpoint
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import VoiceCredentials
from threadline.channels.voice.schemas import VoiceTokenOut
from threadline.context import Context
from threadline.db import utcnow
from threadline.errors import Conflict, NotFound

TOKEN_TTL_S = 3600


def _issues_tokens(endpoint: Endpoint) -> bool:
    settings = endpoint.settings or {}
    return (
        bool(settings.get("api_key_sid"))
        and bool(settings.get("twiml_app_sid"))
        and VoiceCredentials.parse(endpoint.secret).api_key_secret is not None
    )


async def softphone_token(
    ctx: Context, principal: Principal, endpoint_id: str | None = None
) -> VoiceTokenOut:
    """A token for the calling agent's softphone, from the organisation's first voice number
    set up for softphones (or `endpoint_id`)."""
    query = select(Endpoint).where(
        Endpoint.org_id == principal.org_id,
        Endpoint.channel == "voice",
        Endpoint.active.is_(True),
    )
    if endpoint_id:
        query = query.where(Endpoint.id == endpoint_id)
    async with ctx.db.sessions() as session:
        endpoints = list(await session.scalars(query.order_by(Endpoint.created_at)))
    if endpoint_id and not endpoints:
        raise NotFound("no such voice endpoint")
    endpoint = next((e for e in endpoints if _issues_tokens(e)), None)
    if endpoint is None:
        raise Conflict(
            "no voice number is set up for softphones: it needs settings.api_key_sid, "
            "settings.twiml_app_sid and the API key's secret"
        )
    identity = twiml.client_identity(principal.agent_id)
    issued = utcnow()
    token = twiml.access_token(
        account_sid=str(endpoint.settings["account_sid"]),
        api_key_sid=str(endpoint.settings["api_key_sid"]),
        api_key_secret=VoiceCredentials.parse(endpoint.secret).api_key_secret or "",
        twiml_app_sid=str(endpoint.settings["twiml_app_sid"]),
        identity=identity,
        ttl_s=TOKEN_TTL_S,
    )
    return VoiceTokenOut(
        token=token,
        identity=identity,
        expires_at=issued + timedelta(seconds=TOKEN_TTL_S),
        endpoint_id=endpoint.id,
    )
