"""The KPI counters kept up to date: a durable consumer of the domain events, and the
rebuild from the raw history (`threadline analytics rebuild`).

Both count through the same code: a contact's counters come from its stored row and its
timeline entries (`load_facts`, then `kpi.fold_contact`), read when its ending event (resolved,
ended, abandoned) is handled, so the live consumer and a rebuild from the contacts table agree
by construction. Staffed time, callbacks, the bot and surveys are counted from the events
themselves (`fold_event`); a rebuild replays them from the event log.

Exactly once: the consumer's writes and its position commit together (events/log.py). A
rebuild runs in one transaction that holds the consumer's row: it counts every event up to
the log's last position and moves the consumer there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Table, and_, delete, func, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from threadline.analytics import kpi
from threadline.analytics.kpi import ContactFacts, ContactRow, Deltas, Entry
from threadline.analytics.models import (
    KpiAgentPresence,
    contact_intervals,
    event_intervals,
    rollups,
)
from threadline.db import UnitOfWork
from threadline.events.domain import (
    EVENT_TYPES,
    AgentWrapupEnded,
    BotDeflected,
    BotHandedOff,
    CallbackChanged,
    CallbackFailed,
    ContactAbandoned,
    ContactEnded,
    ContactEvent,
    ContactResolved,
    DomainEvent,
    PresenceChanged,
    decode,
    encode,
)
from threadline.events.log import APPEND_LOCK
from threadline.events.models import EventConsumer, EventRecord
from threadline.routing.models import Contact, Queue
from threadline.threads.models import ThreadEvent

if TYPE_CHECKING:
    from threadline.context import Context

log = structlog.get_logger(__name__)

CONSUMER = "kpis"
SURVEY_ANSWERED = "survey.answered"  # the surveys' event (another package), read by name
ENTRY_KINDS = ("assigned", "transferred", "resolved", "abandoned", "call_held", "call_resumed")
CHUNK = 2000
ENDING = (ContactResolved, ContactEnded, ContactAbandoned)
# a contact whose agent went into wrap-up is counted when the wrap-up ends, not when resolved
COUNTED_AT = (*ENDING, AgentWrapupEnded)


def counted_types() -> list[type[DomainEvent]]:
    """The events the consumer counts (the survey answer once it exists)."""
    types: list[type[DomainEvent]] = [
        *COUNTED_AT,
        PresenceChanged,
        CallbackChanged,
        CallbackFailed,
        BotDeflected,
        BotHandedOff,
    ]
    survey = EVENT_TYPES.get(SURVEY_ANSWERED)
    if survey is not None and survey.durable:
        types.append(survey)
    return types


# ---------------------------------------------------------------- reading the contacts
def _row(c: Any) -> ContactRow:
    return ContactRow(
        id=c.id,
        customer_id=c.customer_id,
        queue_id=c.queue_id,
        channel=c.channel,
        status=c.status,
        reason=c.reason,
        wrapup_reason=c.wrapup_reason,
        agent_id=c.agent_id,
        enqueued_at=c.enqueued_at,
        ended_at=c.ended_at,
        wrapup_started_at=c.wrapup_started_at,
        wrapup_ended_at=c.wrapup_ended_at,
    )


_CONTACT_COLUMNS = (
    Contact.id,
    Contact.org_id,
    Contact.customer_id,
    Contact.queue_id,
    Contact.channel,
    Contact.status,
    Contact.reason,
    Contact.wrapup_reason,
    Contact.agent_id,
    Contact.enqueued_at,
    Contact.ended_at,
    Contact.wrapup_started_at,
    Contact.wrapup_ended_at,
)


def entries_query(contact_ids: Sequence[str]) -> Any:
    """The timeline entries that make these contacts' facts (ix_thread_events_contact)."""
    return select(
        ThreadEvent.contact_id,
        ThreadEvent.seq,
        ThreadEvent.kind,
        ThreadEvent.author_type,
        ThreadEvent.author_id,
        ThreadEvent.created_at,
    ).where(ThreadEvent.contact_id.in_(contact_ids), ThreadEvent.kind.in_(ENTRY_KINDS))


async def load_facts(uow: UnitOfWork, rows: Sequence[Any]) -> dict[str, ContactFacts]:
    """The facts of these contacts (rows of `_CONTACT_COLUMNS`), by id; those that have not
    ended are left out."""
    if not rows:
        return {}
    ids = [r.id for r in rows]
    entries: dict[str, list[Entry]] = {}
    for e in await uow.session.execute(entries_query(ids)):
        entries.setdefault(e.contact_id, []).append(
            Entry(e.seq, e.kind, e.author_type, e.author_id, e.created_at)
        )
    targets = await _targets(uow, {r.queue_id for r in rows})
    out: dict[str, ContactFacts] = {}
    for r in rows:
        facts = kpi.build_facts(_row(r), entries.get(r.id, ()), targets.get(r.queue_id, 20))
        if facts is not None:
            out[r.id] = facts
    return out


async def _targets(uow: UnitOfWork, queue_ids: Iterable[str]) -> dict[str, int]:
    rows = await uow.session.execute(
        select(Queue.id, Queue.sl_threshold_s).where(Queue.id.in_(sorted(queue_ids)))
    )
    return {queue_id: int(threshold) for queue_id, threshold in rows}


async def _previous(uow: UnitOfWork, rows: Sequence[Any]) -> dict[str, Any]:
    """Each contact's previous contact of the same customer (by the time it came in), for
    first-contact resolution; one query per contact (an index on customer, enqueued_at)."""
    found: dict[str, Any] = {}
    for r in rows:
        previous = (
            await uow.session.execute(
                select(*_CONTACT_COLUMNS)
                .where(
                    Contact.customer_id == r.customer_id,
                    or_(
                        Contact.enqueued_at < r.enqueued_at,
                        and_(Contact.enqueued_at == r.enqueued_at, Contact.id < r.id),
                    ),
                )
                .order_by(Contact.enqueued_at.desc(), Contact.id.desc())
                .limit(1)
            )
        ).first()
        if previous is not None:
            found[r.id] = previous
    return found


async def contact_deltas(
    uow: UnitOfWork, rows: Sequence[Any], previous: dict[str, Any]
) -> dict[str, Deltas]:
    """The counters of these ended contacts (and the repeats they make of the previous
    contacts), by organisation."""
    facts = await load_facts(uow, [*rows, *previous.values()])
    out: dict[str, Deltas] = {}
    for r in rows:
        own = facts.get(r.id)
        if own is None:
            continue
        deltas = out.setdefault(r.org_id, {})
        kpi.fold_contact(deltas, own)
        before = previous.get(r.id)
        earlier = facts.get(before.id) if before is not None else None
        if earlier is not None and kpi.is_repeat(earlier, own):
            kpi.fold_repeat(deltas, earlier)
    return out


# ---------------------------------------------------------------- writing the counters
_DIMS = ("queue_id", "channel", "agent_id", "reason")
_ROLLUP_KEY = ("org_id", "grain", "start", "dimension", "value")


async def add(
    uow: UnitOfWork, table: Table, org_id: str, deltas: Deltas, *, roll: bool = True
) -> None:
    """Add counters to their 15-minute rows (created at zero when new) and to the roll-ups."""
    if not deltas:
        return
    rows = [
        {"org_id": org_id, "bucket": key[0], **dict(zip(_DIMS, key[1:], strict=True)), **values}
        for key, values in deltas.items()
    ]
    await _upsert(uow, table, ("org_id", "bucket", *_DIMS), rows)
    if roll:
        await add_rollups(uow, org_id, kpi.rollup(deltas))


async def add_rollups(
    uow: UnitOfWork, org_id: str, rolled: dict[kpi.RollupKey, dict[str, float]]
) -> None:
    rows = [
        {"org_id": org_id, **dict(zip(_ROLLUP_KEY[1:], key, strict=True)), **values}
        for key, values in rolled.items()
    ]
    await _upsert(uow, rollups, _ROLLUP_KEY, rows)


async def _upsert(
    uow: UnitOfWork, table: Table, keys: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """One INSERT ... ON CONFLICT DO UPDATE SET counter = counter + excluded.counter."""
    if not rows:
        return
    names = [c.name for c in table.c if c.name in kpi.COUNTERS]
    full = [{**{k: row[k] for k in keys}, **{n: row.get(n, 0.0) for n in names}} for row in rows]
    dialect = postgresql if uow.row_locks else sqlite
    stmt = dialect.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + stmt.excluded[name] for name in names},
    )
    await uow.session.execute(stmt, full)


# ---------------------------------------------------------------- the live consumer
async def fold_event(uow: UnitOfWork, deltas: Deltas, event: DomainEvent) -> None:
    """Count one non-contact event (presence, callbacks, bot, survey)."""
    if isinstance(event, PresenceChanged):
        await _presence(uow, deltas, event)
    elif isinstance(event, CallbackFailed):
        kpi.fold_callback(deltas, event.occurred_at, event.queue_id or "", "failed")
    elif isinstance(event, CallbackChanged):
        kpi.fold_callback(deltas, event.occurred_at, event.queue_id or "", event.action)
    elif isinstance(event, BotDeflected):
        kpi.fold_bot(deltas, event.occurred_at, event.channel, event.intent or "", True)
    elif isinstance(event, BotHandedOff):
        kpi.fold_bot(deltas, event.occurred_at, event.channel, event.intent or "", False)
    elif event.type == SURVEY_ANSWERED:
        _survey(deltas, event)


async def _presence(uow: UnitOfWork, deltas: Deltas, event: PresenceChanged) -> None:
    state = await uow.session.get(KpiAgentPresence, (event.org_id, event.agent_id))
    if state is None:
        uow.session.add(
            KpiAgentPresence(
                org_id=event.org_id,
                agent_id=event.agent_id,
                presence=event.presence,
                since=event.at,
            )
        )
        await uow.session.flush()
        return
    if event.at > state.since:
        kpi.fold_presence(deltas, event.agent_id, state.presence, state.since, event.at)
        state.since = event.at
    state.presence = event.presence
    await uow.session.flush()


def _survey(deltas: Deltas, event: DomainEvent) -> None:
    """A survey answer, read by field name (score kind csat|ces, score, and where it was)."""
    data = encode(event)
    kind = str(data.get("score_kind") or data.get("kind") or "")
    score = data.get("score")
    if not isinstance(score, int | float):
        return
    key: kpi.Key = (
        event.occurred_at,
        str(data.get("queue_id") or data.get("queue") or ""),
        str(data.get("channel") or ""),
        str(data.get("agent_id") or ""),
        str(data.get("reason") or "")[:100],
    )
    kpi.fold_survey(deltas, event.occurred_at, key, kind, float(score))


class KpiConsumer:
    """The durable consumer "kpis": counts each ended contact and each counted event."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(self) -> None:
        self._ctx.handlers.consumer(CONSUMER, self.on_event, counted_types())

    async def on_event(self, uow: UnitOfWork, event: DomainEvent) -> None:
        if isinstance(event, ContactResolved) and event.wrapup:
            return  # counted with its wrap-up, at agent.wrapup_ended
        if isinstance(event, COUNTED_AT):
            await self._contact(uow, event)
            return
        deltas: Deltas = {}
        await fold_event(uow, deltas, event)
        await add(uow, event_intervals, event.org_id, deltas)

    async def _contact(self, uow: UnitOfWork, event: ContactEvent) -> None:
        rows = (
            await uow.session.execute(
                select(*_CONTACT_COLUMNS).where(Contact.id == event.contact_id)
            )
        ).all()
        by_org = await contact_deltas(uow, rows, await _previous(uow, rows))
        for org_id, deltas in by_org.items():
            await add(uow, contact_intervals, org_id, deltas)


# ---------------------------------------------------------------- the rebuild
@dataclass
class Rebuilt:
    contacts: int = 0
    events: int = 0
    contact_rows: int = 0
    event_rows: int = 0
    position: int = 0


async def rebuild(
    ctx: Context,
    org_id: str | None = None,
    since: datetime | None = None,
    progress: Any = None,
) -> Rebuilt:
    """Recompute the counters of one organisation (or all) from `since` (or the beginning)
    from the contacts table and the event log, in one transaction holding the consumer:
    the result equals what the live consumer would have counted, and the consumer goes on
    from the last position counted. Event counters (staffed time, callbacks, bot, surveys)
    are recomputed only where the log still holds their events."""
    # from the start of the UTC day: the day's roll-ups are recomputed whole
    start = kpi.grain_start(since, "day") if since is not None else None
    done = Rebuilt()
    async with ctx.uow() as uow:
        state = await _hold_consumer(uow)
        if uow.row_locks:
            # no write logs an event until this commits (SQLite: the single writer is us), so
            # every contact ended so far has its ending at or before `head`, and none after
            await uow.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK}
            )
        head = int(await uow.session.scalar(select(func.max(EventRecord.position))) or 0)
        await _catch_up_others(ctx, uow, org_id, state.position, head)
        await _rebuild_contacts(uow, org_id, start, done, progress)
        await _rebuild_events(uow, org_id, start, head, done)
        await _refresh_rollups(uow, org_id, start)
        state.position = max(state.position, head)
        done.position = state.position
    return done


async def _hold_consumer(uow: UnitOfWork) -> EventConsumer:
    query = select(EventConsumer).where(EventConsumer.name == CONSUMER)
    if uow.row_locks:
        query = query.with_for_update()
    state = await uow.session.scalar(query)
    if state is None:
        state = EventConsumer(name=CONSUMER, position=0)
        uow.session.add(state)
        await uow.session.flush()
    return state


async def _catch_up_others(
    ctx: Context, uow: UnitOfWork, org_id: str | None, position: int, head: int
) -> None:
    """Rebuilding one organisation moves the shared position: first count, as the consumer
    would, what it has not yet counted of the other organisations."""
    if org_id is None or head <= position:
        return
    consumer = KpiConsumer(ctx)
    wanted = tuple(counted_types())
    records = await uow.session.execute(
        select(EventRecord.data)
        .where(
            EventRecord.position > position,
            EventRecord.position <= head,
            EventRecord.org_id != org_id,
        )
        .order_by(EventRecord.position)
    )
    for (data,) in records:
        event = _decoded(data)
        if event is not None and isinstance(event, wanted):
            await consumer.on_event(uow, event)


def _decoded(data: dict[str, Any]) -> DomainEvent | None:
    try:
        return decode(data)
    except (KeyError, TypeError, ValueError):
        return None


async def _rebuild_contacts(
    uow: UnitOfWork, org_id: str | None, start: datetime | None, done: Rebuilt, progress: Any
) -> None:
    scope = [contact_intervals.c.org_id == org_id] if org_id else []
    if start is not None:
        scope.append(contact_intervals.c.bucket >= start)
    await uow.session.execute(delete(contact_intervals).where(*scope))
    query = select(*_CONTACT_COLUMNS).where(
        Contact.ended_at.is_not(None), Contact.status.in_(("resolved", "abandoned"))
    )
    if org_id:
        query = query.where(Contact.org_id == org_id)
    if start is not None:  # a contact that ended before `start` counted nothing after it
        query = query.where(Contact.ended_at >= start)
    last: tuple[datetime, str] | None = None
    while True:
        page = query.order_by(Contact.ended_at, Contact.id).limit(CHUNK)
        if last is not None:
            page = page.where(tuple_(Contact.ended_at, Contact.id) > tuple_(*last))
        rows = (await uow.session.execute(page)).all()
        if not rows:
            break
        last = (rows[-1].ended_at, rows[-1].id)
        by_org = await contact_deltas(uow, rows, await _previous(uow, rows))
        for org, deltas in by_org.items():
            kept = _from(deltas, start)
            await add(uow, contact_intervals, org, kept, roll=False)
            done.contact_rows += len(kept)
        done.contacts += len(rows)
        if progress is not None:
            progress(done.contacts)


def _from(deltas: Deltas, start: datetime | None) -> Deltas:
    if start is None:
        return deltas
    return {key: values for key, values in deltas.items() if key[0] >= start}


async def _rebuild_events(
    uow: UnitOfWork, org_id: str | None, start: datetime | None, head: int, done: Rebuilt
) -> None:
    """Replay the kept log through the event counters: from the first bucket the log covers
    whole (all of it if nothing was pruned) or `start`, whichever is later."""
    first = await uow.session.execute(
        select(EventRecord.position, EventRecord.occurred_at)
        .order_by(EventRecord.position)
        .limit(1)
    )
    oldest = first.first()
    if oldest is None:
        covered = None
    elif oldest.position == 1:
        covered = kpi.bucket_of(oldest.occurred_at)
    else:
        covered = kpi.bucket_of(oldest.occurred_at) + kpi.BUCKET
    begin = max(x for x in (start, covered) if x is not None) if (start or covered) else None
    scope = [event_intervals.c.org_id == org_id] if org_id else []
    if begin is not None:
        scope.append(event_intervals.c.bucket >= begin)
    await uow.session.execute(delete(event_intervals).where(*scope))
    presence_scope = [KpiAgentPresence.org_id == org_id] if org_id else []
    await uow.session.execute(delete(KpiAgentPresence).where(*presence_scope))
    wanted = tuple(t for t in counted_types() if t not in COUNTED_AT)
    names = sorted({t.type for t in wanted})
    query = (
        select(EventRecord.data)
        .where(EventRecord.position <= head, EventRecord.type.in_(names))
        .order_by(EventRecord.position)
    )
    if org_id:
        query = query.where(EventRecord.org_id == org_id)
    by_org: dict[str, Deltas] = {}
    for (data,) in await uow.session.execute(query):
        event = _decoded(data)
        if event is None or not isinstance(event, wanted):
            continue
        await fold_event(uow, by_org.setdefault(event.org_id, {}), event)
        done.events += 1
    for org, deltas in by_org.items():
        kept = _from(deltas, begin)
        await add(uow, event_intervals, org, kept, roll=False)
        done.event_rows += len(kept)


async def _refresh_rollups(uow: UnitOfWork, org_id: str | None, start: datetime | None) -> None:
    """Recompute the roll-ups from `start` (a UTC day) from the 15-minute rows, a day at a
    time."""
    scope = [rollups.c.org_id == org_id] if org_id else []
    if start is not None:
        scope.append(rollups.c.start >= start)
    await uow.session.execute(delete(rollups).where(*scope))
    for table in (contact_intervals, event_intervals):
        where = [table.c.org_id == org_id] if org_id else []
        first, last = (
            await uow.session.execute(
                select(func.min(table.c.bucket), func.max(table.c.bucket)).where(*where)
            )
        ).one()
        if first is None:
            continue
        day = kpi.grain_start(max(first, start) if start else first, "day")
        names = [c.name for c in table.c if c.name in kpi.COUNTERS]
        while day <= last:
            following = day + kpi.GRAINS["day"]
            rows = await uow.session.execute(
                select(table).where(*where, table.c.bucket >= day, table.c.bucket < following)
            )
            by_org: dict[str, Deltas] = {}
            for row in rows:
                key: kpi.Key = (kpi.bucket_of(row.bucket), *(getattr(row, d) for d in _DIMS))
                by_org.setdefault(row.org_id, {})[key] = {n: getattr(row, n) for n in names}
            for org, deltas in by_org.items():
                await add_rollups(uow, org, kpi.rollup(deltas))
            day = following
