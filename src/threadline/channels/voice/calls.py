"""A voice webhook, verified: the call it is about (its number, the number's menu, its
fields) and the call's entry on its thread's timeline. Every voice service takes a `Call`;
nothing is stored before `verified_call` has checked the provider's signature."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import select

from threadline.boundary import replace_nul
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice import twilio_voice as twiml
from threadline.channels.voice.adapter import VoiceAdapter, VoiceCredentials
from threadline.channels.voice.ivr import Menu
from threadline.channels.voice.twilio_voice import CALL_STATUSES, Params, one
from threadline.context import Context
from threadline.db import UnitOfWork
from threadline.errors import Invalid, NotAllowed, NotFound
from threadline.threads.models import ThreadEvent

WAITING = ("queued", "offered")  # a call's contact waiting for an agent
OPEN = ("queued", "offered", "assigned")


@dataclass(frozen=True, slots=True)
class Call:
    """A verified voice webhook: its endpoint, the number's menu and the call's fields."""

    endpoint: Endpoint
    adapter: VoiceAdapter
    menu: Menu
    sid: str
    params: Params


async def verified_call(
    ctx: Context, key: str, url: str, params: Params, headers: Mapping[str, str]
) -> Call:
    """The call a webhook is about, once its signature (over `url`, the public URL Twilio
    called) checks out; nothing is stored before this returns."""
    async with ctx.db.sessions() as session:
        endpoint = await session.scalar(
            select(Endpoint).where(
                Endpoint.channel == "voice", Endpoint.key == key, Endpoint.active.is_(True)
            )
        )
    if endpoint is None:
        raise NotFound(f"no voice endpoint {key!r}")
    token = VoiceCredentials.parse(endpoint.secret).auth_token
    if not twiml.verify(token, url, params, headers):
        raise NotAllowed("the webhook signature is missing or invalid")
    adapter = cast(VoiceAdapter, channels_of(ctx).get("voice"))
    try:
        menu = adapter.menu(endpoint_config(endpoint))
    except ValueError as exc:
        raise Invalid(f"the number's IVR is misconfigured: {exc}") from None
    params = replace_nul(params)  # signed as sent; stored with any NUL as U+FFFD
    sid = one(params, "CallSid")
    if not sid or len(sid) > 64:
        raise Invalid("a voice webhook needs a CallSid")
    return Call(endpoint, adapter, menu, sid, params)


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
