"""Meta webhooks (WhatsApp, Messenger): the verify-token handshake, and signed notifications
whose messages land in the customer's thread (once per provider message id) and whose
delivery reports update the outbox, each routed to the endpoint of its number or page.
Nothing is stored before the signature checks out."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import structlog
from sqlalchemy import select

from threadline.channels.contract import (
    InboundEvent,
    InboundMessage,
    InboundRequest,
    Skipped,
    StatusUpdate,
)
from threadline.channels.inbound import do_ingest
from threadline.channels.meta.endpoint import MetaCredentials
from threadline.channels.meta.notification import Enricher, Notification
from threadline.channels.meta.webhooks import handshake_challenge
from threadline.channels.models import Endpoint
from threadline.channels.outbox import do_delivery_status
from threadline.channels.provider_media import MediaSource, keep_media, media_deadline
from threadline.channels.registry import channels_of
from threadline.channels.webhooks import receive
from threadline.context import Context
from threadline.db import across_orgs, enter_org, org_scope
from threadline.errors import NotAllowed, NotFound, ThreadlineError

log = structlog.get_logger(__name__)


async def _endpoint(ctx: Context, channel: str, key: str) -> Endpoint:
    with across_orgs():  # the key in the URL says whose endpoint it is
        async with ctx.db.sessions() as session:
            endpoint = await session.scalar(
                select(Endpoint).where(
                    Endpoint.channel == channel, Endpoint.key == key, Endpoint.active.is_(True)
                )
            )
    if endpoint is None:
        raise NotFound(f"no {channel} endpoint {key!r}")
    enter_org(endpoint.org_id)
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
    request: InboundRequest,
    enrich: Enricher | None = None,
) -> Notification:
    """Verify, route and apply one notification; returns what was applied.

    One Meta app's webhook delivers for all the app's numbers (pages), whichever endpoint's
    URL it calls: each part goes to the endpoint configured for its recipient, if that
    endpoint belongs to the same app (same app secret, the key the body was signed with).
    A part for a recipient nobody configured is logged and dropped, never refused: Meta
    would retry it for days. The whole body is read before anything is stored; then each
    message is its own transaction, so a retried, half-applied notification stores the rest
    once."""
    received = await receive(ctx, channel, key, request)
    deadline = media_deadline()  # all of this notification's media, within one budget
    credentials = MetaCredentials.parse(received.endpoint.secret)
    assert credentials is not None, "verified with it"
    parts: dict[str, list[InboundEvent]] = {}
    for event in received.events:
        parts.setdefault(getattr(event, "recipient", None) or key, []).append(event)
    targets = await _same_app(ctx, channel, list(parts), credentials.app_secret)
    applied: list[InboundEvent] = []
    for recipient, events in parts.items():
        target = targets.get(recipient)
        if target is None:
            log.warning(
                "meta.unknown_recipient",
                channel=channel,
                recipient=recipient,
                via_endpoint_id=received.endpoint.id,
                messages=sum(isinstance(e, InboundMessage) for e in events),
                statuses=sum(isinstance(e, StatusUpdate) for e in events),
            )
            continue
        await _apply(ctx, channel, target, events, enrich, deadline)
        applied.extend(events)
    return Notification(
        tuple(e for e in applied if isinstance(e, InboundMessage)),
        tuple(e for e in applied if isinstance(e, StatusUpdate)),
    )


async def _same_app(
    ctx: Context, channel: str, keys: list[str], app_secret: str
) -> dict[str, Endpoint]:
    """The active endpoints with these keys that belong to the app whose secret signed the
    notification (an endpoint of another app is not spoken for by this signature)."""
    if not keys:
        return {}
    with across_orgs():  # one notification may speak for pages of several organisations
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
    ctx: Context,
    channel: str,
    endpoint: Endpoint,
    events: list[InboundEvent],
    enrich: Enricher | None,
    deadline: float,
) -> None:
    with org_scope(endpoint.org_id):  # each page's part works for the page's organisation
        await _apply_events(ctx, channel, endpoint, events, enrich, deadline)


async def _apply_events(
    ctx: Context,
    channel: str,
    endpoint: Endpoint,
    events: list[InboundEvent],
    enrich: Enricher | None,
    deadline: float,
) -> None:
    for event in events:
        if isinstance(event, Skipped):
            log.warning(
                "meta.part_skipped", channel=channel, endpoint_id=endpoint.id, reason=event.reason
            )
        elif isinstance(event, InboundMessage):
            await _ingest(ctx, channel, endpoint, event, enrich, deadline)
        elif (
            isinstance(event, StatusUpdate)
            and await do_delivery_status(ctx, endpoint, event) is None
        ):
            log.info("meta.status_for_unknown_message", channel=channel, endpoint_id=endpoint.id)


async def _ingest(
    ctx: Context,
    channel: str,
    endpoint: Endpoint,
    message: InboundMessage,
    enrich: Enricher | None,
    deadline: float,
) -> None:
    # replies leave through the endpoint the customer wrote to
    tagged = replace(message, data={**message.data, "endpoint_id": endpoint.id})
    if enrich is not None:
        tagged = await enrich(ctx, endpoint, tagged)
    # the customer's media, kept here before the entry naming it is committed
    source = cast(MediaSource, channels_of(ctx).get(channel))
    tagged = await keep_media(ctx, endpoint, tagged, source, deadline)
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
