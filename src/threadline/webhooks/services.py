"""Outbound webhook subscriptions and their deliveries, for an organisation's admins.

Every function takes the organisation first; a subscription or delivery of another
organisation is "not found". Changes are audited (never with the secret).
"""

from __future__ import annotations

from sqlalchemy import delete, select

from threadline.context import Context
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.services import audit
from threadline.webhooks import signing
from threadline.webhooks.delivery import TEST_EVENT, add_delivery, schedule_send, test_payload
from threadline.webhooks.destinations import Refused, destination
from threadline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from threadline.webhooks.schemas import SubscriptionIn, SubscriptionPatch

MAX_LIST = 200


async def _checked_url(ctx: Context, url: str) -> str:
    """The URL when we would send to it now (form, scheme, resolved addresses): else 422."""
    try:
        await destination(url, ctx.settings.webhooks_allow_http)
    except Refused as exc:
        raise Invalid(f"url: {exc}", field="url") from None
    return url


async def _subscription(uow: UnitOfWork, org_id: str, subscription_id: str) -> WebhookSubscription:
    subscription: WebhookSubscription | None = await uow.lock(WebhookSubscription, subscription_id)
    if subscription is None or subscription.org_id != org_id:
        raise NotFound("no such webhook")
    return subscription


async def do_create_subscription(
    ctx: Context, org_id: str, actor: str | None, data: SubscriptionIn
) -> WebhookSubscription:
    """Subscribe a URL; the answer is the only time its secret is shown (audited)."""
    url = await _checked_url(ctx, data.url)
    now = utcnow()
    async with ctx.uow() as uow:
        subscription = WebhookSubscription(
            org_id=org_id,
            url=url,
            description=data.description,
            event_types=data.event_types,
            secret=signing.new_secret(),
            active=data.active,
            created_at=now,
            updated_at=now,
            active_since=now,
        )
        uow.session.add(subscription)
        await uow.session.flush()
        audit(uow.session, org_id, actor, "webhook.create", subscription.id, url=url)
    return subscription


async def do_update_subscription(
    ctx: Context, org_id: str, actor: str | None, subscription_id: str, data: SubscriptionPatch
) -> WebhookSubscription:
    """Change a subscription's URL, event types, description or whether it is active;
    enabling it again clears the server's reason and failure count."""
    changed = sorted(f for f in data.model_fields_set if getattr(data, f) is not None)
    url = await _checked_url(ctx, data.url) if data.url is not None else None
    async with ctx.uow() as uow:
        subscription = await _subscription(uow, org_id, subscription_id)
        if url is not None:
            subscription.url = url
        if data.event_types is not None:
            subscription.event_types = data.event_types
        if data.description is not None:
            subscription.description = data.description
        if data.active is not None:
            if data.active and not subscription.active:
                subscription.disabled_reason, subscription.consecutive_failures = None, 0
                subscription.active_since = utcnow()
            subscription.active = data.active
        subscription.updated_at = utcnow()
        audit(uow.session, org_id, actor, "webhook.update", subscription.id, fields=changed)
    return subscription


async def do_delete_subscription(
    ctx: Context, org_id: str, actor: str | None, subscription_id: str
) -> None:
    """Remove a subscription with its deliveries (audited); timers left for them do nothing."""
    async with ctx.uow() as uow:
        found = await uow.session.get(WebhookSubscription, subscription_id)
        if found is None or found.org_id != org_id:
            raise NotFound("no such webhook")
        # deliveries before the subscription: the order the sender locks them in
        deliveries = select(WebhookDelivery.id).where(
            WebhookDelivery.org_id == org_id, WebhookDelivery.subscription_id == subscription_id
        )
        await uow.session.execute(
            delete(WebhookAttempt).where(
                WebhookAttempt.org_id == org_id, WebhookAttempt.delivery_id.in_(deliveries)
            )
        )
        await uow.session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.org_id == org_id,
                WebhookDelivery.subscription_id == subscription_id,
            )
        )
        await uow.session.execute(
            delete(WebhookSubscription).where(
                WebhookSubscription.org_id == org_id, WebhookSubscription.id == subscription_id
            )
        )
        audit(uow.session, org_id, actor, "webhook.delete", subscription_id, url=found.url)


async def do_rotate_secret(
    ctx: Context, org_id: str, actor: str | None, subscription_id: str
) -> str:
    """A new secret, returned this once; deliveries sent from now on are signed with it."""
    async with ctx.uow() as uow:
        subscription = await _subscription(uow, org_id, subscription_id)
        subscription.secret = signing.new_secret()
        subscription.updated_at = utcnow()
        audit(uow.session, org_id, actor, "webhook.rotate_secret", subscription.id)
    return subscription.secret


async def list_subscriptions(ctx: Context, org_id: str) -> list[WebhookSubscription]:
    async with ctx.db.sessions() as session:
        rows = await session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.org_id == org_id)
            .order_by(WebhookSubscription.created_at)
        )
        return list(rows)


async def get_subscription(ctx: Context, org_id: str, subscription_id: str) -> WebhookSubscription:
    async with ctx.db.sessions() as session:
        found = await session.get(WebhookSubscription, subscription_id)
    if found is None or found.org_id != org_id:
        raise NotFound("no such webhook")
    return found


async def list_deliveries(
    ctx: Context, org_id: str, subscription_id: str, status: str | None, limit: int
) -> list[WebhookDelivery]:
    """A subscription's deliveries, newest first (optionally of one status)."""
    await get_subscription(ctx, org_id, subscription_id)
    query = select(WebhookDelivery).where(
        WebhookDelivery.org_id == org_id, WebhookDelivery.subscription_id == subscription_id
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.limit(min(limit, MAX_LIST))))


async def get_delivery(
    ctx: Context, org_id: str, subscription_id: str, delivery_id: str
) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    """A delivery with its attempts, oldest first."""
    async with ctx.db.sessions() as session:
        delivery = await session.get(WebhookDelivery, delivery_id)
        if (
            delivery is None
            or delivery.org_id != org_id
            or delivery.subscription_id != subscription_id
        ):
            raise NotFound("no such delivery")
        attempts = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.org_id == org_id, WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.number, WebhookAttempt.id)
        )
        return delivery, list(attempts)


async def do_redeliver(
    ctx: Context, org_id: str, actor: str | None, subscription_id: str, delivery_id: str
) -> WebhookDelivery:
    """One more attempt of a delivery, now (not retried automatically if it fails)."""
    async with ctx.uow() as uow:
        # the delivery is locked, the subscription only read: the sender locks a delivery
        # and then its subscription, never the other way round
        subscription = await uow.session.get(WebhookSubscription, subscription_id)
        if subscription is None or subscription.org_id != org_id:
            raise NotFound("no such webhook")
        delivery: WebhookDelivery | None = await uow.lock(WebhookDelivery, delivery_id)
        if (
            delivery is None
            or delivery.org_id != org_id
            or delivery.subscription_id != subscription.id
        ):
            raise NotFound("no such delivery")
        _check_sendable(subscription)
        if delivery.status in ("pending", "sending"):
            raise Conflict(f"this delivery is already {delivery.status}")
        now = utcnow()
        delivery.status, delivery.next_attempt_at, delivery.updated_at = "pending", now, now
        delivery.max_attempts = delivery.attempts + 1
        schedule_send(ctx, uow, delivery)
        audit(uow.session, org_id, actor, "webhook.redeliver", delivery.id)
    return delivery


async def do_ping(
    ctx: Context, org_id: str, actor: str | None, subscription_id: str
) -> WebhookDelivery:
    """Send a "webhook.test" event to the URL now (one attempt, shown with the deliveries)."""
    async with ctx.uow() as uow:
        subscription = await _subscription(uow, org_id, subscription_id)
        _check_sendable(subscription)
        payload = test_payload(org_id, subscription.id)
        delivery = add_delivery(
            ctx, uow, subscription, payload["id"], TEST_EVENT, payload, max_attempts=1
        )
        audit(uow.session, org_id, actor, "webhook.ping", subscription.id)
    return delivery


def _check_sendable(subscription: WebhookSubscription) -> None:
    if not subscription.active:
        raise Conflict("this webhook is disabled: enable it first")
