"""Routing, the stored side: contacts enter queues, the pure engine picks agents, offers are
made, accepted, rejected or time out (durable timer), contacts are transferred and resolved.

The engine (routing/engine.py) keeps the live matching state in memory, one Router per
organisation; the database is the truth and the engine is rebuilt from it at start-up.
Every engine change happens after the transaction that justifies it has committed, under
one asyncio lock, so the engine never holds a slot the database does not know about.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Select, Text, and_, bindparam, cast, false, func, inspect, or_, select
from sqlalchemy.orm import aliased

from threadline.agents.models import Agent
from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork, new_id, utcnow
from threadline.errors import Conflict, Invalid, NotAllowed, NotFound
from threadline.events.domain import (
    AgentChanged,
    AgentWrapupEnded,
    AgentWrapupStarted,
    ContactAbandoned,
    ContactAccepted,
    ContactEnded,
    ContactOffered,
    ContactQueued,
    ContactRefiled,
    ContactResolved,
    ContactTakenOver,
    ContactTransferred,
    MessageSent,
    OfferClosed,
    OfferExpired,
    PresenceChanged,
    QueueChanged,
)
from threadline.events.handlers import Handlers
from threadline.orgs.services import audit
from threadline.routing.engine import AVAILABLE, AgentSpec, Assignment, ContactSpec, Router
from threadline.routing.models import Contact, Offer, Queue
from threadline.routing.schemas import (
    OfferCustomer,
    OfferDetail,
    QueueIn,
    QueueStats,
    WrapupOut,
)
from threadline.routing.waits import WaitEstimate, WaitEstimator
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import agent_event, append_event, entry_at, lock_thread
from threadline.workers import timers
from threadline.workers.models import Timer

log = structlog.get_logger(__name__)

OFFER_TIMEOUT = "offer_timeout"
EXCLUSION_EXPIRY = "exclusion_expiry"
WRAPUP_END = "wrapup_end"
OPEN_CONTACT = ("queued", "offered", "assigned")


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _contact_facts(contact: Contact) -> dict[str, Any]:
    """What every ContactEvent says of its contact."""
    return {
        "org_id": contact.org_id,
        "contact_id": contact.id,
        "thread_id": contact.thread_id,
        "customer_id": contact.customer_id,
        "queue_id": contact.queue_id,
        "channel": contact.channel,
    }


def _offer_closed(offer: Offer, thread_id: str | None = None) -> OfferClosed:
    """The event of an offer that has just ended (its status says how)."""
    closed = OfferExpired if offer.status == "timed_out" else OfferClosed
    return closed(
        org_id=offer.org_id,
        offer_id=offer.id,
        agent_id=offer.agent_id,
        contact_id=offer.contact_id,
        status=offer.status,
        thread_id=thread_id,
    )


def _as_text(column: Any, name: str | None = None) -> Any:
    """A JSON list column read as its text, under its own name (see ``_JsonSets``)."""
    return cast(column, Text).label(name or column.key)


# the queue a queue's contacts overflow to (overflow to a named queue), joined beside it
_Target = aliased(Queue, name="overflow_target")


# What a waiting contact's ContactSpec is made of, read in one join at start-up. The JSON
# lists come as text: tens of thousands of waiting contacts share a few skill sets and
# mostly exclude nobody, and decoding each row's JSON was most of the read.
_SPEC_COLUMNS = (
    Contact.id,
    Contact.org_id,
    Contact.queue_id,
    Contact.channel,
    _as_text(Contact.required_skills),
    Contact.language,
    Contact.priority,
    Contact.enqueued_at,
    Contact.min_tier,
    _as_text(Contact.excluded_agents),
    Queue.overflow_after_s,
    _as_text(Queue.overflow_skills),
    Queue.overflow_queue_id,
    _as_text(_Target.required_skills, "target_skills"),
    Customer.last_agent_id,
    Customer.last_served_at,
)


class _JsonSets:
    """JSON list texts as frozensets, each distinct text decoded once; SQL NULL and JSON
    null are None."""

    def __init__(self) -> None:
        self._seen: dict[str | None, frozenset[str] | None] = {None: None}

    def __call__(self, raw: str | None) -> frozenset[str] | None:
        if raw not in self._seen:
            value = json.loads(raw)  # type: ignore[arg-type]  # None is seen already
            self._seen[raw] = None if value is None else frozenset(value)
        return self._seen[raw]


def _overflow_skills(
    target_id: str | None, skills: Iterable[str] | None, target: Queue | None
) -> Iterable[str] | None:
    """The skills a queue's contacts require once they overflow: the named queue's (its
    agents take them), else the queue's relaxed set. The engine keeps one skill set per
    contact, so after the overflow the queue's own agents keep it only when they have the
    target's skills too (docs/kpis.md)."""
    if target_id is None:
        return skills
    return target.required_skills if target is not None else None


def agent_spec(agent: Agent) -> AgentSpec:
    return AgentSpec(
        id=agent.id,
        skills={k: int(v) for k, v in agent.skills.items()},
        languages=frozenset(agent.languages),
        tier=agent.tier,
        capacity={k: int(v) for k, v in agent.capacity.items()},
        max_total=agent.max_total,
    )


def holding_query(agent_ids: Collection[str] | None = None) -> Select[str | None, str, int]:
    """(agent, channel, contacts held): every agent's, or these agents' only."""
    whose = (
        Contact.agent_id.in_(sorted(agent_ids))
        if agent_ids is not None
        else Contact.agent_id.is_not(None)
    )
    return (
        select(Contact.agent_id, Contact.channel, func.count())
        .where(
            or_(
                Contact.status.in_(("offered", "assigned")),
                # a contact in wrap-up still holds its agent's slot (see `resolve`)
                and_(Contact.wrapup_started_at.is_not(None), Contact.wrapup_ended_at.is_(None)),
            ),
            whose,
        )
        .group_by(Contact.agent_id, Contact.channel)
    )


class RoutingService:
    """Owns the engines (one per organisation) and every write that moves a contact."""

    def __init__(self, ctx: Context, *, routes: bool = True) -> None:
        self._ctx = ctx
        # False in a process that writes contacts but leaves routing them to the web
        # server (`threadline worker`): it keeps only what `enqueue` reads, the languages
        self.routes = routes
        self._routers: dict[str, Router] = {}
        self._languages: dict[str, dict[str, frozenset[str]]] = {}  # org -> agent -> languages
        self._lock = asyncio.Lock()
        self.waits = WaitEstimator(ctx.settings.default_handle_s)

    def router(self, org_id: str) -> Router:
        if org_id not in self._routers:
            self._routers[org_id] = Router()
        return self._routers[org_id]

    # ---------------------------------------------------------------- start-up
    async def start(self) -> None:
        """Rebuild every engine from storage, then offer whatever can be offered.

        A handful of set queries whatever the size of the backlog: the agents, their
        loads, and every waiting contact with its queue's overflow and its customer's
        last agent in one join (tens of thousands of contacts wait after a restart in a
        busy centre; a query each made start-up take most of a minute).
        """
        async with self._lock:
            self._routers.clear()
            async with self._ctx.db.sessions() as session:
                await self.waits.seed(session)
                loads = await self._loads(session)
                for agent in await session.scalars(select(Agent).where(Agent.active.is_(True))):
                    self._upsert(agent, loads.get(agent.id, Counter()))
                rows = await session.execute(
                    select(*_SPEC_COLUMNS)
                    .join(Queue, Queue.id == Contact.queue_id)
                    .outerjoin(_Target, _Target.id == Queue.overflow_queue_id)
                    .outerjoin(Customer, Customer.id == Contact.customer_id)
                    .where(Contact.status == "queued")
                )
                sets = _JsonSets()
                for row in rows:
                    self.router(row.org_id).add_contact(self._spec_of_row(row, sets))
        await self._match_all()

    async def start_languages(self) -> None:
        """Start-up of a process that does not route: the languages the organisations'
        active agents speak (what `enqueue` asks), followed after that through the agents'
        events (`register`)."""
        async with self._ctx.db.sessions() as session:
            rows = await session.execute(
                select(Agent.org_id, Agent.id, Agent.languages).where(Agent.active.is_(True))
            )
            languages: dict[str, dict[str, frozenset[str]]] = {}
            for org_id, agent_id, spoken in rows:
                languages.setdefault(org_id, {})[agent_id] = frozenset(spoken or ())
        self._languages = languages

    async def _on_languages(self, event: PresenceChanged | AgentChanged) -> None:
        async with self._ctx.db.sessions() as session:
            agent = await session.get(Agent, event.agent_id)
        spoken = self._languages.setdefault(event.org_id, {})
        if agent is None or not agent.active:
            spoken.pop(event.agent_id, None)
        else:
            spoken[agent.id] = frozenset(agent.languages)

    async def _loads(
        self, session: Any, agent_ids: Collection[str] | None = None
    ) -> dict[str, Counter[str]]:
        """What each agent holds, by channel: every agent's (start-up), or these agents'
        only, read through their own contacts (ix_contacts_agent), not the whole table."""
        loads: dict[str, Counter[str]] = {}
        rows = await session.execute(holding_query(agent_ids))
        for agent_id, channel, count in rows:
            loads.setdefault(agent_id, Counter())[channel] += count
        return loads

    async def _spec(self, session: Any, contact: Contact) -> ContactSpec:
        queue = await session.get(Queue, contact.queue_id)
        customer = await session.get(Customer, contact.customer_id)
        target = (
            await session.get(Queue, queue.overflow_queue_id) if queue.overflow_queue_id else None
        )
        return self._spec_of(contact, queue, customer, target)

    def _spec_of(
        self, contact: Contact, queue: Queue, customer: Customer | None, target: Queue | None
    ) -> ContactSpec:
        """`target`: the queue `queue` overflows to, when it names one."""
        return self._contact_spec(
            contact,
            queue.overflow_after_s,
            _overflow_skills(queue.overflow_queue_id, queue.overflow_skills, target),
            customer.last_agent_id if customer else None,
            customer.last_served_at if customer else None,
        )

    def _spec_of_row(self, row: Any, sets: _JsonSets) -> ContactSpec:
        """The spec of a row of ``_SPEC_COLUMNS`` (the contact's columns by their names, its
        JSON lists as text)."""
        target_skills = sets(row.target_skills)
        return self._contact_spec(
            row,
            row.overflow_after_s,
            target_skills if row.overflow_queue_id else sets(row.overflow_skills),
            row.last_agent_id,
            row.last_served_at,
            required_skills=sets(row.required_skills),
            excluded_agents=sets(row.excluded_agents),
        )

    def _contact_spec(
        self,
        contact: Any,  # a Contact or a row with the same attribute names
        overflow_after_s: int | None,
        overflow_skills: Iterable[str] | None,
        last_agent_id: str | None,
        last_served_at: datetime | None,
        *,
        required_skills: Iterable[str] | None = None,  # else the contact's
        excluded_agents: Iterable[str] | None = None,  # else the contact's
    ) -> ContactSpec:
        sticky_until = None
        if last_agent_id and last_served_at:
            sticky_until = _ts(last_served_at) + self._ctx.settings.sticky_window_s
        overflow_at = None
        if overflow_after_s is not None and overflow_skills is not None:
            overflow_at = _ts(contact.enqueued_at) + overflow_after_s
        return ContactSpec(
            id=contact.id,
            queue_id=contact.queue_id,
            channel=contact.channel,
            required_skills=frozenset(
                contact.required_skills if required_skills is None else required_skills
            ),
            language=contact.language,
            priority=contact.priority,
            enqueued_at=_ts(contact.enqueued_at),
            min_tier=contact.min_tier,
            last_agent_id=last_agent_id,
            sticky_until=sticky_until,
            excluded_agents=frozenset(
                contact.excluded_agents if excluded_agents is None else excluded_agents
            ),
            overflow_at=overflow_at,
            overflow_skills=frozenset(overflow_skills or ()) if overflow_at else None,
        )

    # ---------------------------------------------------------------- enqueue
    async def enqueue(
        self,
        uow: UnitOfWork,
        thread: Thread,
        queue: Queue,
        channel: str,
        *,
        reason: str | None = None,
        context: dict[str, Any] | None = None,
        priority: int = 0,
        min_tier: int = 0,
        contact_id: str | None = None,
    ) -> Contact:
        """Open a contact for this thread in a queue. Call inside the thread's row lock;
        routing happens after commit. A thread an agent is serving (another contact of it,
        say the customer's SMS, is theirs) stays theirs: the new contact (a call) queues on
        its own and the assignment is not reset. `contact_id`: the id to open it with, when
        the caller has already named it (in an entry not written yet)."""
        language = thread.language if self.language_served(thread.org_id, thread.language) else None
        contact = Contact(
            id=contact_id or new_id(),  # known now: no flush (round trip) before the event
            org_id=thread.org_id,
            thread_id=thread.id,
            customer_id=thread.customer_id,
            queue_id=queue.id,
            channel=channel,
            priority=queue.priority + priority,
            required_skills=list(queue.required_skills),
            language=language,
            min_tier=min_tier,
            reason=reason,
            context=context or {},
            enqueued_at=utcnow(),
        )
        if thread.status not in ("assigned", "waiting_customer") or not thread.assigned_agent_id:
            thread.status = "queued"
            thread.assigned_agent_id = None
        append_event(
            uow,
            thread,
            kind="queued",
            channel=channel,
            author_type="system",
            contact_id=contact.id,
            data={"queue": queue.name, "reason": reason},
        )
        if inspect(thread).pending:
            # a thread this transaction opens (threads.services.new_thread) is written now,
            # once, with its final values (the inbox's columns, which inbox/ sets on
            # ContactQueued, included), and before the contact that names it: the flush
            # orders rows by class, not by foreign key
            thread.queue_id, thread.channel = queue.id, channel
            await uow.session.flush()
        uow.session.add(contact)
        uow.emit(
            ContactQueued(
                **_contact_facts(contact),
                priority=contact.priority,
                reason=reason,
                language=language,
                required_skills=list(contact.required_skills),
            )
        )
        uow.emit(QueueChanged(org_id=thread.org_id, queue_id=queue.id))
        return contact

    def language_served(self, org_id: str, language: str | None) -> bool:
        """Language is a routing skill, but only one some agent has: otherwise the contact
        would wait for nobody."""
        spoken = self._languages.get(org_id, {}).values()
        return language is not None and any(language in languages for languages in spoken)

    def _upsert(self, agent: Agent, load: Counter[str] | dict[str, int]) -> None:
        self._languages.setdefault(agent.org_id, {})[agent.id] = frozenset(agent.languages)
        self.router(agent.org_id).upsert_agent(
            agent_spec(agent), presence=agent.presence, idle_since=_ts(agent.idle_since), load=load
        )

    async def _place(self, org_id: str, contact_id: str, *, learn: bool = True) -> None:
        await self._place_many(org_id, [contact_id], learn=learn)

    async def _place_many(self, org_id: str, contact_ids: list[str], *, learn: bool = True) -> None:
        """(Re)file queued contacts in the engine, read in one query, and route each."""
        async with self._lock:
            async with self._ctx.db.sessions() as session:
                # the spec's columns, as start() reads them: no ORM rows (a timer batch
                # places hundreds, and loading whole contacts and customers cost more than
                # routing them)
                rows = (
                    await session.execute(
                        select(*_SPEC_COLUMNS, Contact.context)
                        .join(Queue, Queue.id == Contact.queue_id)
                        .outerjoin(_Target, _Target.id == Queue.overflow_queue_id)
                        .join(Customer, Customer.id == Contact.customer_id)
                        .where(Contact.id.in_(contact_ids), Contact.status == "queued")
                    )
                ).all()
                found = {row.id: row for row in rows}
            router = self.router(org_id)
            sets = _JsonSets()
            for contact_id in contact_ids:  # in the order they were written
                if (row := found.get(contact_id)) is None:
                    continue
                spec = self._spec_of_row(row, sets)
                router.remove_contact(contact_id)
                router.add_contact(spec)
                now = _ts(utcnow())
                assignment = router.route_contact(contact_id, now)
                if assignment:
                    await self._offer(org_id, assignment)
                elif learn and not (row.context or {}).get("callback_retry"):
                    # a retried callback waits from its kept place: its delay teaches nothing
                    self.waits.arrived(router, contact_id, spec.queue_id, now)

    async def _on_queued(self, events: list[ContactQueued]) -> None:
        """After commit: route the contacts a transaction opened, one read for all of them
        (a batch of timers opens many)."""
        placing: dict[str, list[str]] = {}
        for event in events:
            placing.setdefault(event.org_id, []).append(event.contact_id)
        for org_id, contact_ids in placing.items():
            await self._place_many(org_id, contact_ids)

    async def _on_refiled(self, event: ContactRefiled) -> None:
        await self._place(event.org_id, event.contact_id, learn=False)

    async def estimate(self, org_id: str, contact_id: str) -> WaitEstimate | None:
        """The live place and EWT of a waiting contact; None once it is not waiting."""
        router = self._routers.get(org_id)
        if router is None:
            return None
        spec = router.waiting_contact(contact_id)
        if spec is None:
            return None
        return self.waits.estimate(router, contact_id, spec.queue_id, _ts(utcnow()))

    # ---------------------------------------------------------------- offers
    async def _offer(self, org_id: str, assignment: Assignment) -> None:
        """Persist the engine's choice as an offer with its timeout timer. Call under the
        lock; if the contact moved meanwhile, give the slot back."""
        try:
            async with self._ctx.uow() as uow:
                # the contact, locked, with what its offer shows, in one statement
                query = _OFFER_FACTS_LOCKED if uow.row_locks else _OFFER_FACTS
                row = (await uow.session.execute(query, {"contact": assignment.contact_id})).first()
                if row is None or row.Contact.status != "queued":
                    raise Conflict("contact is no longer waiting")
                await self._create_offer(
                    uow, row.Contact, assignment.agent_id, assignment.sticky, facts=row
                )
        except Exception as exc:
            if isinstance(exc, Conflict):
                log.info("routing.offer_dropped", contact_id=assignment.contact_id)
            else:
                log.exception("routing.offer_failed", contact_id=assignment.contact_id)
            await self._undo_assignment(org_id, assignment)

    async def _undo_assignment(self, org_id: str, assignment: Assignment) -> None:
        """The offer was not stored: give the agent's slot back and, if the contact still
        waits, put it back among the waiting (the next routing pass retries it)."""
        async with self._ctx.db.sessions() as session:
            contact = await session.get(Contact, assignment.contact_id)
            spec = await self._spec(session, contact) if contact else None
        router = self.router(org_id)
        if contact is not None:
            router.release(assignment.agent_id, contact.channel, _ts(utcnow()))
        if spec is not None and contact is not None and contact.status == "queued":
            router.add_contact(spec)

    async def _create_offer(
        self,
        uow: UnitOfWork,
        contact: Contact,
        agent_id: str,
        sticky: bool,
        *,
        facts: Any = None,
    ) -> Offer:
        """Offer the (locked) contact to the agent. `facts`: the contact's `_OFFER_FACTS`
        row when the caller already read it; else read here, before anything is written,
        so the offer, the contact and the timer are written by the commit's one flush."""
        if facts is None:
            facts = (await uow.session.execute(_OFFER_FACTS, {"contact": contact.id})).one()
        queue: Queue | None = facts.Queue
        timeout = (queue.offer_timeout_s if queue else None) or self._ctx.settings.offer_timeout_s
        now = utcnow()
        offer = Offer(
            id=new_id(),
            org_id=contact.org_id,
            contact_id=contact.id,
            agent_id=agent_id,
            sticky=sticky,
            created_at=now,
            expires_at=now + timedelta(seconds=timeout),
        )
        uow.session.add(offer)
        contact.status = "offered"
        contact.agent_id = agent_id
        timers.schedule(uow.session, contact.org_id, OFFER_TIMEOUT, offer.id, offer.expires_at)
        details = _offer_detail(offer, contact, queue, facts.Customer, facts.preview)
        uow.emit(
            ContactOffered(
                **_contact_facts(contact),
                agent_id=agent_id,
                offer_id=offer.id,
                expires_at=offer.expires_at,
                offer=details.model_dump(mode="json"),
            )
        )
        uow.emit(QueueChanged(org_id=contact.org_id, queue_id=contact.queue_id))
        return offer

    async def _load_offer(self, uow: UnitOfWork, org_id: str, offer_id: str) -> Offer:
        offer: Offer | None = await uow.lock(Offer, offer_id)
        if offer is None or offer.org_id != org_id:
            raise NotFound("no such offer")
        return offer

    async def accept(self, principal: Principal, offer_id: str) -> Contact:
        """The agent takes the contact: the thread is theirs and the customer is told."""
        async with self._ctx.uow() as uow:
            offer = await self._load_offer(uow, principal.org_id, offer_id)
            if offer.agent_id != principal.agent_id:
                raise NotAllowed("this offer was made to another agent")
            if offer.status != "pending":
                raise Conflict(f"this offer is {offer.status.replace('_', ' ')}")
            # every row read (and locked, in the same order) before any is changed: one
            # flush writes them all, at the timer's UPDATE
            contact = await uow.lock_existing(Contact, offer.contact_id)
            thread = await lock_thread(uow, principal.org_id, contact.thread_id)
            now = utcnow()
            offer.status, offer.responded_at = "accepted", now
            contact.status, contact.accepted_at = "assigned", now
            thread.status, thread.assigned_agent_id = "assigned", principal.agent_id
            agent_event(
                uow,
                thread,
                principal,
                "assigned",
                channel=contact.channel,
                contact_id=contact.id,
                data={"wait_s": round((now - contact.enqueued_at).total_seconds(), 1)},
            )
            uow.emit(_offer_closed(offer, thread_id=thread.id))
            uow.emit(
                ContactAccepted(
                    **_contact_facts(contact),
                    agent_id=principal.agent_id,
                    agent_name=principal.name,
                    offer_id=offer.id,
                    waited_s=(now - contact.enqueued_at).total_seconds(),
                    callback_retry=bool(contact.context.get("callback_retry")),
                )
            )
            uow.emit(QueueChanged(org_id=offer.org_id, queue_id=contact.queue_id))
            await timers.cancel(uow.session, OFFER_TIMEOUT, offer.id)
        return contact

    async def reject(self, principal: Principal, offer_id: str) -> None:
        async with self._ctx.uow() as uow:
            offer = await self._load_offer(uow, principal.org_id, offer_id)
            if offer.agent_id != principal.agent_id:
                raise NotAllowed("this offer was made to another agent")
            if offer.status != "pending":
                raise Conflict(f"this offer is {offer.status.replace('_', ' ')}")
            await timers.cancel(uow.session, OFFER_TIMEOUT, offer.id)
            await self._withdraw(uow, offer, "rejected")

    async def on_offer_timeout(self, uow: UnitOfWork, timer: Timer) -> None:
        """Timer handler: the agent did not answer; the contact goes to the next agent and
        the agent is set away (they are evidently not at the desk)."""
        offer: Offer | None = await uow.lock(Offer, timer.ref_id)
        if offer is None or offer.status != "pending":
            return
        # the agent who missed it is not offered more work with the freed slot: they are
        # set away, and the engine learns it after commit
        await self._withdraw(uow, offer, "timed_out", refill=False)
        agent = await uow.lock_existing(Agent, offer.agent_id)
        if agent.presence == AVAILABLE:
            agent.presence, agent.presence_since = "away", utcnow()
            uow.emit(
                PresenceChanged(
                    org_id=agent.org_id,
                    agent_id=agent.id,
                    presence="away",
                    at=agent.presence_since,
                    reason="missed_offer",
                )
            )

    async def _withdraw(
        self, uow: UnitOfWork, offer: Offer, status: str, *, refill: bool = True
    ) -> None:
        offer.status, offer.responded_at = status, utcnow()
        contact = await uow.lock_existing(Contact, offer.contact_id)
        contact.status, contact.agent_id = "queued", None
        contact.excluded_agents = sorted({*contact.excluded_agents, offer.agent_id})
        uow.emit(_offer_closed(offer))
        uow.emit(QueueChanged(org_id=offer.org_id, queue_id=contact.queue_id))
        # The agent is passed over for this contact only for a while: in a small team the
        # one agent who missed it may be the only one who can ever take it.
        timers.schedule(
            uow.session,
            offer.org_id,
            EXCLUSION_EXPIRY,
            contact.id,
            utcnow() + timedelta(seconds=self._ctx.settings.reoffer_after_s),
            payload={"agent_id": offer.agent_id},
        )
        org_id, agent_id, channel, contact_id = (
            offer.org_id,
            offer.agent_id,
            contact.channel,
            contact.id,
        )

        async def _after() -> None:
            async with self._lock:
                self.router(org_id).release(agent_id, channel, _ts(utcnow()))
            await self._place(org_id, contact_id)
            if refill:
                await self._fill_agent(org_id, agent_id)

        uow.after_commit(_after)

    async def on_exclusion_expiry(self, uow: UnitOfWork, timer: Timer) -> None:
        """Timer handler: an agent who rejected or missed this contact may be offered it
        again."""
        contact: Contact | None = await uow.lock(Contact, timer.ref_id)
        agent_id = timer.payload.get("agent_id")
        if contact is None or agent_id not in contact.excluded_agents:
            return
        contact.excluded_agents = [a for a in contact.excluded_agents if a != agent_id]
        if contact.status == "queued":
            org_id, contact_id = contact.org_id, contact.id
            uow.after_commit(lambda: self._place(org_id, contact_id))

    # ---------------------------------------------------------------- wrap-up, transfer
    async def _open_contact(self, uow: UnitOfWork, org_id: str, thread_id: str) -> Contact:
        contact = await uow.session.scalar(
            select(Contact)
            .where(
                Contact.org_id == org_id,
                Contact.thread_id == thread_id,
                Contact.status.in_(OPEN_CONTACT),
            )
            .order_by(Contact.enqueued_at.desc())
            .limit(1)
        )
        if contact is None:
            raise Conflict("this thread has no open contact")
        return contact

    def _may_handle(self, principal: Principal, contact: Contact) -> None:
        if contact.agent_id != principal.agent_id and not principal.has("supervisor"):
            raise NotAllowed("only the assigned agent or a supervisor can do this")

    async def resolve(
        self, principal: Principal, thread_id: str, reason: str, note: str | None = None
    ) -> Contact:
        """Close the open contact with a wrap-up reason; the agent's slot frees up."""
        async with self._ctx.uow() as uow:
            thread = await lock_thread(uow, principal.org_id, thread_id)
            contact = await self._open_contact(uow, principal.org_id, thread_id)
            self._may_handle(principal, contact)
            previous_status, agent_id = contact.status, contact.agent_id
            now = utcnow()
            contact.status, contact.ended_at, contact.wrapup_reason = "resolved", now, reason
            if previous_status == "offered":
                await self._cancel_pending_offers(uow, contact)
            thread.status = "resolved"
            if note:
                agent_event(uow, thread, principal, "note", body=note)
            agent_event(
                uow,
                thread,
                principal,
                "resolved",
                channel=contact.channel,
                contact_id=contact.id,
                data={"reason": reason},
            )
            handle_s = None
            if agent_id and previous_status == "assigned":
                customer = await uow.lock_existing(Customer, contact.customer_id)
                customer.last_agent_id, customer.last_served_at = agent_id, now
                if contact.accepted_at is not None:
                    handle_s = (now - contact.accepted_at).total_seconds()
            limit_s = await self._wrapup_limit(uow, contact) if handle_s is not None else 0
            uow.emit(
                ContactResolved(
                    **_contact_facts(contact),
                    agent_id=agent_id,
                    reason=reason,
                    note=note,
                    handle_s=handle_s,
                    from_status=previous_status,
                    wrapup=limit_s > 0,
                )
            )
            if agent_id and limit_s > 0:
                self._start_wrapup(uow, contact, agent_id, limit_s, now)
            uow.emit(QueueChanged(org_id=contact.org_id, queue_id=contact.queue_id))
        return contact

    # ---------------------------------------------------------------- wrap-up
    @staticmethod
    async def _wrapup_limit(uow: UnitOfWork, contact: Contact) -> int:
        queue = await uow.session.get(Queue, contact.queue_id)
        return int(queue.wrapup_s or 0) if queue is not None else 0

    @staticmethod
    def _start_wrapup(
        uow: UnitOfWork, contact: Contact, agent_id: str, limit_s: int, now: datetime
    ) -> None:
        """The agent resolved a contact of a queue with after-contact work: their slot on
        the channel stays busy (counted by `_loads`, not released by `_on_contact_left`)
        until they press Done (`end_wrapup`) or the durable timer runs out."""
        contact.wrapup_started_at, contact.wrapup_ended_at = now, None
        due = now + timedelta(seconds=limit_s)
        timers.schedule(
            uow.session, contact.org_id, WRAPUP_END, contact.id, due, {"limit_s": limit_s}
        )
        uow.emit(
            AgentWrapupStarted(
                **_contact_facts(contact), agent_id=agent_id, limit_s=limit_s, started_at=now
            )
        )

    async def end_wrapup(self, principal: Principal, thread_id: str) -> Contact:
        """The agent pressed Done: the thread's open wrap-up ends now and the slot is free."""
        async with self._ctx.uow() as uow:
            await lock_thread(uow, principal.org_id, thread_id)  # 404 for another's or none
            contact_id = await uow.session.scalar(
                select(Contact.id)
                .where(
                    Contact.org_id == principal.org_id,
                    Contact.thread_id == thread_id,
                    Contact.wrapup_started_at.is_not(None),
                    Contact.wrapup_ended_at.is_(None),
                )
                .order_by(Contact.enqueued_at.desc())
                .limit(1)
            )
            contact = await uow.lock(Contact, contact_id) if contact_id else None
            if contact is None or contact.wrapup_ended_at is not None:
                raise Conflict("no wrap-up is open on this thread")
            self._may_handle(principal, contact)
            await timers.cancel(uow.session, WRAPUP_END, contact.id)
            self._finish_wrapup(uow, contact, "done", None)
        return contact

    async def on_wrapup_timeout(self, uow: UnitOfWork, timer: Timer) -> None:
        """The wrap-up's time ran out (durable timer): it ends at its limit."""
        contact: Contact | None = await uow.lock(Contact, timer.ref_id)
        if contact is None or contact.wrapup_started_at is None:
            return
        if contact.wrapup_ended_at is not None:
            return
        self._finish_wrapup(uow, contact, "timeout", float(timer.payload.get("limit_s", 0)))

    @staticmethod
    def _finish_wrapup(uow: UnitOfWork, contact: Contact, how: str, limit_s: float | None) -> None:
        started = contact.wrapup_started_at
        assert started is not None
        ended = utcnow()
        if limit_s is not None:  # a timer that fired late: the wrap-up ended at its limit
            ended = min(ended, started + timedelta(seconds=limit_s))
        ended = max(ended, started)
        contact.wrapup_ended_at = ended
        uow.emit(
            AgentWrapupEnded(
                **_contact_facts(contact),
                agent_id=contact.agent_id or "",
                started_at=started,
                wrapup_s=(ended - started).total_seconds(),
                how=how,
            )
        )
        uow.emit(QueueChanged(org_id=contact.org_id, queue_id=contact.queue_id))

    async def _on_wrapup_ended(self, event: AgentWrapupEnded) -> None:
        """A wrap-up ended: the agent's slot is free, routing may offer them work. Their
        load is read again from storage rather than decremented, so a wrap-up that ends
        while the agent's profile is being re-read (or after they were deactivated) cannot
        free a slot twice."""
        if event.agent_id:
            await self.agent_changed(event.org_id, event.agent_id)

    async def end_by_system(
        self, uow: UnitOfWork, contact: Contact, wrapup: str, *, body: str | None = None
    ) -> bool:
        """End an assigned contact without its agent (an unanswered callback): the agent's
        slot frees up, the thread stays with the agent. Call inside a unit of work; returns
        False when the contact is not assigned."""
        if contact.status != "assigned":
            return False
        agent_id = contact.agent_id
        contact.status, contact.ended_at, contact.wrapup_reason = "resolved", utcnow(), wrapup
        thread = await lock_thread(uow, contact.org_id, contact.thread_id)
        append_event(
            uow,
            thread,
            kind="resolved",
            channel=contact.channel,
            author_type="system",
            contact_id=contact.id,
            body=body,
            data={"reason": wrapup},
        )
        uow.emit(
            ContactEnded(
                **_contact_facts(contact),
                agent_id=agent_id,
                wrapup=wrapup,
            )
        )
        uow.emit(QueueChanged(org_id=contact.org_id, queue_id=contact.queue_id))
        return True

    async def abandon(self, uow: UnitOfWork, contact: Contact, why: str) -> bool:
        """The customer left before an agent took the contact (a caller hung up on hold):
        it leaves the queue, a pending offer is withdrawn. Call inside a unit of work;
        returns False when an agent already had it."""
        if contact.status not in ("queued", "offered"):
            return False
        previous_status, agent_id = contact.status, contact.agent_id
        contact.status, contact.ended_at = "abandoned", utcnow()
        if previous_status == "offered":
            await self._cancel_pending_offers(uow, contact)
        thread = await lock_thread(uow, contact.org_id, contact.thread_id)
        if thread.assigned_agent_id is None:
            thread.status = "resolved"
        append_event(
            uow,
            thread,
            kind="abandoned",
            channel=contact.channel,
            author_type="system",
            contact_id=contact.id,
            data={"why": why, "wait_s": round((utcnow() - contact.enqueued_at).total_seconds(), 1)},
        )
        uow.emit(
            ContactAbandoned(
                **_contact_facts(contact),
                why=why,
                waited_s=(utcnow() - contact.enqueued_at).total_seconds(),
                agent_id=agent_id,
                from_status=previous_status,
            )
        )
        uow.emit(QueueChanged(org_id=contact.org_id, queue_id=contact.queue_id))
        return True

    # ---------------------------------------------------------------- reactions
    def register(self, handlers: Handlers) -> None:
        """Routing's engines and the wait estimator follow the contacts' and agents' facts
        after each commit (both are rebuilt from storage at start-up)."""
        handlers.in_transaction(MessageSent, self._on_message_sent)
        if not self.routes:  # the contacts this process opens are routed where routing runs
            handlers.after_commit(PresenceChanged, self._on_languages)
            handlers.after_commit(AgentChanged, self._on_languages)
            return
        handlers.after_commit_batch(ContactQueued, self._on_queued)
        handlers.after_commit(ContactRefiled, self._on_refiled)
        handlers.after_commit(ContactResolved, self._on_contact_left)
        handlers.after_commit(ContactEnded, self._on_contact_left)
        handlers.after_commit(ContactAbandoned, self._on_contact_left)
        handlers.after_commit(AgentWrapupEnded, self._on_wrapup_ended)
        handlers.after_commit(PresenceChanged, self._on_agent_changed)
        handlers.after_commit(AgentChanged, self._on_agent_changed)
        waits = self.waits
        handlers.after_commit(ContactAccepted, waits.on_accepted)
        handlers.after_commit(ContactResolved, waits.on_resolved)
        handlers.after_commit(ContactAbandoned, waits.on_abandoned)

    async def _on_message_sent(self, uow: UnitOfWork, sent: MessageSent) -> None:
        """An agent's reply belongs to the contact the thread has open (for handle times
        and reports)."""
        contact_id = await uow.session.scalar(
            select(Contact.id)
            .where(Contact.thread_id == sent.thread_id, Contact.ended_at.is_(None))
            .order_by(Contact.enqueued_at.desc())
            .limit(1)
        )
        if contact_id is not None:
            entry = await entry_at(uow.session, sent.thread_id, sent.seq)
            if entry is not None:
                entry.contact_id = contact_id

    async def _on_agent_changed(self, event: PresenceChanged | AgentChanged) -> None:
        await self.agent_changed(event.org_id, event.agent_id)

    async def _on_contact_left(
        self, event: ContactResolved | ContactEnded | ContactAbandoned
    ) -> None:
        """A contact ended: out of the waiting set, or its agent's slot is free again (once
        their wrap-up ends, when the queue has one)."""
        if isinstance(event, ContactResolved) and event.wrapup:
            return
        async with self._lock:
            router = self.router(event.org_id)
            if event.from_status == "queued":
                router.remove_contact(event.contact_id)
            elif event.agent_id:
                router.release(event.agent_id, event.channel, _ts(utcnow()))
        if event.agent_id:
            await self._fill_agent(event.org_id, event.agent_id)

    async def _cancel_pending_offers(self, uow: UnitOfWork, contact: Contact) -> None:
        offers = await uow.session.scalars(
            select(Offer).where(Offer.contact_id == contact.id, Offer.status == "pending")
        )
        for offer in offers:
            offer.status, offer.responded_at = "cancelled", utcnow()
            await timers.cancel(uow.session, OFFER_TIMEOUT, offer.id)
            uow.emit(_offer_closed(offer))

    async def transfer(
        self,
        principal: Principal,
        thread_id: str,
        *,
        queue_id: str | None,
        agent_id: str | None,
        note: str | None,
    ) -> Contact:
        """Hand the contact to another queue (it waits there) or straight to an agent (an
        offer to that agent, who must be available with a free slot on the channel)."""
        if bool(queue_id) == bool(agent_id):
            raise Invalid("transfer to exactly one of queue_id or agent_id")
        org_id = principal.org_id
        async with self._lock:  # a direct transfer checks the engine's view of capacity
            async with self._ctx.uow() as uow:
                thread = await lock_thread(uow, org_id, thread_id)
                contact = await self._open_contact(uow, org_id, thread_id)
                self._may_handle(principal, contact)
                previous_status, previous_agent = contact.status, contact.agent_id
                target = await self._transfer_target(uow, org_id, queue_id, agent_id)
                if isinstance(target, Agent):
                    self._check_direct_target(org_id, target, contact.channel)
                if previous_status == "offered":
                    await self._cancel_pending_offers(uow, contact)
                if note:
                    agent_event(uow, thread, principal, "note", body=note)
                agent_event(
                    uow,
                    thread,
                    principal,
                    "transferred",
                    channel=contact.channel,
                    contact_id=contact.id,
                    data={"to_queue": queue_id, "to_agent": agent_id, "to_name": target.name},
                )
                contact.status, contact.agent_id, contact.accepted_at = "queued", None, None
                contact.excluded_agents = []
                thread.status, thread.assigned_agent_id = "queued", None
                if isinstance(target, Queue):
                    contact.queue_id = target.id
                    contact.required_skills = list(target.required_skills)
                else:
                    await self._create_offer(uow, contact, target.id, sticky=False)
                uow.emit(
                    ContactTransferred(
                        **_contact_facts(contact),
                        from_agent_id=previous_agent,
                        to_agent_id=agent_id,
                        to_queue_id=queue_id,
                        note=note,
                    )
                )
            # Committed: bring the engine in line, still under the lock.
            router = self.router(org_id)
            if previous_status == "queued":
                router.remove_contact(contact.id)
            elif previous_agent:
                router.release(previous_agent, contact.channel, _ts(utcnow()))
            if isinstance(target, Agent):
                self._hold_slot(org_id, target, contact.channel)
        if isinstance(target, Queue):
            await self._place(org_id, contact.id)
        if previous_agent:
            await self._fill_agent(org_id, previous_agent)
        return contact

    async def take_over(self, principal: Principal, thread_id: str) -> tuple[Contact, str]:
        """A supervisor takes the assigned contact of a thread from its agent: the contact
        and thread are theirs at once (no offer), the agent's slot frees up and they are told
        (`contact.taken_over`). Returns the contact and the released agent's id."""
        org_id = principal.org_id
        async with self._lock:  # the engine's loads move with the commit
            async with self._ctx.uow() as uow:
                thread = await lock_thread(uow, org_id, thread_id)
                contact = await self._open_contact(uow, org_id, thread_id)
                released = contact.agent_id
                if contact.status != "assigned" or released is None:
                    raise Conflict("no agent is handling this contact: reassign it instead")
                if released == principal.agent_id:
                    raise Conflict("this contact is already yours")
                supervisor = await uow.session.get(Agent, principal.agent_id)
                if supervisor is None or not supervisor.active:
                    raise NotAllowed("your account cannot take contacts")
                contact.agent_id = principal.agent_id
                thread.status, thread.assigned_agent_id = "assigned", principal.agent_id
                agent_event(
                    uow,
                    thread,
                    principal,
                    "assigned",
                    channel=contact.channel,
                    contact_id=contact.id,
                    data={"taken_over_from": released},
                )
                uow.emit(
                    ContactTakenOver(
                        **_contact_facts(contact),
                        agent_id=released,
                        supervisor_id=principal.agent_id,
                        supervisor_name=principal.name,
                    )
                )
                uow.emit(QueueChanged(org_id=org_id, queue_id=contact.queue_id))
            # Committed: both agents' loads as stored (the supervisor may be new to the engine).
            async with self._ctx.db.sessions() as session:
                loads = await self._loads(session, (released, principal.agent_id))
                for agent_id in (released, principal.agent_id):
                    agent = await session.get(Agent, agent_id)
                    if agent is not None and agent.active:
                        self._upsert(agent, loads.get(agent_id, Counter()))
        await self._fill_agent(org_id, released)
        return contact, released

    async def _transfer_target(
        self, uow: UnitOfWork, org_id: str, queue_id: str | None, agent_id: str | None
    ) -> Queue | Agent:
        target: Queue | Agent | None = (
            await uow.session.get(Queue, queue_id)
            if queue_id
            else await uow.session.get(Agent, agent_id)
        )
        if target is None or target.org_id != org_id:
            raise NotFound(f"no such {'queue' if queue_id else 'agent'}")
        return target

    def _check_direct_target(self, org_id: str, agent: Agent, channel: str) -> None:
        if agent.presence != AVAILABLE:  # first: an agent never available is not in the engine
            raise Conflict(f"{agent.name} is {agent.presence}")
        load = self.router(org_id).agent_load(agent.id)
        if load.get(channel, 0) >= int(agent.capacity.get(channel, 0)):
            raise Conflict(f"{agent.name} has no free {channel} slot")

    def _hold_slot(self, org_id: str, agent: Agent, channel: str) -> None:
        """Count a direct (not engine-chosen) offer against the agent's capacity."""
        router = self.router(org_id)
        load = Counter(router.agent_load(agent.id))
        load[channel] += 1
        self._upsert(agent, load)

    # ---------------------------------------------------------------- agents
    async def agent_changed(self, org_id: str, agent_id: str) -> None:
        """Re-read an agent's profile and presence; offer them work if they are free."""
        async with self._lock:
            async with self._ctx.db.sessions() as session:
                agent = await session.get(Agent, agent_id)
                if agent is None:
                    return
                load = (await self._loads(session, (agent_id,))).get(agent_id, Counter())
            router = self.router(org_id)
            if not agent.active:
                router.remove_agent(agent_id)
                self._languages.get(org_id, {}).pop(agent_id, None)
                return
            self._upsert(agent, load)
            if agent.presence == AVAILABLE:
                router.set_presence(agent_id, AVAILABLE, _ts(utcnow()))
        await self._fill_agent(org_id, agent_id)

    async def _fill_agent(self, org_id: str, agent_id: str) -> None:
        async with self._lock:
            router = self.router(org_id)
            while assignment := router.route_agent(agent_id, _ts(utcnow())):
                await self._offer(org_id, assignment)

    async def _match_all(self) -> None:
        async with self._lock:
            now = _ts(utcnow())
            for org_id, router in self._routers.items():
                for assignment in router.match(now):
                    await self._offer(org_id, assignment)

    async def tick(self) -> None:
        """Periodic: contacts whose overflow time passed may now match wider agents."""
        await self._match_all()


# -------------------------------------------------------------------- queues
async def _check_queue_name(uow: UnitOfWork, org_id: str, name: str, queue_id: str | None) -> None:
    taken = await uow.session.scalar(
        select(Queue.id).where(Queue.org_id == org_id, Queue.name == name, Queue.id != queue_id)
        if queue_id
        else select(Queue.id).where(Queue.org_id == org_id, Queue.name == name)
    )
    if taken:
        raise Conflict(f"a queue named {name!r} already exists")


MAX_OVERFLOW_CHAIN = 100  # queues followed looking for a loop (an organisation has fewer)


async def _check_overflow_queue(
    uow: UnitOfWork, org_id: str, queue_id: str | None, data: QueueIn
) -> None:
    """A named overflow queue must be another queue of the organisation, reached after a
    wait, never leading back here through the queues it overflows to; and it replaces the
    relaxed skills, so not both."""
    target_id = data.overflow_queue_id
    if target_id is None:
        return
    field = "overflow_queue_id"
    if target_id == queue_id:
        raise Invalid("a queue cannot overflow to itself", field=field, reason="self")
    if data.overflow_skills is not None:
        raise Invalid(
            "overflow to a queue or to skills, not both", field="overflow_skills", reason="both"
        )
    if data.overflow_after_s is None:
        raise Invalid(
            "say after how many seconds the contact overflows",
            field="overflow_after_s",
            reason="wait",
        )
    links = dict(
        (
            await uow.session.execute(
                select(Queue.id, Queue.overflow_queue_id).where(Queue.org_id == org_id)
            )
        ).all()
    )
    if target_id not in links:
        raise Invalid("no such queue", field=field, reason="unknown")
    seen, at = [target_id], links[target_id]
    while at is not None and len(seen) < MAX_OVERFLOW_CHAIN:
        if at == queue_id:
            raise Invalid(
                "that queue overflows back to this one: a loop", field=field, reason="loop"
            )
        seen.append(at)
        at = links.get(at)


async def do_create_queue(
    ctx: Context, org_id: str, data: QueueIn, actor: str | None = None
) -> Queue:
    """A new queue; an admin's (`actor`) is audited, not one seeded by setup or the demo."""
    async with ctx.uow() as uow:
        await _check_queue_name(uow, org_id, data.name, None)
        await _check_overflow_queue(uow, org_id, None, data)
        queue = Queue(org_id=org_id, **data.model_dump())
        uow.session.add(queue)
        if actor is not None:
            await uow.session.flush()
            audit(uow.session, org_id, actor, "queue.create", queue.id, name=queue.name)
    return queue


async def do_update_queue(
    ctx: Context, org_id: str, queue_id: str, data: QueueIn, actor: str | None = None
) -> Queue:
    """Replace a queue's settings; an admin's (`actor`) change is audited with the fields
    that changed."""
    async with ctx.uow() as uow:
        queue = await uow.lock(Queue, queue_id)
        if queue is None or queue.org_id != org_id:
            raise NotFound("no such queue")
        await _check_queue_name(uow, org_id, data.name, queue_id)
        await _check_overflow_queue(uow, org_id, queue_id, data)
        changed = sorted(k for k, v in data.model_dump().items() if getattr(queue, k) != v)
        for name, value in data.model_dump().items():
            setattr(queue, name, value)
        if changed and actor is not None:
            audit(uow.session, org_id, actor, "queue.update", queue_id, fields=changed)
    return queue


async def get_queue(ctx: Context, org_id: str, queue_id: str) -> Queue:
    async with ctx.db.sessions() as session:
        queue = await session.get(Queue, queue_id)
    if queue is None or queue.org_id != org_id:
        raise NotFound("no such queue")
    return queue


async def list_queues(ctx: Context, org_id: str) -> list[Queue]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(select(Queue).where(Queue.org_id == org_id).order_by(Queue.name))
        )


async def queue_stats(ctx: Context, org_id: str) -> list[QueueStats]:
    """Live per-queue figures for the supervisor: waiting, offered, in service, longest wait."""
    now = utcnow()
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Contact.queue_id, Contact.status, func.count(), func.min(Contact.enqueued_at))
            .where(Contact.org_id == org_id, Contact.status.in_(OPEN_CONTACT))
            .group_by(Contact.queue_id, Contact.status)
        )
        figures: dict[str, dict[str, Any]] = {}
        for queue_id, status, count, oldest in rows:
            entry = figures.setdefault(queue_id, {})
            entry[status] = count
            if status in ("queued", "offered") and oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                wait = (now - oldest).total_seconds()
                entry["longest"] = max(entry.get("longest", 0.0), wait)
        queues = await session.scalars(
            select(Queue).where(Queue.org_id == org_id).order_by(Queue.name)
        )
        return [
            QueueStats(
                queue_id=q.id,
                name=q.name,
                waiting=figures.get(q.id, {}).get("queued", 0),
                offered=figures.get(q.id, {}).get("offered", 0),
                in_service=figures.get(q.id, {}).get("assigned", 0),
                longest_wait_s=round(figures.get(q.id, {}).get("longest", 0.0), 1),
                sl_target_pct=q.sl_target_pct,
                sl_threshold_s=q.sl_threshold_s,
            )
            for q in queues
        ]


async def list_contacts(
    ctx: Context, org_id: str, *, status: str | None, queue_id: str | None, limit: int
) -> list[Contact]:
    query = select(Contact).where(Contact.org_id == org_id)
    if status:
        query = query.where(Contact.status == status)
    if queue_id:
        query = query.where(Contact.queue_id == queue_id)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(Contact.enqueued_at).limit(limit)))


def _last_words_of(thread_id: Any) -> Select[Any]:
    """The body of the customer's last message in a thread."""
    return (
        select(ThreadEvent.body)
        .where(
            ThreadEvent.thread_id == thread_id,
            ThreadEvent.kind == "message",
            ThreadEvent.author_type == "customer",
        )
        .order_by(ThreadEvent.seq.desc())
        .limit(1)
    )


def _last_words() -> Any:
    """The same of the contact's thread, as a correlated subquery of a query over contacts."""
    return _last_words_of(Contact.thread_id).correlate(Contact).scalar_subquery()


def _offer_facts_queries() -> tuple[Select[Any], Select[Any]]:
    """A contact with what its offer shows (queue, customer, last words), one row: as read
    for a transfer, and locked (PostgreSQL: the contact's row only) for a new offer. Built
    once with a bound contact id, so each is filtered and keyed once (db._SCOPED), not at
    every offer."""
    facts = (
        select(Contact, Queue, Customer, _last_words().label("preview"))
        .outerjoin(Queue, Queue.id == Contact.queue_id)
        .outerjoin(Customer, Customer.id == Contact.customer_id)
        .where(Contact.id == bindparam("contact"))
    )
    return facts, facts.with_for_update(of=Contact)


_OFFER_FACTS, _OFFER_FACTS_LOCKED = _offer_facts_queries()


async def offer_details(
    session: Any, offer: Offer, contact: Contact, queue: Queue | None
) -> OfferDetail:
    """What an agent needs to decide on an offer: who, where, why, and the last words."""
    customer = await session.get(Customer, contact.customer_id)
    preview = await session.scalar(_last_words_of(contact.thread_id))
    return _offer_detail(offer, contact, queue, customer, preview)


def _offer_detail(
    offer: Offer,
    contact: Contact,
    queue: Queue | None,
    customer: Customer | None,
    preview: str | None,
) -> OfferDetail:
    return OfferDetail(
        id=offer.id,
        created_at=offer.created_at,
        expires_at=offer.expires_at,
        sticky=offer.sticky,
        contact_id=contact.id,
        thread_id=contact.thread_id,
        channel=contact.channel,
        queue=queue.name if queue else None,
        reason=contact.reason,
        priority=contact.priority,
        enqueued_at=contact.enqueued_at,
        preview=preview,
        customer=OfferCustomer(id=customer.id, name=customer.name, language=customer.language)
        if customer
        else None,
    )


async def open_wrapups(ctx: Context, principal: Principal) -> list[WrapupOut]:
    """The agent's wrap-ups still open, oldest first, each with the time it was given (the
    durable timer's `limit_s`, fixed when it started: a later change of the queue's wrap-up
    time does not move it), so a reloaded desktop shows the bar with what is left."""
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Contact, Timer.payload)
            .outerjoin(
                Timer,
                and_(
                    Timer.kind == WRAPUP_END,
                    Timer.ref_id == Contact.id,
                    Timer.org_id == Contact.org_id,
                    Timer.cancelled == false(),
                    Timer.fired_at.is_(None),
                ),
            )
            .where(
                Contact.org_id == principal.org_id,
                Contact.agent_id == principal.agent_id,
                Contact.wrapup_started_at.is_not(None),
                Contact.wrapup_ended_at.is_(None),
            )
            .order_by(Contact.wrapup_started_at)
        )
        return [_wrapup_out(contact, payload) for contact, payload in rows]


def _wrapup_out(contact: Contact, payload: dict[str, Any] | None) -> WrapupOut:
    started = contact.wrapup_started_at
    assert started is not None
    limit_s = int((payload or {}).get("limit_s") or 0)
    return WrapupOut(
        contact_id=contact.id,
        thread_id=contact.thread_id,
        queue_id=contact.queue_id,
        channel=contact.channel,
        started_at=started,
        limit_s=limit_s,
        ends_at=started + timedelta(seconds=limit_s),
    )


async def pending_offers(ctx: Context, principal: Principal) -> list[OfferDetail]:
    """The agent's pending offers with their details (a reloaded desktop shows them again)."""
    async with ctx.db.sessions() as session:
        offers = await session.scalars(
            select(Offer)
            .where(Offer.agent_id == principal.agent_id, Offer.status == "pending")
            .order_by(Offer.created_at)
        )
        details = []
        for offer in offers:
            contact: Contact = await session.get_one(Contact, offer.contact_id)
            queue = await session.get(Queue, contact.queue_id)
            details.append(await offer_details(session, offer, contact, queue))
        return details
