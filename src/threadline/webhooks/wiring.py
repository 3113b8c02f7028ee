"""Outbound webhooks' place in the application: called once by create_app."""

from __future__ import annotations

from threadline.context import Context
from threadline.webhooks.delivery import WEBHOOK_SEND, WebhookSender


def register(ctx: Context) -> WebhookSender:
    """Make webhooks the durable consumer "webhooks" (every durable event) and the handler
    of `webhook_send` timers; returns the sender, whose `stop()` belongs in shutdown."""
    sender = WebhookSender(ctx)
    ctx.handlers.consumer("webhooks", sender.on_event, prepare=sender.prepare)
    ctx.timers.register(WEBHOOK_SEND, sender.on_timer)
    return sender
