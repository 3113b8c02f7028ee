"""Meta webhooks (WhatsApp, Messenger): the verify-token handshake, and signed notifications
whose messages land in the customer's thread (once per provider message id) and whose
delivery reports update the outbox. Nothing is stored before the signature checks out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

import structlog
from sqlalchemy import select

from threadline.channels.inbound import do_ingest
from threadline.channels.meta.endpoint import MetaCredentials
from threadline.channels.meta.notification import MalformedNotification, Notification, Parser
from threadline.channels.meta.webhooks import (
    SIGNATURE_HEADER,
    handshake_challenge,
    signature_valid,
)
from threadline.channels.models import Endpoint
from threadline.channels.outbox import do_delivery_status
from threadline.context import Context
from threadline.errors import Invalid, NotAllowed, NotFound

log = structlog.get_logger(__name__)


async def _endpoint(ctx: Context, channel: str, key: str) -> Endpoint:
    async with ctx.db.sessions() as session:
        endpoint = await session.scalar(
            select(Endpoint).where(
                Endpoint.channel == channel, Endpoint.key == key, Endpoint.active.is_(True)
            )
        )
    if endpoint is None:
        raise NotFound(f"no {channel} endpoint {key!r}")
    return endpoint


async def do_meta_handshake(ctx: Context, channel: str, key: str, params: Mapping[str, str]) -> str:
    """The challenge to echo to Meta's subscription request; NotAllowed for a wrong token."""
    endpoint = await _endpoint(ctx, channel, key)
    digest = str((endpoint.settings or {}).get("verify_token_sha256") or "")
    challenge = handshake_challenge(params, digest)
    if challenge is None:
        raise NotAllowed("the verify token does not match")
    return challenge


async def do_meta_notification(
    ctx: Context,
    channel: str,
    key: str,
    body: bytes,
    headers: Mapping[str, str],
    parse: Parser,
) -> Notification:
    """Verify, parse and apply one notification. Each message is its own transaction: when
    Meta retries a notification that was half applied, what was stored is stored once."""
    endpoint = await _endpoint(ctx, channel, key)
    credentials = MetaCredentials.parse(endpoint.secret)
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if credentials is None or not signature_valid(credentials.app_secret, body, signature):
        raise NotAllowed("the webhook signature is missing or invalid")
    try:
        notification = parse(endpoint.key, json.loads(body))
    except (ValueError, MalformedNotification) as exc:  # JSONDecodeError is a ValueError
        raise Invalid(f"not a {channel} notification: {exc}") from None
    for message in notification.messages:
        # replies leave through the endpoint the customer wrote to
        tagged = replace(message, data={**message.data, "endpoint_id": endpoint.id})
        await do_ingest(ctx, endpoint, tagged)
    for update in notification.statuses:
        if await do_delivery_status(ctx, endpoint, update) is None:
            log.info("meta.status_for_unknown_message", channel=channel, endpoint_id=endpoint.id)
    return notification
