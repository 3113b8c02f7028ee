"""Connect a waiting caller the moment an agent accepts their offer: the live call is
redirected through the Calls API to our `/connect` TwiML (which dials the agent), instead of
waiting for the hold loop's next poll. The hold loop stays the fallback: a redirect that
fails, or an event this process missed, still connects at the next poll.

Routing knows nothing of voice: this listens on the bus for `contact.accepted` of a voice
contact (published after the accept commits; a chat's acceptance costs it nothing, not even
a read). With several processes on a Redis bus every
one of them sees the event; the first to claim the call in the contact's context redirects
it, so a call is redirected once per accepted offer. The provider is called after that
claim has committed, never inside a transaction."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import structlog

from threadline.channels.contract import CallFailed
from threadline.channels.models import Endpoint
from threadline.channels.outbox import endpoint_config
from threadline.channels.registry import channels_of
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.context import Context
from threadline.db import org_scope
from threadline.events.domain import ContactAccepted, DomainEvent
from threadline.routing.models import Contact, Offer

log = structlog.get_logger(__name__)

MAX_CONCURRENT = 32


def _accepted(event: DomainEvent) -> bool:
    """An accepted offer of a voice contact (every other channel's is none of ours)."""
    return type(event) is ContactAccepted and event.channel == "voice" and bool(event.offer_id)


class CallConnector:
    """Started with the app (see http.py's lifespan); one per process."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._listener: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="voice-connector")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _listen(self) -> None:
        while True:
            subscription = self._ctx.bus.subscribe(_accepted)
            try:
                async for event in subscription:
                    with org_scope(event.org_id):  # the accepted contact's organisation
                        task = asyncio.create_task(self._handle(event))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            finally:
                self._ctx.bus.unsubscribe(subscription)
            # Fell too far behind: events were dropped. The hold loop connects those calls.
            log.warning("voice.connector.resubscribed")

    async def _handle(self, event: DomainEvent) -> None:
        assert isinstance(event, ContactAccepted) and event.offer_id
        async with self._slots:
            try:
                await self.connect(event.offer_id)
            except Exception:
                log.exception("voice.connect_failed", offer_id=event.offer_id)

    async def connect(self, offer_id: str) -> bool:
        """Redirect the call of an accepted voice offer to its agent; False when there is
        nothing to do (not a waiting call, or another process did it)."""
        claimed = await self._claim(offer_id)
        if claimed is None:
            return False
        endpoint, call_sid, url = claimed
        adapter = cast(VoiceAdapter, channels_of(self._ctx).get("voice"))
        try:
            await adapter.redirect(endpoint_config(endpoint), call_sid, url)
        except CallFailed as exc:  # e.g. the caller hung up meanwhile
            log.info("voice.redirect_failed", call_sid=call_sid, error=exc.message)
            return False
        log.info("voice.redirected", call_sid=call_sid, offer_id=offer_id)
        return True

    async def _claim(self, offer_id: str) -> tuple[Endpoint, str, str] | None:
        async with self._ctx.db.sessions() as session:
            offer = await session.get(Offer, offer_id)
            contact = await session.get(Contact, offer.contact_id) if offer else None
        if offer is None or contact is None or not _waiting_call(contact.context):
            return None  # not a call in the hold loop: nothing to redirect
        async with self._ctx.uow() as uow:
            contact = await uow.lock(Contact, offer.contact_id)
            context: dict[str, Any] = dict(contact.context) if contact else {}
            if (
                contact is None
                or contact.status != "assigned"
                or contact.agent_id != offer.agent_id
                or context.get("connect_offer") == offer.id
            ):
                return None
            endpoint = await uow.session.get(Endpoint, context["endpoint_id"])
            if endpoint is None or not endpoint.active:
                return None
            contact.context = {**context, "connect_offer": offer.id}
        adapter = cast(VoiceAdapter, channels_of(self._ctx).get("voice"))
        url = adapter.webhook_url(
            endpoint.key, "/connect", contact=contact.id, lang=context.get("lang")
        )
        return endpoint, str(context["call_sid"]), url


def _waiting_call(context: dict[str, Any]) -> bool:
    """A contact opened by an incoming call's IVR (services._queue_call)."""
    return bool(context.get("call_sid")) and bool(context.get("endpoint_id"))
