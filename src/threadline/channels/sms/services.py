"""SMS webhooks: a verified inbound message lands in the customer's thread (once per
provider message id); a verified status callback updates its outbox row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import structlog
from sqlalchemy import select

from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import Ingested, do_ingest
from threadline.channels.models import Endpoint
from threadline.channels.outbox import do_delivery_status, endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.sms.adapter import SmsAdapter, UnknownProvider
from threadline.channels.sms.provider import MalformedWebhook, Params, SmsProvider, WebhookReply
from threadline.context import Context
from threadline.errors import Invalid, NotAllowed, NotFound

log = structlog.get_logger(__name__)


async def _verified(
    ctx: Context, provider_name: str, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> tuple[Endpoint, SmsProvider]:
    """The endpoint a webhook is for, once its signature checks out; nothing is stored
    before this returns."""
    async with ctx.db.sessions() as session:
        endpoint = await session.scalar(
            select(Endpoint).where(
                Endpoint.channel == "sms", Endpoint.key == key, Endpoint.active.is_(True)
            )
        )
    adapter = cast(SmsAdapter, channels_of(ctx).get("sms"))
    if endpoint is None or endpoint.settings.get("provider", "twilio") != provider_name:
        raise NotFound(f"no {provider_name} SMS endpoint {key!r}")
    try:
        provider = adapter.provider_of(endpoint_config(endpoint))
    except UnknownProvider:
        raise NotFound(f"no SMS provider {provider_name!r}") from None
    if not provider.verify(endpoint.secret or "", url, params, headers):
        raise NotAllowed("the webhook signature is missing or invalid")
    return endpoint, provider


async def do_sms_inbound(
    ctx: Context, provider_name: str, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> tuple[Ingested, WebhookReply]:
    """Store a provider's inbound SMS; a retry of the same message id is stored once."""
    endpoint, provider = await _verified(ctx, provider_name, key, url, params, headers)
    try:
        sms = provider.parse_inbound(params)
    except MalformedWebhook as exc:
        raise Invalid(str(exc)) from None
    message = InboundMessage(
        channel="sms",
        identity_kind="phone",
        identity_value=sms.sender,
        body=sms.body,
        provider_msg_id=sms.provider_msg_id,
        attachments=sms.media,
        data={"endpoint_id": endpoint.id},  # replies leave through the number written to
    )
    ingested = await do_ingest(ctx, endpoint, message)
    if ingested.created and (ingested.opened or is_callback_word(sms.body)):
        await _callback_words(ctx, endpoint.org_id, ingested, sms.sender, sms.body)
    return ingested, provider.reply()


def is_callback_word(body: str) -> bool:
    from threadline.callbacks.services import callback_word

    return callback_word(body) is not None


async def _callback_words(
    ctx: Context, org_id: str, ingested: Ingested, sender: str, body: str
) -> None:
    """Callbacks by text (CANCEL, 1 to accept an offer, the offer itself): the message is
    stored already, so a failure here is logged, never a reason for the provider to retry."""
    # imported here: callbacks send their texts through this channel
    from threadline.callbacks.services import on_text

    try:
        await on_text(ctx, org_id, ingested.thread.id, sender, body)
    except Exception:
        log.exception("sms.callback_words_failed", thread_id=ingested.thread.id)


async def do_sms_status(
    ctx: Context,
    provider_name: str,
    key: str,
    url: str,
    params: Params,
    headers: Mapping[str, str],
    outbox_id: str | None,
) -> WebhookReply:
    """Apply a provider's delivery report to the message it is about."""
    endpoint, provider = await _verified(ctx, provider_name, key, url, params, headers)
    try:
        update = provider.parse_status(params)
    except MalformedWebhook as exc:
        raise Invalid(str(exc)) from None
    if update.status:
        await do_delivery_status(ctx, endpoint, update, outbox_id)
    return provider.reply()
