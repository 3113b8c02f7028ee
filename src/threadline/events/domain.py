"""Typed domain events: every fact the core establishes, one immutable value each.

One vocabulary with shared/DESIGN.md. A service states a fact with `uow.emit(Event(...))`
inside the transaction that makes it true; handlers registered in `create_app` react to it
(events/handlers.py). The `type` of each class is its name on the wire: in the durable event
log, in outbound webhooks, and in the frames the desktop stream sends.

`durable = False` marks signals that are not facts worth keeping (someone is typing, a queue's
counters moved, a timeline entry to draw): they go to the live bus only, never to the log.

Plain data only (str, int, float, bool, None, datetime, lists and dicts of those), so that an
event survives the log, Redis and JSON unchanged: `encode` and `decode` are exact inverses.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

E = TypeVar("E", bound="DomainEvent")

EVENT_TYPES: dict[str, type[DomainEvent]] = {}
_ENVELOPE = ("id", "org_id", "occurred_at")


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, kw_only=True, slots=True)
class DomainEvent:
    """A fact, in an organisation, at a moment; `id` lets a receiver deduplicate it."""

    type: ClassVar[str] = ""
    durable: ClassVar[bool] = True
    # a live signal that only says "look again" may be coalesced (events/coalesce.py): at
    # most one per `coalesce_key()` and window
    coalesce_s: ClassVar[float] = 0.0

    org_id: str
    id: str = field(default_factory=_new_id)
    occurred_at: datetime = field(default_factory=_now)

    def __init_subclass__(cls) -> None:
        # (no super(): zero-argument super breaks in a slots dataclass; object's does nothing)
        if not cls.__dict__.get("type"):
            return  # an abstract family (e.g. ContactEvent): not a type of its own
        known = EVENT_TYPES.get(cls.type)
        # @dataclass(slots=True) builds the class twice: the second one replaces the first
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(f"two domain events are named {cls.type!r}")
        EVENT_TYPES[cls.type] = cls

    def coalesce_key(self) -> Hashable | None:
        return None

    def frame(self) -> dict[str, Any]:
        """The JSON a socket or a webhook receives: `type` plus every field."""
        return encode(self)


def _fields(cls: type[DomainEvent]) -> tuple[str, ...]:
    names: tuple[str, ...] | None = _FIELD_NAMES.get(cls)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELD_NAMES[cls] = names
        _DATETIMES[cls] = frozenset(
            f.name for f in dataclasses.fields(cls) if "datetime" in str(f.type)
        )
    return names


_FIELD_NAMES: dict[type[DomainEvent], tuple[str, ...]] = {}
_DATETIMES: dict[type[DomainEvent], frozenset[str]] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def encode(event: DomainEvent) -> dict[str, Any]:
    """The event as JSON-ready data: {"type": ..., "id": ..., "org_id": ..., ...}."""
    data: dict[str, Any] = {"type": event.type}
    for name in _fields(type(event)):
        data[name] = _plain(getattr(event, name))
    return data


def decode(data: dict[str, Any]) -> DomainEvent:
    """The event `encode` wrote; KeyError for a type this version does not know."""
    cls = EVENT_TYPES[data["type"]]
    names = _fields(cls)
    datetimes = _DATETIMES[cls]
    values: dict[str, Any] = {}
    for name in names:
        if name not in data:
            continue  # an older writer: the field's default
        value = data[name]
        if name in datetimes and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[name] = value
    return cls(**values)


def durable_types() -> list[str]:
    """The names of the facts kept in the log (what a webhook may subscribe to)."""
    return sorted(name for name, cls in EVENT_TYPES.items() if cls.durable)


# ---------------------------------------------------------------- threads and messages
@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineEntryAdded(DomainEvent):
    """A new entry on a thread's timeline, for the screens that draw it."""

    type: ClassVar[str] = "timeline"
    durable: ClassVar[bool] = False
    thread_id: str
    customer_id: str
    agent_id: str | None
    internal: bool
    event: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageReceived(DomainEvent):
    """A customer's message was stored (once, however often the provider retried)."""

    type: ClassVar[str] = "message.received"
    thread_id: str
    customer_id: str
    channel: str
    seq: int  # the entry's place on the thread's timeline
    kind: str = "message"
    body: str | None = None
    attachments: int = 0
    language: str | None = None
    endpoint_id: str | None = None  # where it came in (a bot may answer there)
    # whether the sender is who the message says (an email's From proven by DKIM or a trusted
    # relay): False carries no trust of the customer it names; None: the channel does not say
    sender_verified: bool | None = None
    # a bot answers where it came in, or holds the thread: it reads the message at once.
    # None: not known (an event stored before this field existed): the bot looks
    bot: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageSent(DomainEvent):
    """An agent's reply was written to the thread and queued for its channel."""

    type: ClassVar[str] = "message.sent"
    thread_id: str
    customer_id: str
    agent_id: str | None
    channel: str
    seq: int  # the entry's place on the thread's timeline
    body: str | None = None
    attachments: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ReceiptMoved(DomainEvent):
    """Someone has read (or received) a thread up to `read_seq`."""

    type: ClassVar[str] = "receipt"
    durable: ClassVar[bool] = False
    thread_id: str
    customer_id: str
    agent_id: str | None
    by: str
    pointer: str
    read_seq: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadChanged(DomainEvent):
    """A thread's inbox row moved (a new entry, status, assignment, snooze): every desktop
    of the organisation refreshes its inbox views (no content: the views are org-wide)."""

    type: ClassVar[str] = "thread.changed"
    durable: ClassVar[bool] = False
    # a chat moves its row at every message: each desktop hears of it at most every 250 ms
    coalesce_s: ClassVar[float] = 0.25
    thread_id: str
    status: str
    assigned_agent_id: str | None
    updated_at: str

    def coalesce_key(self) -> Hashable | None:
        return (self.org_id, self.thread_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadLabelled(DomainEvent):
    """An agent added (`added`) or removed an organisation's label on a thread."""

    type: ClassVar[str] = "thread.labelled"
    thread_id: str
    label_id: str
    label: str
    added: bool
    agent_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Typing(DomainEvent):
    """Someone (`who`: customer or agent) started or stopped typing in a thread."""

    type: ClassVar[str] = "typing"
    durable: ClassVar[bool] = False
    who: str
    thread_id: str | None
    customer_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    on: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryUpdated(DomainEvent):
    """How an outbound message is doing on its channel (sent, delivered, read, failed...)."""

    type: ClassVar[str] = "delivery"
    thread_id: str
    customer_id: str | None
    agent_id: str | None
    event_id: int | None  # the timeline entry of the message
    outbox_id: str
    channel: str
    status: str
    attempts: int
    error: str | None = None
    retry_in_s: float | None = None  # queued again: the next attempt in this many seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryFailed(DomainEvent):
    """An outbound message could not be delivered (or may not have been): a person looks."""

    type: ClassVar[str] = "delivery.failed"
    thread_id: str
    event_id: int | None
    outbox_id: str
    channel: str
    status: str
    error: str | None


# ---------------------------------------------------------------- contacts and offers
@dataclass(frozen=True, kw_only=True, slots=True)
class QueueChanged(DomainEvent):
    """A queue's counters moved: screens that show it refresh."""

    type: ClassVar[str] = "queue.changed"
    durable: ClassVar[bool] = False
    queue_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactEvent(DomainEvent):
    """Something happened to a contact (an episode of demand) of a thread, in a queue."""

    contact_id: str
    thread_id: str
    customer_id: str
    queue_id: str
    channel: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactQueued(ContactEvent):
    """A contact entered a queue: it waits for an agent with the skills it needs."""

    type: ClassVar[str] = "contact.queued"
    priority: int = 0
    reason: str | None = None
    language: str | None = None
    required_skills: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactOffered(ContactEvent):
    """Routing offered a contact to an agent (`offer` is what the agent's screen shows)."""

    type: ClassVar[str] = "offer.created"
    agent_id: str
    offer_id: str
    expires_at: datetime | None = None
    offer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferClosed(DomainEvent):
    """An offer ended: accepted, rejected, cancelled (the contact left) or withdrawn."""

    type: ClassVar[str] = "offer.closed"
    offer_id: str
    agent_id: str
    contact_id: str
    status: str
    thread_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferExpired(OfferClosed):
    """The agent let an offer time out; the contact goes to the next agent."""

    type: ClassVar[str] = "offer.expired"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactAccepted(ContactEvent):
    """An agent took the contact: the thread is theirs. `waited_s` is the customer's wait."""

    type: ClassVar[str] = "contact.accepted"
    agent_id: str
    agent_name: str
    offer_id: str | None
    waited_s: float
    callback_retry: bool = False  # a kept place being called back: its wait teaches nothing


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactTransferred(ContactEvent):
    """An agent or supervisor handed the contact to another queue or agent."""

    type: ClassVar[str] = "contact.transferred"
    from_agent_id: str | None
    to_agent_id: str | None
    to_queue_id: str | None
    note: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactTakenOver(ContactEvent):
    """A supervisor took the contact from the agent handling it: the thread is theirs now and
    `agent_id` (the agent released) is told."""

    type: ClassVar[str] = "contact.taken_over"
    agent_id: str
    supervisor_id: str
    supervisor_name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactResolved(ContactEvent):
    """The agent finished the contact; `reason` and `note` are the wrap-up."""

    type: ClassVar[str] = "contact.resolved"
    agent_id: str | None
    reason: str | None
    note: str | None
    handle_s: float | None
    from_status: str = "assigned"
    # the agent's slot stays busy in wrap-up (agent.wrapup_started follows) instead of
    # freeing up now
    wrapup: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentWrapupStarted(ContactEvent):
    """The agent resolved the contact and is in wrap-up (after-contact work) for at most
    `limit_s` seconds: their slot on the channel stays busy until `agent.wrapup_ended`."""

    type: ClassVar[str] = "agent.wrapup_started"
    agent_id: str
    limit_s: int
    started_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentWrapupEnded(ContactEvent):
    """The agent's wrap-up of the contact ended after `wrapup_s` seconds: they pressed Done
    (`how` done), or its time ran out (timeout); their slot is free again."""

    type: ClassVar[str] = "agent.wrapup_ended"
    agent_id: str
    started_at: datetime
    wrapup_s: float
    how: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactEnded(ContactEvent):
    """The system ended an assigned contact without its agent (an unanswered callback)."""

    type: ClassVar[str] = "contact.ended"
    agent_id: str | None
    wrapup: str
    from_status: str = "assigned"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactAbandoned(ContactEvent):
    """The customer left before an agent took the contact."""

    type: ClassVar[str] = "contact.abandoned"
    why: str
    waited_s: float
    agent_id: str | None = None  # the agent it was being offered to, if any
    from_status: str = "queued"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactRefiled(ContactEvent):
    """A waiting contact's routing fields changed (a kept place became a call): routing
    files it again."""

    type: ClassVar[str] = "contact.refiled"
    durable: ClassVar[bool] = False


# ---------------------------------------------------------------- supervision
@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadWhispered(DomainEvent):
    """A supervisor whispered to the agent handling a thread: a note for `agent_id` (and
    supervisors) only, never shown to the customer on any channel."""

    type: ClassVar[str] = "thread.whispered"
    thread_id: str
    customer_id: str
    agent_id: str
    supervisor_id: str
    supervisor_name: str
    seq: int
    body: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisorJoined(DomainEvent):
    """A supervisor joined a live conversation: they may write to the customer beside the
    agent (`agent_id`), who stays on it."""

    type: ClassVar[str] = "thread.joined"
    thread_id: str
    customer_id: str
    agent_id: str | None
    supervisor_id: str
    supervisor_name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SupervisorLeft(DomainEvent):
    """A supervisor who had joined a conversation left it."""

    type: ClassVar[str] = "thread.left"
    thread_id: str
    customer_id: str
    agent_id: str | None
    supervisor_id: str
    supervisor_name: str


# ---------------------------------------------------------------- agents and sessions
@dataclass(frozen=True, kw_only=True, slots=True)
class PresenceChanged(DomainEvent):
    """An agent's presence is now `presence` (available, busy, away, offline) since `at`;
    `reason` says why when someone else set it (missed_offer, no_desktop, supervisor)."""

    type: ClassVar[str] = "agent.presence"
    agent_id: str
    presence: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentChanged(DomainEvent):
    """An agent's skills, languages, capacity, tier or standing changed (not presence)."""

    type: ClassVar[str] = "agent.changed"
    agent_id: str
    active: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionEnded(DomainEvent):
    """Agent sessions ended on the server; with `tokens_too` the agent may not work at all."""

    type: ClassVar[str] = "session.ended"
    agent_id: str
    session_ids: list[str]
    tokens_too: bool = False


# ---------------------------------------------------------------- customers
@dataclass(frozen=True, kw_only=True, slots=True)
class CustomersMerged(DomainEvent):
    """`merged_id`'s identities and threads now belong to `survivor_id`."""

    type: ClassVar[str] = "customers.merged"
    survivor_id: str
    merged_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class CustomerErased(DomainEvent):
    """The customer's personal data is being erased (right to erasure). Each domain removes
    or anonymises what it keeps of them in the same transaction (in-transaction handlers,
    registered in app.build_context); counts and times stay for the aggregates."""

    type: ClassVar[str] = "customer.erased"
    customer_id: str
    erased_by: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadsPurged(DomainEvent):
    """The organisation's retention policy removes these resolved threads' content (message
    bodies, files, bot transcripts); each domain's in-transaction handler removes its share.
    The customers, counts and times stay."""

    type: ClassVar[str] = "threads.purged"
    thread_ids: list[str]
    older_than_days: int


# ---------------------------------------------------------------- callbacks
@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackChanged(DomainEvent):
    """A callback was requested, booked, moved, cancelled, dialled, kept..."""

    type: ClassVar[str] = "callback.changed"
    callback_id: str
    thread_id: str
    customer_id: str
    status: str
    action: str
    queue_id: str | None = None  # the queue whose contact the callback holds (for reports)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackFailed(DomainEvent):
    """Every attempt to reach the customer failed; they were told."""

    type: ClassVar[str] = "callback.failed"
    callback_id: str
    thread_id: str
    customer_id: str
    attempts: int
    why: str
    queue_id: str | None = None  # the queue whose contact the callback held (for reports)


# ---------------------------------------------------------------- calls
@dataclass(frozen=True, kw_only=True, slots=True)
class CallOutcome(DomainEvent):
    """How an outbound call went, once per (call, outcome). `purpose` and `ref_id` say what
    it was for (a callback and its id). `status`: answered|completed|no-answer|busy|failed|
    canceled; `answered_by` (machine detection): human|machine_start|machine_end_beep|fax|
    unknown; `agent_status`: the outcome of dialling the agent once the customer answered,
    None when no agent was dialled (yet)."""

    type: ClassVar[str] = "call.outcome"
    call_sid: str
    thread_id: str
    purpose: str
    ref_id: str
    agent_id: str | None
    status: str
    duration_s: int | None = None
    answered_by: str | None = None
    agent_status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallHeld(ContactEvent):
    """The agent put the caller of a call in a conference on hold (the provider's conference
    said so: participant-hold); `agent_id` is the agent handling the contact."""

    type: ClassVar[str] = "call.held"
    agent_id: str | None
    call_sid: str
    conference_sid: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CallResumed(ContactEvent):
    """The caller is back from hold (participant-unhold) after `held_s` seconds."""

    type: ClassVar[str] = "call.resumed"
    agent_id: str | None
    call_sid: str
    conference_sid: str
    held_s: float


# ---------------------------------------------------------------- self-service
@dataclass(frozen=True, kw_only=True, slots=True)
class BotHandedOff(DomainEvent):
    """The bot handed the customer to a person, with what it learnt (contact.context.bot)."""

    type: ClassVar[str] = "bot.handed_off"
    thread_id: str
    contact_id: str | None
    channel: str
    flow_id: str
    reason: str
    intent: str | None = None
    confidence: float | None = None
    queue: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BotDeflected(DomainEvent):
    """The bot solved the customer's need on its own (they confirmed, or left satisfied)."""

    type: ClassVar[str] = "bot.deflected"
    thread_id: str
    channel: str
    flow_id: str
    intent: str | None = None
    article_id: str | None = None


# ---------------------------------------------------------------- flows (bot and IVR)
@dataclass(frozen=True, kw_only=True, slots=True)
class FlowPublished(DomainEvent):
    """An admin published a version of an organisation's flow: new bot conversations on
    endpoints naming `flow_id` run it (those under way keep their version)."""

    type: ClassVar[str] = "flow.published"
    flow_id: str
    version: int
    agent_id: str | None = None


# ---------------------------------------------------------------- knowledge base
@dataclass(frozen=True, kw_only=True, slots=True)
class ArticlePublished(DomainEvent):
    """A knowledge-base article became visible (help center, widget, search) in these
    languages; published again after an edit, it is announced again."""

    type: ClassVar[str] = "article.published"
    article_id: str
    slug: str
    languages: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ArticleFeedbackGiven(DomainEvent):
    """A reader answered "did this help?" about an article in a language, from `source`
    (help_center|widget|app)."""

    type: ClassVar[str] = "article.feedback_given"
    article_id: str
    language: str
    helpful: bool
    source: str


# ---------------------------------------------------------------- incidents (outage mode)
@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentEvent(DomainEvent):
    """An incident was declared, changed or resolved (`status` after the change)."""

    incident_id: str
    title: str
    status: str
    agent_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentDeclared(IncidentEvent):
    type: ClassVar[str] = "incident.declared"


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentUpdated(IncidentEvent):
    type: ClassVar[str] = "incident.updated"


@dataclass(frozen=True, kw_only=True, slots=True)
class IncidentResolved(IncidentEvent):
    type: ClassVar[str] = "incident.resolved"


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadTaggedToIncident(DomainEvent):
    """A thread was found to be about an incident (its customer's message, the bot, or an
    agent said so)."""

    type: ClassVar[str] = "incident.thread_tagged"
    incident_id: str
    thread_id: str
    customer_id: str
    source: str


# ---------------------------------------------------------------- surveys
@dataclass(frozen=True, kw_only=True, slots=True)
class SurveySent(DomainEvent):
    """A contact's survey went out on `channel`, asking `questions` (csat, ces) in
    `language`."""

    type: ClassVar[str] = "survey.sent"
    survey_id: str
    contact_id: str
    thread_id: str
    customer_id: str
    channel: str
    questions: list[str]
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyAnswered(DomainEvent):
    """The customer answered one question of a contact's survey, once: `kind` csat (1-5) or
    ces (1-7), with `score`; a comment rides on the last answer it was given with. Queue,
    channel, agent and reason are the contact's, for the reports."""

    type: ClassVar[str] = "survey.answered"
    survey_id: str
    thread_id: str
    contact_id: str
    customer_id: str
    kind: str
    score: int
    comment: str | None
    queue_id: str | None
    channel: str
    agent_id: str | None
    reason: str | None
    answered_at: datetime


# ---------------------------------------------------------------- contact reasons
@dataclass(frozen=True, kw_only=True, slots=True)
class ReasonSpiked(DomainEvent):
    """Today's contacts for a reason (so far, in the organisation's time zone) went above
    the control limit of the same weekday's last weeks (docs/reasons.md); once per reason
    and day."""

    type: ClassVar[str] = "reason.spiked"
    reason: str
    count: int
    expected: float
    limit: float
    at: datetime
