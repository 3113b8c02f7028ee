"""Channel endpoints, configured by admins: a chat widget, an SMS number, a mailbox, ..."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from threadline.channels.models import Endpoint
from threadline.channels.registry import UnknownChannel, channels_of
from threadline.channels.schemas import EndpointIn
from threadline.context import Context
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.services import audit
from threadline.routing.models import Queue


def _configured(ctx: Context, data: EndpointIn) -> dict[str, Any]:
    """The settings as the channel's adapter normalises them (it checks the key too)."""
    try:
        adapter: Any = channels_of(ctx).get(data.channel)
    except UnknownChannel:
        return dict(data.settings)
    configure = getattr(adapter, "configure", None)
    if configure is None:
        return dict(data.settings)
    try:
        return dict(configure(data.key, data.settings))
    except ValueError as exc:
        raise Invalid(str(exc)) from None


async def do_create_endpoint(
    ctx: Context, org_id: str, actor: str | None, data: EndpointIn
) -> Endpoint:
    """Add an endpoint (audited; the secret is neither returned nor logged)."""
    settings = _configured(ctx, data)
    async with ctx.uow() as uow:
        session = uow.session
        if data.queue_id:
            queue = await session.get(Queue, data.queue_id)
            if queue is None or queue.org_id != org_id:
                raise NotFound("no such queue")
        taken = await session.scalar(
            select(Endpoint.id).where(Endpoint.channel == data.channel, Endpoint.key == data.key)
        )
        if taken:
            raise Conflict(f"a {data.channel} endpoint {data.key!r} already exists")
        endpoint = Endpoint(
            org_id=org_id,
            channel=data.channel,
            key=data.key,
            name=data.name,
            queue_id=data.queue_id,
            secret=data.secret,
            settings=settings,
        )
        session.add(endpoint)
        await session.flush()
        audit(session, org_id, actor, "endpoint.create", endpoint.id, channel=data.channel)
    return endpoint


async def list_endpoints(ctx: Context, org_id: str, channel: str | None) -> list[Endpoint]:
    query = select(Endpoint).where(Endpoint.org_id == org_id)
    if channel:
        query = query.where(Endpoint.channel == channel)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Endpoint.created_at)))
