"""WhatsApp Cloud API webhooks: the subscription handshake, and signed notifications
(messages in, delivery reports for what the outbox sent)."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.channels.contract import InboundRequest
from threadline.channels.meta.notification import Notification
from threadline.channels.meta.services import do_meta_handshake, do_meta_notification
from threadline.context import Context


async def do_whatsapp_handshake(ctx: Context, key: str, params: Mapping[str, str]) -> str:
    return await do_meta_handshake(ctx, "whatsapp", key, params)


async def do_whatsapp_notification(ctx: Context, key: str, request: InboundRequest) -> Notification:
    """Store the customer messages (once per wamid) and apply the delivery reports."""
    return await do_meta_notification(ctx, "whatsapp", key, request)
