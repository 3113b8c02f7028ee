"""Meta webhooks (WhatsApp, Messenger): the verify-token handshake, and signed notifications
whose messages land in the customer's thread (once per provider message id) and whose
delivery reports update the outbox, each routed to the endpoint of its number or page.
Nothing is stored before the signature checks out."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import replace

import structlog
from sqlalchemy import select

from threadline.channels.inbound import do_ingest
from threadline.channels.meta.endpoint import MetaCredentials
from threadline.channels.meta.notification import MalformedNotification, Notification, Reader
from threadline.channels.meta.webhooks import (
    SIGNATURE_HEADER,
    handshake_challenge,
    signature_valid,
)
from threadline.channels.models import Endpoint
from threadline.channels.outbox import do_delivery_status
from threadline.context import Context
from threadline.errors import Invalid, NotAllowed, NotFound, ThreadlineError

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
    ctx: Context, channel: str, key: str, body: bytes, headers: Mapping[str, str], reader: Reader
) -> Notification:
    """Verify, route and apply one notification; returns what was applied.

    One Meta app's webhook delivers for all the app's numbers (pages), whichever endpoint's
    URL it calls: each part goes to the endpoint configured for its recipient, if that
    endpoint belongs to the same app (same app secret, the key the body was signed with).
    A part for a recipient nobody configured is logged and dropped, never refused: Meta
    would retry it for days. The whole body is read before anything is stored; then each
    message is its own transaction, so a retried, half-applied notification stores the rest
    once."""
    endpoint = await _endpoint(ctx, channel, key)
    credentials = MetaCredentials.parse(endpoint.secret)
    signature = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
    if credentials is None or not signature_valid(credentials.app_secret, body, signature):
        raise NotAllowed("the webhook signature is missing or invalid")
    try:
        payload = json.loads(body)
        parts = {k: reader.parse(k, payload) for k in reader.recipients(endpoint.key, payload)}
    except (ValueError, MalformedNotification) as exc:  # JSONDecodeError is a ValueError
        raise Invalid(f"not a {channel} notification: {exc}") from None
    targets = await _same_app(ctx, channel, list(parts), credentials.app_secret)
    applied: list[Notification] = []
    for recipient, part in parts.items():
        target = targets.get(recipient)
        if target is None:
            if part.messages or part.statuses or part.skipped:
                log.warning(
                    "meta.unknown_recipient",
                    channel=channel,
                    recipient=recipient,
                    via_endpoint_id=endpoint.id,
                    messages=len(part.messages),
                    statuses=len(part.statuses),
                )
            continue
        await _apply(ctx, channel, target, part, reader)
        applied.append(part)
    return Notification(
        tuple(m for p in applied for m in p.messages),
        tuple(u for p in applied for u in p.statuses),
    )


async def _same_app(
    ctx: Context, channel: str, keys: list[str], app_secret: str
) -> dict[str, Endpoint]:
    """The active endpoints with these keys that belong to the app whose secret signed the
    notification (an endpoint of another app is not spoken for by this signature)."""
    if not keys:
        return {}
    async with ctx.db.sessions() as session:
        found = await session.scalars(
            select(Endpoint).where(
                Endpoint.channel == channel, Endpoint.key.in_(keys), Endpoint.active.is_(True)
            )
        )
    same = {}
    for candidate in found:
        credentials = MetaCredentials.parse(candidate.secret)
        if credentials is not None and hmac.compare_digest(
            credentials.app_secret.encode(), app_secret.encode()
        ):
            same[candidate.key] = candidate
    return same


async def _apply(
    ctx: Context, channel: str, endpoint: Endpoint, part: Notification, reader: Reader
) -> None:
    for reason in part.skipped:
        log.warning("meta.part_skipped", channel=channel, endpoint_id=endpoint.id, reason=reason)
    for message in part.messages:
        # replies leave through the endpoint the customer wrote to
        tagged = replace(message, data={**message.data, "endpoint_id": endpoint.id})
        if reader.enrich is not None:
            tagged = await reader.enrich(ctx, endpoint, tagged)
        try:
            await do_ingest(ctx, endpoint, tagged)
        except ThreadlineError as exc:
            # this message is refused (e.g. a customer that cannot be written to); the
            # others are stored, and Meta is not asked to retry what would fail again
            log.warning(
                "meta.message_refused",
                channel=channel,
                endpoint_id=endpoint.id,
                provider_msg_id=message.provider_msg_id,
                reason=str(exc),
            )
    for update in part.statuses:
        if await do_delivery_status(ctx, endpoint, update) is None:
            log.info("meta.status_for_unknown_message", channel=channel, endpoint_id=endpoint.id)
