"""Channel endpoints: admins add and list them."""

from __future__ import annotations

from fastapi import APIRouter, Query

from threadline.auth.dependencies import Admin, Ctx
from threadline.channels.models import Endpoint
from threadline.channels.schemas import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    IdentitySecretOut,
    WebhookOut,
)
from threadline.channels.services import (
    do_create_endpoint,
    do_new_identity_secret,
    do_update_endpoint,
    list_endpoints,
)
from threadline.channels.telegram.services import do_register_telegram_webhook
from threadline.errors import PROBLEM_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["channels"], responses=PROBLEM_RESPONSES)


def _out(endpoint: Endpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        channel=endpoint.channel,
        key=endpoint.key,
        name=endpoint.name,
        queue_id=endpoint.queue_id,
        settings=endpoint.settings or {},
        active=endpoint.active,
        has_secret=bool(endpoint.secret),
        created_at=endpoint.created_at,
    )


@router.get("/endpoints", response_model=list[EndpointOut])
async def endpoints(
    principal: Admin, ctx: Ctx, channel: str | None = Query(default=None, max_length=16)
) -> list[EndpointOut]:
    """The organisation's channel endpoints (secrets are never shown)."""
    return [_out(e) for e in await list_endpoints(ctx, principal.org_id, channel)]


@router.post("/endpoints", response_model=EndpointOut, status_code=201)
async def create_endpoint(body: EndpointIn, principal: Admin, ctx: Ctx) -> EndpointOut:
    """Add a channel endpoint: a number, a mailbox, a widget; `secret` is write-only."""
    endpoint = await do_create_endpoint(ctx, principal.org_id, principal.agent_id, body)
    return _out(endpoint)


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def update_endpoint(
    endpoint_id: str, body: EndpointPatch, principal: Admin, ctx: Ctx
) -> EndpointOut:
    """Change an endpoint (name, queue, settings, a new secret, active); fields left out
    stay as they are."""
    endpoint = await do_update_endpoint(
        ctx, principal.org_id, principal.agent_id, endpoint_id, body
    )
    return _out(endpoint)


@router.post("/endpoints/{endpoint_id}/telegram-webhook", response_model=WebhookOut)
async def register_telegram_webhook(endpoint_id: str, principal: Admin, ctx: Ctx) -> WebhookOut:
    """Point a Telegram bot's webhook at this Threadline, with its secret token."""
    return WebhookOut(url=await do_register_telegram_webhook(ctx, principal.org_id, endpoint_id))


@router.post(
    "/endpoints/{endpoint_id}/identity-secret", response_model=IdentitySecretOut, status_code=201
)
async def new_identity_secret(endpoint_id: str, principal: Admin, ctx: Ctx) -> IdentitySecretOut:
    """A new identity secret for a chat widget, shown this once; the previous one stops
    verifying identities at once."""
    secret = await do_new_identity_secret(ctx, principal.org_id, principal.agent_id, endpoint_id)
    return IdentitySecretOut(secret=secret)
