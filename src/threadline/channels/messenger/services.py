"""Messenger webhooks: the subscription handshake, and signed notifications (messages in,
delivery reports for what the outbox sent)."""

from __future__ import annotations

from collections.abc import Mapping

from threadline.channels.messenger.payload import parse_notification, recipients
from threadline.channels.meta.notification import Notification, Reader
from threadline.channels.meta.services import do_meta_handshake, do_meta_notification
from threadline.context import Context

READER = Reader(recipients, parse_notification)


async def do_messenger_handshake(ctx: Context, key: str, params: Mapping[str, str]) -> str:
    return await do_meta_handshake(ctx, "messenger", key, params)


async def do_messenger_notification(
    ctx: Context, key: str, body: bytes, headers: Mapping[str, str]
) -> Notification:
    """Store the customer messages (once per mid) and apply the delivery reports."""
    return await do_meta_notification(ctx, "messenger", key, body, headers, READER)
