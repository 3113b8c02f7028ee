"""Outbound webhooks API: admins subscribe URLs to event types and follow the deliveries.

Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp,
webhook-signature); see webhooks/schemas.py for the body a receiver gets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from threadline.auth.dependencies import Admin, Ctx
from threadline.errors import PROBLEM_RESPONSES
from threadline.events.domain import durable_types
from threadline.webhooks import services
from threadline.webhooks.models import WebhookDelivery, WebhookSubscription
from threadline.webhooks.schemas import (
    ALL,
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    EventTypesOut,
    SecretOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)


def _out(subscription: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscription)


def _delivery(delivery: WebhookDelivery) -> DeliveryOut:
    out = DeliveryOut.model_validate(delivery)
    if delivery.status != "pending":
        out.next_attempt_at = None
    return out


@router.get("", response_model=list[SubscriptionOut])
async def subscriptions(principal: Admin, ctx: Ctx) -> list[SubscriptionOut]:
    """The organisation's webhook subscriptions (secrets are never shown)."""
    return [_out(s) for s in await services.list_subscriptions(ctx, principal.org_id)]


@router.post("", response_model=SubscriptionCreated, status_code=201)
async def create_subscription(
    body: SubscriptionIn, principal: Admin, ctx: Ctx
) -> SubscriptionCreated:
    """Subscribe a URL to event types; the answer carries its signing secret, shown only now."""
    created = await services.do_create_subscription(ctx, principal.org_id, principal.agent_id, body)
    return SubscriptionCreated(**_out(created).model_dump(), secret=created.secret)


@router.get("/event-types", response_model=EventTypesOut)
async def event_types(principal: Admin) -> EventTypesOut:
    """The event types a webhook may subscribe to ('*' is all of them)."""
    return EventTypesOut(event_types=[ALL, *durable_types()])


@router.get("/{subscription_id}", response_model=SubscriptionOut)
async def subscription(subscription_id: str, principal: Admin, ctx: Ctx) -> SubscriptionOut:
    return _out(await services.get_subscription(ctx, principal.org_id, subscription_id))


@router.patch("/{subscription_id}", response_model=SubscriptionOut)
async def update_subscription(
    subscription_id: str, body: SubscriptionPatch, principal: Admin, ctx: Ctx
) -> SubscriptionOut:
    """Change the URL, event types, description, or enable/disable; fields left out stay."""
    updated = await services.do_update_subscription(
        ctx, principal.org_id, principal.agent_id, subscription_id, body
    )
    return _out(updated)


@router.delete("/{subscription_id}", status_code=204, response_class=Response)
async def delete_subscription(subscription_id: str, principal: Admin, ctx: Ctx) -> Response:
    """Remove a subscription and its deliveries."""
    await services.do_delete_subscription(
        ctx, principal.org_id, principal.agent_id, subscription_id
    )
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", response_model=SecretOut)
async def rotate_secret(subscription_id: str, principal: Admin, ctx: Ctx) -> SecretOut:
    """A new signing secret, shown only now; the old one signs nothing from now on."""
    secret = await services.do_rotate_secret(
        ctx, principal.org_id, principal.agent_id, subscription_id
    )
    return SecretOut(secret=secret)


@router.post("/{subscription_id}/ping", response_model=DeliveryOut, status_code=202)
async def ping(subscription_id: str, principal: Admin, ctx: Ctx) -> DeliveryOut:
    """Send a signed "webhook.test" event now; follow it in the deliveries (409 if disabled)."""
    delivery = await services.do_ping(ctx, principal.org_id, principal.agent_id, subscription_id)
    return _delivery(delivery)


@router.get("/{subscription_id}/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    subscription_id: str,
    principal: Admin,
    ctx: Ctx,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=services.MAX_LIST)] = 50,
) -> list[DeliveryOut]:
    """The subscription's deliveries, newest first."""
    found = await services.list_deliveries(ctx, principal.org_id, subscription_id, status, limit)
    return [_delivery(d) for d in found]


@router.get("/{subscription_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def delivery(
    subscription_id: str, delivery_id: str, principal: Admin, ctx: Ctx
) -> DeliveryDetail:
    """A delivery with the body sent and every attempt (when, how long, what came back)."""
    found, attempts = await services.get_delivery(
        ctx, principal.org_id, subscription_id, delivery_id
    )
    return DeliveryDetail(
        **_delivery(found).model_dump(),
        payload=found.payload,
        attempt_log=[AttemptOut.model_validate(a) for a in attempts],
    )


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=202,
)
async def redeliver(
    subscription_id: str, delivery_id: str, principal: Admin, ctx: Ctx
) -> DeliveryOut:
    """One more attempt now, with the same webhook-id (409 while one is pending or the
    webhook is disabled)."""
    delivery = await services.do_redeliver(
        ctx, principal.org_id, principal.agent_id, subscription_id, delivery_id
    )
    return _delivery(delivery)
