"""The Telegram Bot API webhook: `POST /webhooks/telegram/{endpoint_key}`, one per bot.
Authenticated by the X-Telegram-Bot-Api-Secret-Token header; the API document describes it
(channels/webhook_docs.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import Ctx
from threadline.channels.telegram.services import do_telegram_update
from threadline.channels.webhook_docs import JSON_BODY, WEBHOOK_RESPONSES, WEBHOOK_TAGS
from threadline.channels.webhooks import inbound_request

router = APIRouter(tags=WEBHOOK_TAGS, responses=WEBHOOK_RESPONSES, default_response_class=Response)


@router.post("/webhooks/telegram/{endpoint_key}", openapi_extra=JSON_BODY)
async def update(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An update from Telegram: 200 once stored, or once seen to be of no interest (any
    other answer makes Telegram retry it)."""
    await do_telegram_update(ctx, endpoint_key, await inbound_request(ctx, request))
    return Response(status_code=200)
