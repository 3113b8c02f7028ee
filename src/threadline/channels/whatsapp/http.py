"""WhatsApp Cloud API webhooks: `GET /webhooks/whatsapp/{endpoint_key}` (Meta's
verify-token handshake) and `POST` (notifications signed with X-Hub-Signature-256). The API
document describes them (channels/webhook_docs.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from threadline.auth.dependencies import Ctx
from threadline.channels.webhook_docs import (
    HANDSHAKE_RESPONSES,
    JSON_BODY,
    WEBHOOK_RESPONSES,
    WEBHOOK_TAGS,
)
from threadline.channels.webhooks import inbound_request
from threadline.channels.whatsapp.services import do_whatsapp_handshake, do_whatsapp_notification

router = APIRouter(tags=WEBHOOK_TAGS, responses=WEBHOOK_RESPONSES, default_response_class=Response)


@router.get("/webhooks/whatsapp/{endpoint_key}", responses=HANDSHAKE_RESPONSES)
async def handshake(endpoint_key: str, request: Request, ctx: Ctx) -> PlainTextResponse:
    """Echo hub.challenge when hub.verify_token is the endpoint's; 403 otherwise."""
    params = dict(request.query_params)
    return PlainTextResponse(await do_whatsapp_handshake(ctx, endpoint_key, params))


@router.post("/webhooks/whatsapp/{endpoint_key}", openapi_extra=JSON_BODY)
async def notification(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """Messages and delivery reports; 200 once stored (Meta retries anything else)."""
    await do_whatsapp_notification(ctx, endpoint_key, await inbound_request(ctx, request))
    return Response(status_code=200)
