"""Voice over HTTP.

Provider webhooks under `/webhooks/voice/twilio/{endpoint_key}`: the incoming call (the
number's Voice URL), `/ivr` (an answer to an IVR question, or to a flow's turn), `/hold`
(the hold loop), `/hold-callback` (the answer to the offer to call back),
`/connect` (where a call is redirected when its offer is accepted), `/dialed` (the outcome of
dialling the agent), `/survey` (a key pressed in the keypad survey after the agent's leg),
`/status` and `/recording` (status and recording callbacks), and
`/outbound/answer|dialed|status` for the calls we place; `/conference` (a conference's
status callbacks) and `/conference/agent` (the agent's leg dialled into it). Form posts
signed by the provider, answered with TwiML; they are not part of Threadline's API document.

`GET /api/v1/voice/token`: the signed-in agent's softphone token. `POST
/api/v1/voice/contacts/{contact_id}/hold|resume`: the agent of a call in a conference puts its
caller on hold, or takes them off it.

The router's lifespan runs the connector (connect.py) beside the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Query, Request, Response

from threadline.auth.dependencies import AgentUser, Ctx
from threadline.channels.voice.calls import Call, verified_call
from threadline.channels.voice.conference import (
    do_agent_leg_status,
    do_conference_status,
    do_hold,
    verified_endpoint,
)
from threadline.channels.voice.connect import CallConnector
from threadline.channels.voice.hold import (
    do_voice_dialed,
    do_voice_hold,
    do_voice_hold_callback,
    do_voice_survey,
)
from threadline.channels.voice.ivr import parse_path
from threadline.channels.voice.outbound import (
    CallPurpose,
    do_outbound_answer,
    do_outbound_dialed,
    do_outbound_status,
)
from threadline.channels.voice.schemas import HoldOut, VoiceTokenOut
from threadline.channels.voice.services import (
    do_voice_incoming,
    do_voice_ivr,
    do_voice_recording,
    do_voice_status,
)
from threadline.channels.voice.softphone import softphone_token
from threadline.channels.voice.twilio_voice import MEDIA_TYPE
from threadline.channels.webhook_docs import FORM_BODY, TWIML_WEBHOOK_RESPONSES, WEBHOOK_TAGS
from threadline.channels.webhooks import inbound_request
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES, Invalid


@asynccontextmanager
async def _connector(app: FastAPI) -> AsyncIterator[None]:
    connector = CallConnector(app.state.ctx)
    connector.start()
    try:
        yield
    finally:
        await connector.stop()


router = APIRouter(
    tags=WEBHOOK_TAGS,
    responses=TWIML_WEBHOOK_RESPONSES,
    default_response_class=Response,
    lifespan=_connector,
)
api_router = APIRouter(prefix="/api/v1/voice", tags=["voice"], responses=PROBLEM_RESPONSES)
PREFIX = "/webhooks/voice/twilio/{endpoint_key}"

Handler = Callable[[Call], Awaitable[str]]


async def _webhook(request: Request, ctx: Context, key: str, handle: Handler) -> Response:
    """Verify the provider's signature, then let `handle` answer with TwiML."""
    call = await verified_call(ctx, key, await inbound_request(ctx, request))
    return Response(await handle(call), media_type=MEDIA_TYPE)


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise Invalid(f"{name}: a whole number")
    return int(raw)


def _purpose(request: Request) -> CallPurpose:
    return CallPurpose.from_query(request.query_params)


@router.post(PREFIX, openapi_extra=FORM_BODY)
async def incoming(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An incoming call: the greeting and the first IVR question."""
    return await _webhook(request, ctx, endpoint_key, lambda call: do_voice_incoming(ctx, call))


@router.post(PREFIX + "/ivr", openapi_extra=FORM_BODY)
async def ivr(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """The caller's answer to an IVR question, or to a flow's turn (Digits or SpeechResult)."""
    q = request.query_params
    return await _webhook(
        request,
        ctx,
        endpoint_key,
        lambda call: do_voice_ivr(
            ctx,
            call,
            step=q.get("step", ""),
            lang=q.get("lang"),
            tries=_int(request, "tries", 1),
            turn=_int(request, "turn", 0),
            at=parse_path(q.get("at")),
        ),
    )


HoldStep = Callable[..., Awaitable[str]]


async def _hold_step(
    request: Request, ctx: Context, key: str, step: HoldStep, turn: int | None = None
) -> Response:
    """A hold-loop webhook: the contact, language and turn ride on the query."""
    q = request.query_params
    at = _int(request, "turn", 0) if turn is None else turn
    return await _webhook(
        request,
        ctx,
        key,
        lambda call: step(ctx, call, contact_id=q.get("contact", ""), lang=q.get("lang"), turn=at),
    )


@router.post(PREFIX + "/hold", openapi_extra=FORM_BODY)
async def hold(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """One turn of the hold loop: announce, wait, or connect to the agent."""
    return await _hold_step(request, ctx, endpoint_key, do_voice_hold)


@router.post(PREFIX + "/hold-callback", openapi_extra=FORM_BODY)
async def hold_callback(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """The caller's answer to the offer to be called back, keeping their place."""
    return await _hold_step(request, ctx, endpoint_key, do_voice_hold_callback)


@router.post(PREFIX + "/connect", openapi_extra=FORM_BODY)
async def connect(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """Where an accepted call is redirected: dial the agent (or hold on, if that changed)."""
    return await _hold_step(request, ctx, endpoint_key, do_voice_hold, turn=1)


@router.post(PREFIX + "/dialed", openapi_extra=FORM_BODY)
async def dialed(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """How dialling the agent ended (DialCallStatus); a missed agent puts the call back."""
    q = request.query_params
    return await _webhook(
        request,
        ctx,
        endpoint_key,
        lambda call: do_voice_dialed(
            ctx,
            call,
            contact_id=q.get("contact", ""),
            agent_id=q.get("agent", ""),
            lang=q.get("lang"),
        ),
    )


@router.post(PREFIX + "/survey", openapi_extra=FORM_BODY)
async def survey(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A key pressed in the keypad survey after the agent's leg (Digits): stored once."""
    q = request.query_params
    return await _webhook(
        request,
        ctx,
        endpoint_key,
        lambda call: do_voice_survey(
            ctx,
            call,
            contact_id=q.get("contact", ""),
            kind=q.get("kind", ""),
            lang=q.get("lang"),
            tries=_int(request, "tries", 1),
        ),
    )


@router.post(PREFIX + "/status", openapi_extra=FORM_BODY)
async def status(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A call status callback (completed, busy, no-answer, ...; duration)."""
    return await _webhook(request, ctx, endpoint_key, lambda call: do_voice_status(ctx, call))


@router.post(PREFIX + "/recording", openapi_extra=FORM_BODY)
async def recording(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A recording status callback: the link to the recording, on the call's timeline."""
    return await _webhook(request, ctx, endpoint_key, lambda call: do_voice_recording(ctx, call))


@router.post(PREFIX + "/outbound/answer", openapi_extra=FORM_BODY)
async def outbound_answer(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A call we placed was answered: the announcement, then the reserved agent."""
    return await _webhook(
        request, ctx, endpoint_key, lambda call: do_outbound_answer(ctx, call, _purpose(request))
    )


@router.post(PREFIX + "/outbound/dialed", openapi_extra=FORM_BODY)
async def outbound_dialed(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """How dialling the agent went on a call we placed."""
    return await _webhook(
        request, ctx, endpoint_key, lambda call: do_outbound_dialed(ctx, call, _purpose(request))
    )


@router.post(PREFIX + "/outbound/status", openapi_extra=FORM_BODY)
async def outbound_status(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A status callback of a call we placed: timeline, and its outcome to its handlers."""
    return await _webhook(
        request, ctx, endpoint_key, lambda call: do_outbound_status(ctx, call, _purpose(request))
    )


@router.post(PREFIX + "/conference", openapi_extra=FORM_BODY)
async def conference(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A conference status callback (join, leave, hold, unhold, ...): hold on the timeline."""
    inbound = await inbound_request(ctx, request)
    endpoint = await verified_endpoint(ctx, endpoint_key, inbound)
    answer = await do_conference_status(
        ctx, endpoint, inbound.form, contact_id=request.query_params.get("contact", "")
    )
    return Response(answer, media_type=MEDIA_TYPE)


@router.post(PREFIX + "/conference/agent", openapi_extra=FORM_BODY)
async def conference_agent(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A status callback of the agent's leg of a conference: a missed agent puts it back."""
    q = request.query_params
    return await _webhook(
        request,
        ctx,
        endpoint_key,
        lambda call: do_agent_leg_status(
            ctx, call, contact_id=q.get("contact", ""), agent_id=q.get("agent", "")
        ),
    )


@api_router.post("/contacts/{contact_id}/hold", response_model=HoldOut)
async def hold_call(contact_id: str, principal: AgentUser, ctx: Ctx) -> HoldOut:
    """Put the caller on hold (the agent of the call only; a call in a conference)."""
    return HoldOut(**await do_hold(ctx, principal, contact_id, hold=True))


@api_router.post("/contacts/{contact_id}/resume", response_model=HoldOut)
async def resume_call(contact_id: str, principal: AgentUser, ctx: Ctx) -> HoldOut:
    """Take the caller off hold (the agent of the call only)."""
    return HoldOut(**await do_hold(ctx, principal, contact_id, hold=False))


@api_router.get("/token", response_model=VoiceTokenOut)
async def token(
    principal: AgentUser,
    ctx: Ctx,
    endpoint_id: str | None = Query(default=None, max_length=36),
) -> VoiceTokenOut:
    """An access token for the agent's softphone (Twilio Voice SDK), valid for an hour."""
    return await softphone_token(ctx, principal, endpoint_id)
