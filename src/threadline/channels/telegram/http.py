"""The Telegram Bot API webhook: `POST /webhooks/telegram/{endpoint_key}`, one per bot.
Authenticated by the X-Telegram-Bot-Api-Secret-Token header; not part of Threadline's API
document."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from threadline.auth.dependencies import Ctx
from threadline.channels.telegram.bot_api import SECRET_TOKEN_HEADER
from threadline.channels.telegram.services import do_telegram_update

router = APIRouter(include_in_schema=False)


@router.post("/webhooks/telegram/{endpoint_key}")
async def update(endpoint_key: str, request: Request, ctx: Ctx) -> Response:
    """An update from Telegram: 200 once stored, or once seen to be of no interest (any
    other answer makes Telegram retry it)."""
    secret_token = request.headers.get(SECRET_TOKEN_HEADER)
    await do_telegram_update(ctx, endpoint_key, secret_token, await request.body())
    return Response(status_code=200)
