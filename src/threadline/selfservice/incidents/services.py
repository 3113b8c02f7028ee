"""Outage mode: declare, change and resolve incidents; what customers' screens and calls say
while one is in force; which threads are about it; and telling the customers who asked (or
whom the company marked affected), once each, on the channel they use, through the outbox.

Telling is a durable timer (`incident_notify`, one per incident and phase) that works
through the notices a batch per transaction and sets itself again while some are left, so a
restart loses nobody and nobody is told twice (one notice row per customer and incident,
its status moved in the transaction that queues the message)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import func, or_, select

from threadline.auth.roles import Principal
from threadline.channels.outbox import enqueue_outbound, refusal
from threadline.context import Context
from threadline.customers.models import Customer, Identity
from threadline.db import UnitOfWork, org_scope, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import (
    IncidentDeclared,
    IncidentEvent,
    IncidentResolved,
    IncidentUpdated,
    MessageReceived,
    ThreadTaggedToIncident,
)
from threadline.orgs.services import audit
from threadline.selfservice.incidents.matching import IncidentView, in_force, matching, message_for
from threadline.selfservice.incidents.models import Incident, IncidentNotice, IncidentThread
from threadline.selfservice.incidents.schemas import (
    AffectedIn,
    AffectedOut,
    Banner,
    IncidentIn,
    IncidentPatch,
    NoticeCounts,
    ResolveIn,
)
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import append_event, current_thread, lock_thread, open_thread
from threadline.web.i18n import pick_language, translate
from threadline.workers.models import Timer
from threadline.workers.timers import schedule

log = structlog.get_logger(__name__)

NOTIFY = "incident_notify"
NOTIFY_BATCH = 100
CACHE_S = 5.0  # how stale another node's declaration may be on this one's screens
# channels a message reaches without the outbox: the widget's and the app's timeline
ON_TIMELINE = frozenset({"chat", "app"})
NEVER_TOLD_ON = frozenset({"voice", "video"})  # we do not ring people about an outage


def view(incident: Incident) -> IncidentView:
    return IncidentView(
        id=incident.id,
        title=incident.title,
        keywords=tuple(incident.keywords),
        products=tuple(incident.products),
        intents=tuple(incident.intents),
        messages=dict(incident.messages),
        starts_at=incident.starts_at,
        status=incident.status,
        expected_end_at=incident.expected_end_at,
    )


@dataclass
class ActiveIncidents:
    """The incidents in force per organisation, kept a few seconds in memory: every widget
    page, call and customer message asks, and almost always the answer is "none". A change
    on this node is seen at once, on another within CACHE_S."""

    _cached: dict[str, tuple[float, list[IncidentView]]] = field(default_factory=dict)

    def forget(self, org_id: str) -> None:
        self._cached.pop(org_id, None)

    async def of(self, ctx: Context, org_id: str) -> list[IncidentView]:
        hit = self._cached.get(org_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with org_scope(org_id):
            async with ctx.db.sessions() as session:
                rows = await session.scalars(
                    select(Incident).where(Incident.org_id == org_id, Incident.status == "active")
                )
                found = [view(row) for row in rows]
        self._cached[org_id] = (time.monotonic() + CACHE_S, found)
        return found


class IncidentService:
    """What the rest of Threadline asks of outage mode (ctx.incidents): the banners a
    customer's screen or call starts with, and the incidents a message is about."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.active = ActiveIncidents()

    async def banners(self, org_id: str, language: str | None) -> list[Banner]:
        """The incidents in force, in the customer's language (else English, else any)."""
        now = utcnow()
        found = [i for i in await self.active.of(self._ctx, org_id) if in_force(i, now)]
        if not found:
            return []
        return [
            Banner(
                id=i.id,
                title=i.title,
                message=message_for(i.messages, language),
                starts_at=i.starts_at,
                expected_end_at=i.expected_end_at,
            )
            for i in sorted(found, key=lambda i: i.starts_at, reverse=True)
        ]

    async def about(
        self, org_id: str, *, text: str | None = None, intent: str | None = None
    ) -> list[IncidentView]:
        """The incidents in force a customer's message (or its intent) is about."""
        incidents = await self.active.of(self._ctx, org_id)
        if not incidents:
            return []
        return matching(incidents, utcnow(), text=text, intent=intent)


# ------------------------------------------------------------------ supervisors' API
def _event(cls: type[IncidentEvent], incident: Incident, agent_id: str | None) -> IncidentEvent:
    return cls(
        org_id=incident.org_id,
        incident_id=incident.id,
        title=incident.title,
        status=incident.status,
        agent_id=agent_id,
    )


def _changed(ctx: Context, uow: UnitOfWork, org_id: str) -> None:
    async def forget() -> None:
        ctx.incidents.active.forget(org_id)

    uow.after_commit(forget)


async def do_declare(ctx: Context, principal: Principal, body: IncidentIn) -> Incident:
    """Declare an incident: from `starts_at` (now if not given) every channel says so."""
    now = utcnow()
    starts_at = body.starts_at or now
    if body.expected_end_at is not None and body.expected_end_at <= starts_at:
        raise Invalid("expected_end_at must be after the start (now, when no start is given)")
    async with ctx.uow() as uow:
        incident = Incident(
            org_id=principal.org_id,
            title=body.title,
            messages=body.messages,
            resolution_messages=body.resolution_messages,
            products=body.products,
            regions=body.regions,
            keywords=body.keywords,
            intents=body.intents,
            starts_at=starts_at,
            expected_end_at=body.expected_end_at,
            declared_by=principal.agent_id,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(incident)
        await uow.session.flush()
        audit(uow.session, principal.org_id, principal.agent_id, "incident.declare", incident.id)
        uow.emit(_event(IncidentDeclared, incident, principal.agent_id))
        _changed(ctx, uow, principal.org_id)
    return incident


async def _locked(uow: UnitOfWork, org_id: str, incident_id: str) -> Incident:
    incident: Incident | None = await uow.lock(Incident, incident_id)
    if incident is None or incident.org_id != org_id:
        raise NotFound("no such incident")
    return incident


async def do_update(
    ctx: Context, principal: Principal, incident_id: str, body: IncidentPatch
) -> Incident:
    async with ctx.uow() as uow:
        incident = await _locked(uow, principal.org_id, incident_id)
        if incident.status != "active":
            raise Conflict("the incident is resolved: declare a new one")
        changes = body.model_dump(exclude_unset=True)
        if changes.get("messages") == {}:
            changes.pop("messages")  # never leave customers with nothing to read
        for name, value in changes.items():
            setattr(incident, name, value)
        end = incident.expected_end_at
        if end is not None and end <= incident.starts_at:
            raise Conflict("expected_end_at must be after starts_at")
        incident.updated_at = utcnow()
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "incident.update",
            incident.id,
            fields=sorted(changes),
        )
        uow.emit(_event(IncidentUpdated, incident, principal.agent_id))
        _changed(ctx, uow, principal.org_id)
    return incident


async def do_resolve(
    ctx: Context, principal: Principal, incident_id: str, body: ResolveIn
) -> Incident:
    """Resolve it: the banners go, and everyone waiting to hear is told (a timer works
    through them, a batch per transaction)."""
    async with ctx.uow() as uow:
        incident = await _locked(uow, principal.org_id, incident_id)
        if incident.status == "resolved":
            return incident  # a double click: resolved once, told once
        now = utcnow()
        incident.status = "resolved"
        incident.resolved_at = now
        incident.resolved_by = principal.agent_id
        incident.updated_at = now
        if body.resolution_messages:
            incident.resolution_messages = body.resolution_messages
        schedule(uow.session, incident.org_id, NOTIFY, incident.id, now, {"phase": "fixed"})
        audit(uow.session, principal.org_id, principal.agent_id, "incident.resolve", incident.id)
        uow.emit(_event(IncidentResolved, incident, principal.agent_id))
        _changed(ctx, uow, principal.org_id)
        uow.after_commit(_wake(ctx))
    return incident


def _wake(ctx: Context) -> Any:
    async def wake() -> None:
        ctx.timers.wake()

    return wake


async def list_incidents(ctx: Context, org_id: str, status: str | None) -> list[Incident]:
    async with ctx.db.sessions() as session:
        query = select(Incident).where(Incident.org_id == org_id)
        if status is not None:
            query = query.where(Incident.status == status)
        rows = await session.scalars(query.order_by(Incident.starts_at.desc()).limit(200))
        return list(rows)


async def get_incident(ctx: Context, org_id: str, incident_id: str) -> Incident:
    async with ctx.db.sessions() as session:
        incident = await session.get(Incident, incident_id)
    if incident is None or incident.org_id != org_id:
        raise NotFound("no such incident")
    return incident


async def notice_counts(ctx: Context, org_id: str, incident_id: str) -> NoticeCounts:
    return (await counts_of(ctx, org_id, [incident_id]))[incident_id]


async def counts_of(ctx: Context, org_id: str, ids: list[str]) -> dict[str, NoticeCounts]:
    """Each incident's counts, in two grouped queries whatever the number of incidents."""
    by_reason: dict[str, dict[str, int]] = {i: {} for i in ids}
    by_status: dict[str, dict[str, int]] = {i: {} for i in ids}
    threads: dict[str, int] = {}
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(
                IncidentNotice.incident_id,
                IncidentNotice.reason,
                IncidentNotice.status,
                func.count(),
            )
            .where(IncidentNotice.org_id == org_id, IncidentNotice.incident_id.in_(ids))
            .group_by(IncidentNotice.incident_id, IncidentNotice.reason, IncidentNotice.status)
        )
        for incident_id, reason, status, n in rows:
            reasons, statuses = by_reason[incident_id], by_status[incident_id]
            reasons[reason] = reasons.get(reason, 0) + n
            statuses[status] = statuses.get(status, 0) + n
        tagged = await session.execute(
            select(IncidentThread.incident_id, func.count())
            .where(IncidentThread.org_id == org_id, IncidentThread.incident_id.in_(ids))
            .group_by(IncidentThread.incident_id)
        )
        threads = {incident_id: int(n) for incident_id, n in tagged}
    return {
        i: NoticeCounts(
            followers=by_reason[i].get("follow", 0),
            affected=by_reason[i].get("affected", 0),
            waiting=by_status[i].get("waiting", 0),
            told=by_status[i].get("told", 0),
            skipped=by_status[i].get("skipped", 0),
            threads=threads.get(i, 0),
        )
        for i in ids
    }


async def do_mark_affected(
    ctx: Context, principal: Principal, incident_id: str, body: AffectedIn
) -> AffectedOut:
    """Mark customers affected (by id, phone or email): each is told when it is fixed, and,
    with `tell_now`, of the outage itself now. A customer already marked, or following,
    is not added twice."""
    async with ctx.uow() as uow:
        incident = await _locked(uow, principal.org_id, incident_id)
        if incident.status != "active":
            raise Conflict("the incident is resolved")
        session = uow.session
        found: dict[str, str] = {}  # customer id -> what named them
        unknown: list[str] = []
        if body.customer_ids:
            ids = set(
                await session.scalars(
                    select(Customer.id).where(
                        Customer.id.in_(body.customer_ids), Customer.merged_into_id.is_(None)
                    )
                )
            )
            found.update({i: i for i in body.customer_ids if i in ids})
            unknown.extend(i for i in body.customer_ids if i not in ids)
        for kind, values in (("phone", body.phones), ("email", body.emails)):
            wanted = {_normal(kind, v): v for v in values}
            owners = dict(
                (value, customer_id)
                for value, customer_id in await session.execute(
                    select(Identity.value, Identity.customer_id).where(
                        Identity.kind == kind, Identity.value.in_(list(wanted))
                    )
                )
            )
            for value, given in wanted.items():
                if value in owners:
                    found.setdefault(owners[value], given)
                else:
                    unknown.append(given)
        existing = set(
            await session.scalars(
                select(IncidentNotice.customer_id).where(
                    IncidentNotice.incident_id == incident.id,
                    IncidentNotice.customer_id.in_(list(found)),
                )
            )
        )
        added = 0
        for customer_id in found:
            if customer_id in existing:
                continue
            session.add(
                IncidentNotice(
                    org_id=incident.org_id,
                    incident_id=incident.id,
                    customer_id=customer_id,
                    reason="affected",
                )
            )
            added += 1
        audit(
            session,
            principal.org_id,
            principal.agent_id,
            "incident.affected",
            incident.id,
            added=added,
            tell_now=body.tell_now,
        )
        if body.tell_now and added:
            schedule(session, incident.org_id, NOTIFY, incident.id, utcnow(), {"phase": "outage"})
            uow.after_commit(_wake(ctx))
    return AffectedOut(matched=len(found), added=added, unknown=unknown[:1000])


def _normal(kind: str, value: str) -> str:
    value = value.strip()
    return value.lower() if kind == "email" else value.replace(" ", "")


# ------------------------------------------------------------------ customers
async def do_follow(
    ctx: Context,
    org_id: str,
    incident_id: str,
    customer_id: str,
    *,
    channel: str,
    thread_id: str | None,
    language: str | None,
) -> bool:
    """ "Tell me when it is fixed": remembered once per customer (asking again, or being
    marked affected too, changes nothing but where to tell them). False when the incident is
    not in force (NotFound when it is not this organisation's)."""
    async with ctx.uow() as uow:
        incident = await uow.session.get(Incident, incident_id)
        if incident is None or incident.org_id != org_id:
            raise NotFound("no such incident")
        if not in_force(view(incident), utcnow()):
            return False
        notice = await uow.session.scalar(
            select(IncidentNotice).where(
                IncidentNotice.incident_id == incident_id,
                IncidentNotice.customer_id == customer_id,
            )
        )
        if notice is None:
            notice = IncidentNotice(
                org_id=org_id, incident_id=incident_id, customer_id=customer_id, reason="follow"
            )
            uow.session.add(notice)
        notice.channel = channel
        notice.thread_id = thread_id
        notice.language = language
        if thread_id is not None:
            await _tag(uow, incident, thread_id, customer_id, "bot")
    return True


async def _tag(
    uow: UnitOfWork,
    incident: Incident | IncidentView,
    thread_id: str,
    customer_id: str,
    source: str,
) -> None:
    exists = await uow.session.scalar(
        select(IncidentThread.id).where(
            IncidentThread.incident_id == incident.id, IncidentThread.thread_id == thread_id
        )
    )
    if exists is not None:
        return
    thread = await uow.session.get(Thread, thread_id)
    if thread is None:
        return
    uow.session.add(
        IncidentThread(
            org_id=thread.org_id,
            incident_id=incident.id,
            thread_id=thread_id,
            customer_id=customer_id,
            source=source,
        )
    )
    uow.emit(
        ThreadTaggedToIncident(
            org_id=thread.org_id,
            incident_id=incident.id,
            thread_id=thread_id,
            customer_id=customer_id,
            source=source,
        )
    )


async def on_message(ctx: Context, uow: UnitOfWork, received: MessageReceived) -> None:
    """A durable consumer of customers' messages: one about an incident in force tags its
    thread (reports count contacts per incident)."""
    if not received.body:
        return
    for incident in await ctx.incidents.about(received.org_id, text=received.body):
        with org_scope(received.org_id):
            await _tag(uow, incident, received.thread_id, received.customer_id, "message")


# ------------------------------------------------------------------ telling them
async def on_notify(ctx: Context, uow: UnitOfWork, timer: Timer) -> None:
    """Tell a batch of an incident's customers (the outage, or that it is fixed), and set
    the timer again while some are left."""
    phase = str((timer.payload or {}).get("phase") or "fixed")
    with org_scope(timer.org_id):
        incident = await uow.session.get(Incident, timer.ref_id)
        if incident is None:
            return
        if phase == "outage" and incident.status != "active":
            return  # fixed before we got to them: they hear that instead
        pending = IncidentNotice.status == "waiting"
        if phase == "outage":
            pending = (IncidentNotice.reason == "affected") & IncidentNotice.outage_status.is_(None)
        notices = list(
            await uow.session.scalars(
                select(IncidentNotice)
                .where(IncidentNotice.incident_id == incident.id, pending)
                .order_by(IncidentNotice.created_at, IncidentNotice.id)
                .limit(NOTIFY_BATCH)
            )
        )
        for notice in notices:
            await _tell(ctx, uow, incident, notice, phase)
        if len(notices) == NOTIFY_BATCH:
            schedule(uow.session, incident.org_id, NOTIFY, incident.id, utcnow(), {"phase": phase})


async def _tell(
    ctx: Context,
    uow: UnitOfWork,
    incident: Incident,
    notice: IncidentNotice,
    phase: str,
) -> None:
    session = uow.session
    customer = await session.get(Customer, notice.customer_id)
    while customer is not None and customer.merged_into_id:  # merged since: tell the survivor
        customer = await session.get(Customer, customer.merged_into_id)
    if customer is None:
        _skipped(notice, phase, "the customer no longer exists")
        return
    language = pick_language(notice.language or customer.language)
    if phase == "outage":
        text = message_for(incident.messages, language)
    else:
        text = message_for(incident.resolution_messages, language) or (
            translate(language, "incident_fixed", title=incident.title)
        )
    opted_out = _opted_out(customer)
    thread = await _thread_for(uow, notice, customer.id, language)
    reasons: list[str] = []
    for channel in await _channels(session, notice, thread):
        if channel in opted_out or "all" in opted_out:
            reasons.append(f"{channel}: the customer opted out")
            continue
        if channel in ON_TIMELINE:
            if notice.channel != channel:
                continue  # only where they asked us, on a screen they come back to
            _say(uow, thread, channel, text, incident, phase)
            _told(notice, phase, channel)
            return
        why = await refusal(ctx, session, thread, channel)
        if why is not None:
            reasons.append(f"{channel}: {why}")
            continue
        event = _say(uow, thread, channel, text, incident, phase)
        await enqueue_outbound(ctx, uow, thread, event)
        _told(notice, phase, channel)
        return
    _skipped(notice, phase, "; ".join(reasons) or "no channel reaches the customer")


def _opted_out(customer: Customer) -> set[str]:
    """The channels the customer said not to be messaged on (`attributes.opt_out`: a list
    of channels, or "all"); an address reported as spam is refused by the outbox itself."""
    value = (customer.attributes or {}).get("opt_out") or []
    return {value} if isinstance(value, str) else {str(v) for v in value}


async def _thread_for(
    uow: UnitOfWork, notice: IncidentNotice, customer_id: str, language: str
) -> Thread:
    if notice.thread_id is not None:
        thread = await uow.session.get(Thread, notice.thread_id)
        if thread is not None and thread.customer_id == customer_id:
            return await lock_thread(uow, thread.org_id, thread.id)
    found = await current_thread(uow.session, notice.org_id, customer_id)
    if found is None:
        found = await open_thread(uow.session, notice.org_id, customer_id, language)
        found.status = "resolved"  # a notice opens no demand for an agent
    return await lock_thread(uow, found.org_id, found.id)


async def _channels(session: Any, notice: IncidentNotice, thread: Thread) -> list[str]:
    """Where to tell them: where they asked, then the channels they last wrote on (newest
    first), never by phone."""
    rows = await session.execute(
        select(ThreadEvent.channel, func.max(ThreadEvent.created_at))
        .join(Thread, Thread.id == ThreadEvent.thread_id)
        .where(
            Thread.customer_id == thread.customer_id,
            ThreadEvent.author_type == "customer",
            ThreadEvent.channel.is_not(None),
            or_(ThreadEvent.kind == "message", ThreadEvent.kind == "call"),
        )
        .group_by(ThreadEvent.channel)
    )
    recent = [c for c, _ in sorted(rows, key=lambda r: r[1], reverse=True)]
    ordered = [notice.channel, *recent] if notice.channel else recent
    seen: list[str] = []
    for channel in ordered:
        if channel and channel not in seen and channel not in NEVER_TOLD_ON:
            seen.append(channel)
    if "voice" in recent and "sms" not in seen:
        seen.append("sms")  # a caller is texted on the number they called from
    return seen


def _say(
    uow: UnitOfWork, thread: Thread, channel: str, text: str, incident: Incident, phase: str
) -> ThreadEvent:
    return append_event(
        uow,
        thread,
        kind="message",
        channel=channel,
        author_type="system",
        body=text,
        data={"incident_id": incident.id, "incident_phase": phase},
    )


def _told(notice: IncidentNotice, phase: str, channel: str) -> None:
    if phase == "outage":
        notice.outage_status = "told"
        return
    notice.status = "told"
    notice.told_at = utcnow()
    notice.told_on = channel


def _skipped(notice: IncidentNotice, phase: str, reason: str) -> None:
    log.info("incidents.not_told", notice=notice.id, phase=phase, reason=reason)
    if phase == "outage":
        notice.outage_status = "skipped"
        notice.skip_reason = reason[:300]
        return
    notice.status = "skipped"
    notice.skip_reason = reason[:300]


def register(ctx: Context) -> IncidentService:
    """Outage mode's place in the application: called once by build_context."""
    service = IncidentService(ctx)

    async def consume(uow: UnitOfWork, event: MessageReceived) -> None:
        await on_message(ctx, uow, event)

    async def fire(uow: UnitOfWork, timer: Timer) -> None:
        await on_notify(ctx, uow, timer)

    ctx.handlers.consumer("incidents", consume, [MessageReceived])
    ctx.timers.register(NOTIFY, fire)
    return service


async def visitor_thread(ctx: Context, org_id: str, customer_id: str) -> str | None:
    """The customer's current thread (a visitor who has not written yet has none)."""
    async with ctx.db.sessions() as session:
        thread = await current_thread(session, org_id, customer_id)
    return thread.id if thread is not None else None
