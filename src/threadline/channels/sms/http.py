"""Provider webhooks for SMS: `POST /webhooks/sms/{provider}/{endpoint_key}` (inbound
messages) and `.../status` (delivery reports). Form posts, signed by the provider; the API
document describes them (channels/webhook_docs.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import Ctx
from threadline.channels.sms.provider import Params
from threadline.channels.sms.services import do_sms_inbound, do_sms_status
from threadline.channels.webhook_docs import FORM_BODY, TWIML_WEBHOOK_RESPONSES, WEBHOOK_TAGS
from threadline.context import Context

router = APIRouter(
    tags=WEBHOOK_TAGS, responses=TWIML_WEBHOOK_RESPONSES, default_response_class=Response
)


def public_url(ctx: Context, request: Request) -> str:
    """The URL the provider called, as it signed it: behind proxies the server sees another
    host or port, so it is rebuilt from the configured public base URL and the raw path."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.url.query
    return ctx.settings.base_url.rstrip("/") + path + (f"?{query}" if query else "")


async def _params(request: Request) -> Params:
    form = await request.form()
    return {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in form}


@router.post("/webhooks/sms/{provider}/{endpoint_key}", openapi_extra=FORM_BODY)
async def inbound(provider: str, endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An inbound SMS; answered with the provider's empty reply (no auto-response)."""
    _ingested, reply = await do_sms_inbound(
        ctx,
        provider,
        endpoint_key,
        public_url(ctx, request),
        await _params(request),
        request.headers,
    )
    return Response(reply.body, media_type=reply.media_type)


@router.post("/webhooks/sms/{provider}/{endpoint_key}/status", openapi_extra=FORM_BODY)
async def status(provider: str, endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """A delivery report for a message sent through the outbox."""
    reply = await do_sms_status(
        ctx,
        provider,
        endpoint_key,
        public_url(ctx, request),
        await _params(request),
        request.headers,
        request.query_params.get("outbox_id"),
    )
    return Response(reply.body, media_type=reply.media_type)
