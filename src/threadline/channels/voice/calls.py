"""A voice webhook, verified: the call it is about (its number, the number's menu, its
fields) and the call's entry on its thread's timeline. Every voice service takes a `Call`;
nothing is stored before `verified_call` has checked the provider's signature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import select

from threadline.boundary import replace_nul
from threadline.channels.contract import CallUpdate, InboundRequest
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice.adapter import VoiceAdapter, flow_of
from threadline.channels.voice.ivr import Menu
from threadline.channels.voice.twilio_voice import CALL_STATUSES, Params, one
from threadline.channels.webhooks import receive
from threadline.context import Context
from threadline.db import UnitOfWork
from threadline.errors import Invalid, NotFound
from threadline.threads.models import ThreadEvent

WAITING = ("queued", "offered")  # a call's contact waiting for an agent
OPEN = ("queued", "offered", "assigned")


@dataclass(frozen=True, slots=True)
class Call:
    """A verified voice webhook: its endpoint, the number's menu, the call's fields as
    posted and what they say of the call."""

    endpoint: Endpoint
    adapter: VoiceAdapter
    menu: Menu
    sid: str
    params: Params
    update: CallUpdate  # what the webhook says of the call, normalised by the adapter
    flow: str | None = None  # the flow the number runs as its IVR (settings.bot.flow)

    def connect_urls(self, contact_id: str, agent_id: str, lang: str) -> tuple[str, str | None]:
        """Where Twilio posts the outcome of connecting the caller to the agent (`/dialed`),
        and where the recording callback goes when the number records its calls."""
        endpoint, adapter = self.endpoint, self.adapter
        action = adapter.webhook_url(
            endpoint.key, "/dialed", contact=contact_id, agent=agent_id, lang=lang
        )
        recording = None
        if adapter.records(endpoint_config(endpoint)):
            recording = adapter.webhook_url(endpoint.key, "/recording")
        return action, recording


async def verified_call(ctx: Context, key: str, request: InboundRequest) -> Call:
    """The call a webhook is about, once its signature (over the public URL Twilio called)
    checks out; nothing is stored before this returns."""
    received = await receive(ctx, "voice", key, request)
    endpoint = received.endpoint
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    flow = flow_of(received.config.settings)
    languages = (
        await ctx.voice_flows.languages(endpoint.org_id, flow) if flow and ctx.voice_flows else []
    )
    try:
        menu = adapter.menu(received.config, languages)
    except ValueError as exc:
        raise Invalid(f"the number's IVR is misconfigured: {exc}") from None
    params = replace_nul(request.form)  # signed as sent; stored with any NUL as U+FFFD
    update = replace_nul(next(e for e in received.events if isinstance(e, CallUpdate)))
    return Call(endpoint, adapter, menu, update.call_sid, params, update, flow)


async def call_event(ctx: Context, org_id: str, call_sid: str) -> ThreadEvent | None:
    """The call's entry on its thread's timeline (inbound or outbound), if stored."""
    async with ctx.db.sessions() as session:
        return await session.scalar(
            select(ThreadEvent).where(
                ThreadEvent.org_id == org_id,
                ThreadEvent.channel == "voice",
                ThreadEvent.provider_msg_id == call_sid,
            )
        )


async def stored_call_event(ctx: Context, call: Call) -> ThreadEvent:
    """The call's timeline entry; NotFound for a call Threadline never saw."""
    event = await call_event(ctx, call.endpoint.org_id, call.sid)
    if event is None:
        raise NotFound(f"no call {call.sid!r}")
    return event


async def is_stored(uow: UnitOfWork, org_id: str, provider_msg_id: str) -> bool:
    """Whether a provider callback with this id is on a timeline already."""
    found = await uow.session.scalar(
        select(ThreadEvent.id).where(
            ThreadEvent.org_id == org_id,
            ThreadEvent.channel == "voice",
            ThreadEvent.provider_msg_id == provider_msg_id,
        )
    )
    return found is not None


def parse_status(params: Params) -> tuple[str, int | None]:
    """A status callback's CallStatus and duration in seconds (CallDuration)."""
    status = one(params, "CallStatus").lower()
    if status not in CALL_STATUSES:
        raise Invalid("a status callback needs a known CallStatus")
    raw = one(params, "CallDuration") or one(params, "DialCallDuration")
    if raw and (not raw.isdigit() or len(raw) > 7):
        raise Invalid("CallDuration is not a number")
    return status, int(raw) if raw else None
