"""Messenger webhooks: the subscription handshake, and signed notifications (messages in,
delivery reports for what the outbox sent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

from threadline.channels.contract import InboundMessage, InboundRequest
from threadline.channels.messenger.adapter import MessengerAdapter
from threadline.channels.meta.notification import Notification
from threadline.channels.meta.services import do_meta_handshake, do_meta_notification
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.context import Context
from threadline.customers.services import find_by_identity


async def _with_profile_name(
    ctx: Context, endpoint: Endpoint, message: InboundMessage
) -> InboundMessage:
    """The message with its sender's name from the Graph API, when the customer has no name
    yet (Messenger's notifications carry none); asked once, then the customer has one."""
    if message.sender_name:
        return message
    async with ctx.db.sessions() as session:
        known = await find_by_identity(
            session, endpoint.org_id, message.identity_kind, message.identity_value
        )
    if known is not None and known.name:
        return message
    adapter = cast(MessengerAdapter, channels_of(ctx).get("messenger"))
    name = await adapter.profile_name(endpoint_config(endpoint), message.identity_value)
    return replace(message, sender_name=name) if name else message


async def do_messenger_handshake(ctx: Context, key: str, params: Mapping[str, str]) -> str:
    return await do_meta_handshake(ctx, "messenger", key, params)


async def do_messenger_notification(
    ctx: Context, key: str, request: InboundRequest
) -> Notification:
    """Store the customer messages (once per mid) and apply the delivery reports."""
    return await do_meta_notification(ctx, "messenger", key, request, _with_profile_name)
