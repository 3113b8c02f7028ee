"""SMS webhooks: a verified inbound message lands in the customer's thread (once per
provider message id); a verified status callback updates its outbox row."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import structlog

from threadline.callbacks.keywords import callback_word, on_text
from threadline.channels.contract import InboundMessage, InboundRequest, StatusUpdate
from threadline.channels.inbound import Ingested, do_ingest
from threadline.channels.outbox import do_delivery_status, endpoint_config
from threadline.channels.provider_media import keep_media, media_deadline
from threadline.channels.registry import channels_of
from threadline.channels.sms.adapter import SmsAdapter, UnknownProvider
from threadline.channels.sms.provider import WebhookReply
from threadline.channels.webhooks import Received, active_endpoint, verified_events
from threadline.context import Context
from threadline.errors import Invalid, NotFound

log = structlog.get_logger(__name__)


async def _received(
    ctx: Context, provider_name: str, key: str, request: InboundRequest
) -> tuple[Received, WebhookReply]:
    """The endpoint a webhook is for and what it says, once its signature checks out;
    nothing is stored before this returns."""
    endpoint = await active_endpoint(ctx, "sms", key)
    adapter = cast(SmsAdapter, channels_of(ctx).get("sms"))
    if endpoint is None or endpoint.settings.get("provider", "twilio") != provider_name:
        raise NotFound(f"no {provider_name} SMS endpoint {key!r}")
    config = endpoint_config(endpoint)
    try:
        provider = adapter.provider_of(config)
    except UnknownProvider:
        raise NotFound(f"no SMS provider {provider_name!r}") from None
    received = Received(endpoint, config, verified_events(adapter, config, request))
    return received, provider.reply()


async def do_sms_inbound(
    ctx: Context, provider_name: str, key: str, request: InboundRequest
) -> tuple[Ingested, WebhookReply]:
    """Store a provider's inbound SMS; a retry of the same message id is stored once."""
    received, reply = await _received(ctx, provider_name, key, request)
    endpoint = received.endpoint
    sms = received.events[0]
    if not isinstance(sms, InboundMessage):
        raise Invalid("not an inbound message")
    # replies leave through the number written to
    message = replace(sms, data={**sms.data, "endpoint_id": endpoint.id})
    # the MMS's files, kept here before the entry naming them is committed
    adapter = cast(SmsAdapter, channels_of(ctx).get("sms"))
    message = await keep_media(ctx, endpoint, message, adapter, media_deadline())
    ingested = await do_ingest(ctx, endpoint, message)
    if ingested.created and (ingested.opened or is_callback_word(sms.body)):
        await _callback_words(ctx, endpoint.org_id, ingested, sms.identity_value, sms.body)
    return ingested, reply


def is_callback_word(body: str) -> bool:
    return callback_word(body) is not None


async def _callback_words(
    ctx: Context, org_id: str, ingested: Ingested, sender: str, body: str
) -> None:
    """Callbacks by text (CANCEL, 1 to accept an offer, the offer itself): the message is
    stored already, so a failure here is logged, never a reason for the provider to retry."""
    try:
        await on_text(ctx, org_id, ingested.thread.id, sender, body)
    except Exception:
        log.exception("sms.callback_words_failed", thread_id=ingested.thread.id)


async def do_sms_status(
    ctx: Context, provider_name: str, key: str, request: InboundRequest
) -> WebhookReply:
    """Apply a provider's delivery report to the message it is about (the outbox row's id
    rides on the callback URL as `outbox_id`)."""
    received, reply = await _received(ctx, provider_name, key, request)
    for update in received.events:
        if isinstance(update, StatusUpdate) and update.status:
            outbox_id = request.query.get("outbox_id")
            await do_delivery_status(ctx, received.endpoint, update, outbox_id)
    return reply
