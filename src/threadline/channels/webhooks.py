"""Provider webhooks, the steps every channel shares: the HTTP request as plain data (an
InboundRequest), then the endpoint it is for and the events it carries, once the channel's
adapter has verified and parsed it (channels/contract.py, InboundAdapter). What the events
become is each channel's service."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select

from threadline.channels.contract import (
    EndpointConfig,
    InboundAdapter,
    InboundEvent,
    InboundRequest,
    MalformedPayload,
    SignatureInvalid,
)
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.context import Context
from threadline.db import across_orgs, enter_org
from threadline.errors import Invalid, NotAllowed, NotFound

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def public_url(ctx: Context, request: Request) -> str:
    """The URL the provider called, as it signed it: behind proxies the server sees another
    host or port, so it is rebuilt from the configured public base URL and the raw path."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.url.query
    return ctx.settings.base_url.rstrip("/") + path + (f"?{query}" if query else "")


async def inbound_request(ctx: Context, request: Request) -> InboundRequest:
    """The request as the adapters read it: the raw body (signatures are over the bytes as
    sent), and the fields of a form post."""
    body = await request.body()
    form: dict[str, tuple[str, ...]] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        fields = await request.form()
        form = {n: tuple(v for v in fields.getlist(n) if isinstance(v, str)) for n in fields}
    return InboundRequest(
        url=public_url(ctx, request),
        headers=dict(request.headers),  # Starlette's keys are lower-case
        body=body,
        form=form,
        query=dict(request.query_params),
    )


async def active_endpoint(ctx: Context, channel: str, key: str) -> Endpoint | None:
    """The endpoint a provider called; the rest of the request works for its organisation."""
    with across_orgs():  # the key in the URL says whose endpoint it is
        async with ctx.db.sessions() as session:
            endpoint = await session.scalar(
                select(Endpoint).where(
                    Endpoint.channel == channel, Endpoint.key == key, Endpoint.active.is_(True)
                )
            )
    if endpoint is not None:
        enter_org(endpoint.org_id)
    return endpoint


def verified_events(
    adapter: InboundAdapter, config: EndpointConfig, request: InboundRequest
) -> list[InboundEvent]:
    """The events of a request whose signature checks out: NotAllowed for a bad signature
    (nothing of the request is read), Invalid for a signed body that is not of its kind."""
    try:
        adapter.verify(config, request)
    except SignatureInvalid as exc:
        raise NotAllowed(str(exc) or "the webhook signature is missing or invalid") from None
    try:
        return adapter.parse(config, request)
    except MalformedPayload as exc:
        raise Invalid(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Received:
    """A verified webhook: the endpoint whose URL was called, and what the request says."""

    endpoint: Endpoint
    config: EndpointConfig
    events: list[InboundEvent]


async def receive(ctx: Context, channel: str, key: str, request: InboundRequest) -> Received:
    """Find the active endpoint `key` of `channel`, verify the request with its secret and
    parse it; nothing is stored before this returns."""
    endpoint = await active_endpoint(ctx, channel, key)
    if endpoint is None:
        raise NotFound(f"no {channel} endpoint {key!r}")
    config = endpoint_config(endpoint)
    adapter = channels_of(ctx).receiver(channel)
    return Received(endpoint, config, verified_events(adapter, config, request))
