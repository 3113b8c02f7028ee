"""Channel endpoints, configured by admins: a chat widget, an SMS number, a mailbox, ..."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from threadline.channels.models import Endpoint
from threadline.channels.registry import UnknownChannel, channels_of
from threadline.channels.schemas import EndpointIn, EndpointPatch
from threadline.context import Context
from threadline.db import UnitOfWork
from threadline.errors import Conflict, Invalid, NotFound
from threadline.orgs.services import audit
from threadline.routing.models import Queue


def _configured(ctx: Context, channel: str, key: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as the channel's adapter normalises them (it checks the key too), with
    the endpoint's bot (`bot: {"flow": ID}`), which no adapter knows about, checked here."""
    settings = dict(settings)
    bot = _bot_settings(ctx, channel, settings.pop("bot", None))
    if bot is not None and channel == "voice":  # a number's flow replaces its IVR menu
        settings["bot"] = bot
    configured = _adapter_settings(ctx, channel, key, settings)
    return {**configured, "bot": bot} if bot is not None else configured


def _bot_settings(ctx: Context, channel: str, bot: Any) -> dict[str, str] | None:
    """The bot's settings in their form; whether its flow exists is `_check_bot_flow`'s."""
    if bot is None:
        return None
    if channel == "email":
        raise Invalid(f"settings.bot: no bot answers {channel} endpoints", field="settings.bot")
    if not isinstance(bot, dict) or set(bot) != {"flow"} or not isinstance(bot["flow"], str):
        raise Invalid('settings.bot: {"flow": "<flow id>"}', field="settings.bot")
    if ctx.bot is None:
        raise Invalid(f"settings.bot.flow: no flow {bot['flow'][:64]!r}", field="settings.bot.flow")
    return {"flow": bot["flow"]}


async def _check_bot_flow(
    ctx: Context, uow: UnitOfWork, org_id: str, settings: dict[str, Any]
) -> None:
    """The flow an endpoint's bot names must be one the organisation has (built in, or its
    own with a published version): a bot with no flow would leave customers unanswered."""
    bot = settings.get("bot")
    if not isinstance(bot, dict):
        return
    flow_id = str(bot.get("flow", ""))
    if ctx.bot is None or not await ctx.bot.knows(uow.session, org_id, flow_id):
        raise Invalid(f"settings.bot.flow: no flow {flow_id[:64]!r}", field="settings.bot.flow")


def _adapter_settings(
    ctx: Context, channel: str, key: str, settings: dict[str, Any]
) -> dict[str, Any]:
    try:
        adapter: Any = channels_of(ctx).get(channel)
    except UnknownChannel:
        return dict(settings)
    configure = getattr(adapter, "configure", None)
    if configure is None:
        return dict(settings)
    try:
        return dict(configure(key, settings))
    except ValueError as exc:
        raise Invalid(str(exc)) from None


async def _check_queue_names(
    ctx: Context, uow: UnitOfWork, org_id: str, channel: str, settings: dict[str, Any]
) -> None:
    """Queues an endpoint's settings name (a voice IVR's options) must exist: a caller sent
    to a queue that is not there would wait for nobody."""
    try:
        named: Any = getattr(channels_of(ctx).get(channel), "queue_names", None)
    except UnknownChannel:
        return
    if named is None:
        return
    known = set(await uow.session.scalars(select(Queue.name).where(Queue.org_id == org_id)))
    for where, name in named(settings):
        if name not in known:
            raise Invalid(f"{where}: no queue named {name!r}", field=where, queue=name)


async def do_create_endpoint(
    ctx: Context, org_id: str, actor: str | None, data: EndpointIn
) -> Endpoint:
    """Add an endpoint (audited; the secret is neither returned nor logged)."""
    settings = _configured(ctx, data.channel, data.key, data.settings)
    async with ctx.uow() as uow:
        session = uow.session
        await _check_queue(uow, org_id, data.queue_id)
        await _check_queue_names(ctx, uow, org_id, data.channel, settings)
        await _check_bot_flow(ctx, uow, org_id, settings)
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


async def _check_queue(uow: UnitOfWork, org_id: str, queue_id: str | None) -> None:
    if queue_id is not None:  # "" names no queue either (it used to reach the foreign key)
        queue = await uow.session.get(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            raise NotFound("no such queue")


async def do_update_endpoint(
    ctx: Context, org_id: str, actor: str | None, endpoint_id: str, data: EndpointPatch
) -> Endpoint:
    """Change an endpoint's name, queue, settings, secret (replaced, never shown) or
    whether it is active; its channel and key stay. Audited with what changed."""
    changed = sorted(data.model_fields_set)
    async with ctx.uow() as uow:
        endpoint: Endpoint | None = await uow.lock(Endpoint, endpoint_id)
        if endpoint is None or endpoint.org_id != org_id:
            raise NotFound("no such endpoint")
        if "settings" in changed and data.settings is not None:
            settings = _configured(ctx, endpoint.channel, endpoint.key, data.settings)
            await _check_queue_names(ctx, uow, org_id, endpoint.channel, settings)
            await _check_bot_flow(ctx, uow, org_id, settings)
            endpoint.settings = settings
        if "queue_id" in changed:
            await _check_queue(uow, org_id, data.queue_id)
            endpoint.queue_id = data.queue_id
        if data.name is not None:
            endpoint.name = data.name
        if data.secret is not None:
            endpoint.secret = data.secret
        if data.active is not None:
            endpoint.active = data.active
        audit(uow.session, org_id, actor, "endpoint.update", endpoint.id, fields=changed)
    return endpoint


async def list_endpoints(ctx: Context, org_id: str, channel: str | None) -> list[Endpoint]:
    query = select(Endpoint).where(Endpoint.org_id == org_id)
    if channel:
        query = query.where(Endpoint.channel == channel)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Endpoint.created_at)))


async def do_new_identity_secret(
    ctx: Context, org_id: str, actor: str | None, endpoint_id: str
) -> str:
    """A new identity secret for a chat widget (the key its site's server signs visitors'
    identities with, docs/widget.md): returned once, stored, never shown again; the old
    one stops verifying at once. Audited."""
    secret = secrets.token_hex(32)
    async with ctx.uow() as uow:
        endpoint: Endpoint | None = await uow.lock(Endpoint, endpoint_id)
        if endpoint is None or endpoint.org_id != org_id:
            raise NotFound("no such endpoint")
        if endpoint.channel != "chat":
            raise Conflict("only a chat widget has an identity secret")
        replaced = endpoint.secret is not None
        endpoint.secret = secret
        audit(
            uow.session, org_id, actor, "endpoint.identity_secret", endpoint.id, replaced=replaced
        )
    return secret
