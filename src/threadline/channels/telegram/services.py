"""Telegram webhooks: a verified update from a private chat lands in the customer's thread
(once per message, per edit, or per button tapped, which is then answered so the client
stops its spinner); admins point a bot's webhook at Threadline."""

from __future__ import annotations

from typing import cast

import structlog

from threadline.channels.contract import InboundMessage, InboundRequest, Skipped
from threadline.channels.inbound import Ingested, do_ingest
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.provider_media import keep_media, media_deadline
from threadline.channels.registry import channels_of
from threadline.channels.telegram.adapter import TelegramAdapter
from threadline.channels.telegram.bot_api import TelegramError, redact
from threadline.channels.webhooks import receive
from threadline.context import Context
from threadline.errors import Conflict, NotFound

log = structlog.get_logger(__name__)


def _adapter(ctx: Context) -> TelegramAdapter:
    return cast(TelegramAdapter, channels_of(ctx).get("telegram"))


async def do_telegram_update(ctx: Context, key: str, request: InboundRequest) -> Ingested | None:
    """Store a bot's update; None when it is well-formed but not for us (groups, channels,
    other update kinds), which Telegram must still see acknowledged. Nothing is read from
    the body before the secret token checks out."""
    received = await receive(ctx, "telegram", key, request)
    deadline = media_deadline()
    ingested = None
    for event in received.events:
        if isinstance(event, Skipped):
            (log.warning if event.unreadable else log.info)(
                "telegram.update_ignored", endpoint_id=received.endpoint.id, reason=event.reason
            )
        elif isinstance(event, InboundMessage):
            # the customer's files, kept here before the entry naming them is committed
            message = await keep_media(ctx, received.endpoint, event, _adapter(ctx), deadline)
            ingested = await do_ingest(ctx, received.endpoint, message)
            if query_id := event.data.get("callback_query_id"):
                await _answer_tap(ctx, received.endpoint, str(query_id))
    return ingested


async def _answer_tap(ctx: Context, endpoint: Endpoint, query_id: str) -> None:
    """Answer a tapped button once it is stored (again for a retried update: Telegram only
    refuses the second answer). A failure is logged: the tap is kept all the same, and
    the spinner stops by itself after a while."""
    try:
        await _adapter(ctx).answer_tap(endpoint_config(endpoint), query_id)
    except (TelegramError, ValueError) as exc:
        reason = redact(str(exc), endpoint.secret)
        log.info("telegram.tap_not_answered", endpoint_id=endpoint.id, reason=reason)


async def do_register_telegram_webhook(ctx: Context, org_id: str, endpoint_id: str) -> str:
    """Point a bot's webhook at this Threadline (settings.base_url) with its secret token;
    returns the URL. For the endpoints API or the CLI; Conflict when Telegram refuses."""
    async with ctx.db.sessions() as session:
        endpoint = await session.get(Endpoint, endpoint_id)
    if endpoint is None or endpoint.org_id != org_id or endpoint.channel != "telegram":
        raise NotFound("no such telegram endpoint")
    if not endpoint.secret:
        raise Conflict("the endpoint has no bot token")
    try:
        return await _adapter(ctx).register_webhook(endpoint_config(endpoint))
    except TelegramError as exc:
        raise Conflict(
            f"Telegram refused the webhook: {redact(str(exc), endpoint.secret)}"
        ) from None
