"""The wiring every service receives, built once by create_app (app.build_context).

Named fields only: what a service may use is spelled out here, typed. The parts that need
the context to be built (routing, the workers) are set by the composition root right after
it is created, and only there.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

from threadline.config import Settings
from threadline.db import Database, UnitOfWork
from threadline.events.bus import Bus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from threadline.agents.desktops import DesktopPresence
    from threadline.channels.outbox import OutboxSender
    from threadline.channels.registry import ChannelRegistry
    from threadline.channels.voice.flow import FlowCall, FlowInput, FlowReply
    from threadline.events.handlers import Handlers
    from threadline.events.log import ConsumerRunner
    from threadline.ratelimit import RateLimits
    from threadline.routing.services import RoutingService
    from threadline.selfservice.incidents.services import IncidentService
    from threadline.threads.models import Thread, ThreadEvent
    from threadline.webhooks.delivery import WebhookSender
    from threadline.workers.timers import TimerWorker


class Bot(Protocol):
    """The bot (selfservice/bot), as the rest of the wiring sees it."""

    async def knows(self, session: AsyncSession, org_id: str, flow_id: str) -> bool:
        """Whether an endpoint of the organisation may name this flow in `settings.bot.flow`
        (read with the caller's session)."""
        ...

    async def stop(self) -> None: ...


class VoiceFlows(Protocol):
    """A flow run as a phone number's IVR (selfservice/bot/voice.py), as the voice channel
    (which imports no self-service) sees it: one turn per webhook, TwiML back."""

    async def languages(self, org_id: str, flow_id: str) -> list[tuple[str, str]]:
        """The flow's languages as (code, <Say> language); [] for no such flow."""
        ...

    async def turn(self, call: FlowCall, given: FlowInput | None) -> FlowReply:
        """The call's next turn: `given` None starts the flow (once per call); an input
        for a turn already answered (a retried webhook) gets that answer again."""
        ...

    async def hung_up(self, org_id: str, thread_id: str, call_seq: int) -> None:
        """The caller hung up: a flow still running on the call ends (not deflected)."""


@dataclass(frozen=True, slots=True)
class CallSurvey:
    """A call whose agent leg has just ended with the caller still on the line, as voice
    hands it to surveys: the contact (still assigned to its agent) and the caller's
    language (the IVR's choice)."""

    org_id: str
    contact_id: str
    thread_id: str
    customer_id: str
    queue_id: str | None
    agent_id: str
    language: str


@dataclass(frozen=True, slots=True)
class KeypadTurn:
    """What the caller hears next in a keypad survey: `kind` is the question their key
    answers (csat, ces), with its `scale` (the highest key); "done" is the thank-you, said
    before hanging up."""

    kind: str
    text: str
    language: str
    scale: int = 0


class Surveys(Protocol):
    """Surveys (surveys/), as inbound messages and calls see them."""

    async def take_reply(self, uow: UnitOfWork, thread: Thread, entry: ThreadEvent) -> bool:
        """Whether the customer's message `entry` answers the survey waiting on its thread
        (then it opens no contact). Inside the ingest's transaction and thread lock."""
        ...

    async def start_call(self, call: CallSurvey) -> KeypadTurn | None:
        """The keypad survey's first question for a call whose agent leg has ended, or None
        when the caller is not to be surveyed (surveys off on voice, opted out, surveyed
        lately; recorded as skipped). Once per contact: asked again (a retried webhook),
        the question the survey is at, or None once it is over."""
        ...

    async def take_keys(
        self, org_id: str, contact_id: str, kind: str, digits: str
    ) -> KeypadTurn | None:
        """The key the caller pressed for question `kind` of their contact's keypad survey
        (stored once: a retried webhook stores nothing twice); what they hear next, the
        same question again for a key off its scale (or none), None for no such survey."""
        ...


class ContactForecasts(Protocol):
    """The contacts forecast per queue (planning/forecasts.py), as the callback booking
    windows see it."""

    async def expected(
        self, org_id: str, queue_id: str, windows: Sequence[tuple[datetime, datetime]]
    ) -> list[float] | None:
        """Contacts forecast in each [start, end) window (UTC); None when the queue has too
        little history for a tested forecast."""
        ...


@dataclass(eq=False)
class Context:
    settings: Settings
    db: Database
    bus: Bus
    handlers: Handlers
    channels: ChannelRegistry
    rate_limits: RateLimits
    # set by app.build_context once the context exists (they hold it)
    routing: RoutingService = field(init=False)
    timers: TimerWorker = field(init=False)
    outbox: OutboxSender = field(init=False)
    consumers: ConsumerRunner = field(init=False)
    webhooks: WebhookSender = field(init=False)
    incidents: IncidentService = field(init=False)
    desktops: DesktopPresence = field(init=False)
    bot: Bot | None = field(init=False, default=None)
    voice_flows: VoiceFlows | None = field(init=False, default=None)
    surveys: Surveys | None = field(init=False, default=None)
    forecasts: ContactForecasts | None = field(init=False, default=None)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.handlers)


_T = TypeVar("_T")


def per_context(factory: Callable[[Context], _T]) -> Callable[[Context], _T]:
    """A getter of one object per running context, made by ``factory`` on first use and
    gone with the context (an app's own registry of sessions, gates, streams): tests run
    several apps in one process, and each must have its own."""
    made: weakref.WeakKeyDictionary[Context, _T] = weakref.WeakKeyDictionary()

    def of(ctx: Context) -> _T:
        found = made.get(ctx)
        if found is None:
            found = made[ctx] = factory(ctx)
        return found

    return of
