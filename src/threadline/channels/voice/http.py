"""Provider webhooks for voice: `POST /webhooks/voice/twilio/{endpoint_key}` (an incoming
call), `.../ivr` (an answer to an IVR question), `.../hold` (the hold loop) and `.../status`
(call status callbacks). Form posts signed by the provider, answered with TwiML; they are not
part of Threadline's API document."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import Ctx
from threadline.channels.sms.http import public_url
from threadline.channels.voice.services import (
    do_voice_hold,
    do_voice_incoming,
    do_voice_ivr,
    do_voice_status,
)
from threadline.channels.voice.twilio_voice import MEDIA_TYPE, Params
from threadline.errors import Invalid

router = APIRouter(include_in_schema=False)
PREFIX = "/webhooks/voice/twilio/{endpoint_key}"


async def _params(request: Request) -> Params:
    form = await request.form()
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise Invalid(f"{name}: a whole number")
    return int(raw)


def _twiml(body: str) -> Response:
    return Response(body, media_type=MEDIA_TYPE)


@router.post(PREFIX)
async def incoming(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An incoming call: the greeting and the first IVR question."""
    url = public_url(ctx, request)
    return _twiml(
        await do_voice_incoming(ctx, endpoint_key, url, await _params(request), request.headers)
    )


@router.post(PREFIX + "/ivr")
async def ivr(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """The caller's answer to an IVR question (Digits or SpeechResult)."""
    url = public_url(ctx, request)
    return _twiml(
        await do_voice_ivr(
            ctx,
            endpoint_key,
            url,
            await _params(request),
            request.headers,
            step=request.query_params.get("step", ""),
            lang=request.query_params.get("lang"),
            tries=_int(request, "tries", 1),
        )
    )


@router.post(PREFIX + "/hold")
async def hold(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """One turn of the hold loop: announce, wait, or connect to the agent."""
    url = public_url(ctx, request)
    return _twiml(
        await do_voice_hold(
            ctx,
            endpoint_key,
            url,
            await _params(request),
            request.headers,
            contact_id=request.query_params.get("contact", ""),
            lang=request.query_params.get("lang"),
            turn=_int(request, "turn", 0),
        )
    )


@router.post(PREFIX + "/status")
async def status(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A call status callback (completed, busy, no-answer, ...; duration, recording)."""
    url = public_url(ctx, request)
    return _twiml(
        await do_voice_status(ctx, endpoint_key, url, await _params(request), request.headers)
    )
