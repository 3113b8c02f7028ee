"""Provider webhooks for SMS: `POST /webhooks/sms/{provider}/{endpoint_key}` (inbound
messages) and `.../status` (delivery reports). Form posts, signed by the provider; the API
document describes them (channels/webhook_docs.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import Ctx
from threadline.channels.sms.services import do_sms_inbound, do_sms_status
from threadline.channels.webhook_docs import FORM_BODY, TWIML_WEBHOOK_RESPONSES, WEBHOOK_TAGS
from threadline.channels.webhooks import inbound_request

router = APIRouter(
    tags=WEBHOOK_TAGS, responses=TWIML_WEBHOOK_RESPONSES, default_response_class=Response
)


@router.post("/webhooks/sms/{provider}/{endpoint_key}", openapi_extra=FORM_BODY)
async def inbound(provider: str, endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An inbound SMS; answered with the provider's empty reply (no auto-response)."""
    received = await inbound_request(ctx, request)
    _ingested, reply = await do_sms_inbound(ctx, provider, endpoint_key, received)
    return Response(reply.body, media_type=reply.media_type)


@router.post("/webhooks/sms/{provider}/{endpoint_key}/status", openapi_extra=FORM_BODY)
async def status(provider: str, endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A delivery report for a message sent through the outbox."""
    received = await inbound_request(ctx, request)
    reply = await do_sms_status(ctx, provider, endpoint_key, received)
    return Response(reply.body, media_type=reply.media_type)
