"""Contact reasons: the taxonomy an admin edits, the reason each ended contact gets (given by
the IVR, the app, the bot or the agent's wrap-up, else classified from the customer's first
messages with the organisation's intent model), trends, and the daily spike check.

The durable consumer "reasons" reads each ending event (resolved, ended, abandoned), stores
the taxonomy code, its source and the classifier's confidence on the contact, then checks
that reason for a spike (analytics/spikes.py) and emits `reason.spiked` once per reason and
local day. Its writes and its position commit together (events/log.py).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import func, select

from threadline.analytics import spikes
from threadline.auth.roles import Principal
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import (
    ContactAbandoned,
    ContactEnded,
    ContactEvent,
    ContactResolved,
    DomainEvent,
    ReasonSpiked,
)
from threadline.intents.engine import MANIFEST, IntentModel, ModelDirError
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.reasons.models import ReasonAlert, ReasonCode
from threadline.reasons.schemas import ReasonIn, ReasonPatch
from threadline.routing.models import Contact
from threadline.threads.models import ThreadEvent

if TYPE_CHECKING:
    from threadline.context import Context

log = structlog.get_logger(__name__)

CONSUMER = "reasons"
ENDING = (ContactResolved, ContactEnded, ContactAbandoned)
Source = Literal["ivr", "app", "bot", "wrapup", "classified"]
FIRST_MESSAGES = 3  # the customer's first messages of a contact that are classified
MIN_CONFIDENCE = 0.3  # below this the classifier's guess is not kept
DEFAULT_MODEL = "default"  # the shared model's directory (as the bot finds it)


# ---------------------------------------------------------------- the taxonomy
async def list_reasons(ctx: Context, org_id: str) -> list[ReasonCode]:
    async with ctx.db.sessions() as session:
        rows = await session.scalars(
            select(ReasonCode).where(ReasonCode.org_id == org_id).order_by(ReasonCode.code)
        )
        return list(rows)


async def _all(uow: UnitOfWork, org_id: str) -> list[ReasonCode]:
    rows = await uow.session.scalars(
        select(ReasonCode).where(ReasonCode.org_id == org_id).order_by(ReasonCode.code)
    )
    return list(rows)


def _check(rows: Sequence[ReasonCode]) -> None:
    """The taxonomy after a change: parents exist and are top-level (two levels), and each
    intent, IVR reason and wrap-up code means one reason."""
    by_code = {r.code: r for r in rows}
    for r in rows:
        if r.parent is None:
            continue
        parent = by_code.get(r.parent)
        if parent is None:
            raise Invalid(f"parent: there is no reason {r.parent!r}", field="parent")
        if parent.code == r.code or parent.parent is not None:
            raise Invalid(
                f"parent: {r.parent!r} is not a top-level reason (two levels at most)",
                field="parent",
            )
        if any(other.parent == r.code for other in rows):
            raise Invalid(f"{r.code!r} has sub-reasons: it cannot have a parent", field="parent")
    for kind in ("intents", "ivr", "wrapup"):
        seen: dict[str, str] = {}
        for r in rows:
            for value in getattr(r, kind):
                if value in seen and seen[value] != r.code:
                    raise Conflict(f"{kind}: {value!r} already means {seen[value]!r}", field=kind)
                seen[value] = r.code


async def do_create(ctx: Context, principal: Principal, body: ReasonIn) -> ReasonCode:
    async with ctx.uow() as uow:
        rows = await _all(uow, principal.org_id)
        if any(r.code == body.code for r in rows):
            raise Conflict(f"there is already a reason {body.code!r}", field="code")
        now = utcnow()
        reason = ReasonCode(
            org_id=principal.org_id,
            code=body.code,
            parent=body.parent,
            labels=body.labels,
            intents=body.intents,
            ivr=body.ivr,
            wrapup=body.wrapup,
            created_at=now,
            updated_at=now,
        )
        _check([*rows, reason])
        uow.session.add(reason)
        audit(uow.session, principal.org_id, principal.agent_id, "reason.create", body.code)
    return reason


async def do_update(ctx: Context, principal: Principal, code: str, body: ReasonPatch) -> ReasonCode:
    async with ctx.uow() as uow:
        rows = await _all(uow, principal.org_id)
        reason = next((r for r in rows if r.code == code), None)
        if reason is None:
            raise NotFound("no such reason")
        changed = sorted(body.model_fields_set)
        for name in changed:
            value = getattr(body, name)
            if value is None and name != "parent":
                raise Invalid(f"{name}: give a value (only parent may be null)", field=name)
            setattr(reason, name, value)
        _check(rows)
        reason.updated_at = utcnow()
        audit(
            uow.session, principal.org_id, principal.agent_id, "reason.update", code, fields=changed
        )
    return reason


async def do_delete(ctx: Context, principal: Principal, code: str) -> None:
    async with ctx.uow() as uow:
        rows = await _all(uow, principal.org_id)
        reason = next((r for r in rows if r.code == code), None)
        if reason is None:
            raise NotFound("no such reason")
        if any(r.parent == code for r in rows):
            raise Conflict(f"{code!r} has sub-reasons: delete or move them first")
        await uow.session.delete(reason)
        audit(uow.session, principal.org_id, principal.agent_id, "reason.delete", code)


# ---------------------------------------------------------------- a contact's reason
@dataclass
class Taxonomy:
    """The values that mean each reason, by kind."""

    wrapup: dict[str, str] = field(default_factory=dict)
    given: dict[str, str] = field(default_factory=dict)  # IVR/app reasons, intents, codes
    intents: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[ReasonCode]) -> Taxonomy:
        found = cls()
        for r in rows:
            found.given[r.code] = r.code
            found.wrapup.update(dict.fromkeys(r.wrapup, r.code))
            found.intents.update(dict.fromkeys(r.intents, r.code))
            found.given.update(dict.fromkeys(r.intents, r.code))
            found.given.update(dict.fromkeys(r.ivr, r.code))
        return found


def given_source(contact: Contact) -> Source:
    """Where the contact's own `reason` came from: the bot's hand-off, the IVR, the app."""
    context = contact.context or {}
    if "bot" in context:
        return "bot"
    if "ivr" in context or contact.channel == "voice":
        return "ivr"
    return "app"


def given_reason(taxonomy: Taxonomy, contact: Contact) -> tuple[str, Source] | None:
    """The reason the contact was given, mapped to the taxonomy: the agent's wrap-up first
    (they heard the customer out), then what the IVR, the app or the bot recorded."""
    if contact.wrapup_reason and contact.wrapup_reason in taxonomy.wrapup:
        return taxonomy.wrapup[contact.wrapup_reason], "wrapup"
    if contact.wrapup_reason and contact.wrapup_reason in taxonomy.given:
        return taxonomy.given[contact.wrapup_reason], "wrapup"
    if contact.reason and contact.reason in taxonomy.given:
        return taxonomy.given[contact.reason], given_source(contact)
    return None


# What identifies one written model: its manifest's inode, modification time (ns) and size.
Version = tuple[int, int, int]


class IntentModels:
    """The organisation's intent model in `<root>/<org id>/`, else the shared one in
    `<root>/default/`, found as the bot finds them (selfservice/bot/classifier.py), each
    loaded once and again only when its manifest changes."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._loaded: dict[Path, tuple[Version, IntentModel]] = {}

    async def model_for(self, org_id: str) -> IntentModel | None:
        if self._root is None:
            return None
        for directory in (self._root / org_id, self._root / DEFAULT_MODEL):
            try:
                found = os.stat(directory / MANIFEST)
            except OSError:
                continue
            version = (found.st_ino, found.st_mtime_ns, found.st_size)
            known = self._loaded.get(directory)
            if known is not None and known[0] == version:
                return known[1]
            try:
                model = await asyncio.to_thread(IntentModel.load, directory)
            except (ModelDirError, OSError, ValueError):
                log.warning("reasons.model_unreadable", directory=str(directory))
                continue
            self._loaded[directory] = (version, model)
            return model
        return None


async def first_messages(uow: UnitOfWork, contact: Contact) -> str:
    """The customer's first messages of the contact, joined (empty if none)."""
    rows = await uow.session.scalars(
        select(ThreadEvent.body)
        .where(
            ThreadEvent.org_id == contact.org_id,
            ThreadEvent.thread_id == contact.thread_id,
            ThreadEvent.contact_id == contact.id,
            ThreadEvent.kind == "message",
            ThreadEvent.author_type == "customer",
            ThreadEvent.body.is_not(None),
        )
        .order_by(ThreadEvent.seq)
        .limit(FIRST_MESSAGES)
    )
    return "\n".join(body.strip() for body in rows if body and body.strip())


class ReasonsConsumer:
    """The durable consumer "reasons" (see the module's docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.models = IntentModels(ctx.settings.intent_models_dir)

    def register(self) -> None:
        self._ctx.handlers.consumer(CONSUMER, self.on_event, list(ENDING))

    async def on_event(self, uow: UnitOfWork, event: DomainEvent) -> None:
        if not isinstance(event, ContactEvent):
            return
        contact = await uow.lock(Contact, event.contact_id)
        if contact is None or contact.org_id != event.org_id or contact.reason_source:
            return  # gone, or its reason is already kept (a replay)
        taxonomy = Taxonomy.of(await _all(uow, contact.org_id))
        given = given_reason(taxonomy, contact)
        if given is not None:
            contact.reason_code, contact.reason_source = given
        else:
            await self._classify(uow, contact, taxonomy)
        if contact.reason_code is not None:
            await check_spike(uow, contact.org_id, contact.reason_code, event.occurred_at)

    async def _classify(self, uow: UnitOfWork, contact: Contact, taxonomy: Taxonomy) -> None:
        if not taxonomy.intents:
            return
        text = await first_messages(uow, contact)
        if not text:
            return
        model = await self.models.model_for(contact.org_id)
        if model is None:
            return
        predicted = (await asyncio.to_thread(model.predict, [text], 1))[0]
        code = taxonomy.intents.get(predicted.intent)
        if code is None or predicted.confidence < MIN_CONFIDENCE:
            log.info(
                "reasons.unclassified",
                contact_id=contact.id,
                intent=predicted.intent,
                confidence=round(predicted.confidence, 3),
            )
            return
        contact.reason_code = code
        contact.reason_source = "classified"
        contact.reason_confidence = round(predicted.confidence, 4)


# ---------------------------------------------------------------- spikes
def zone_of(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def org_zone(uow_or_session: object, org_id: str) -> tzinfo:
    session = getattr(uow_or_session, "session", uow_or_session)
    org = await session.get(Organization, org_id)  # type: ignore[attr-defined]
    return zone_of(org.timezone if org is not None else None)


def windows(now: datetime, zone: tzinfo, weeks: int) -> list[tuple[datetime, datetime]]:
    """Today's window (local midnight to now) and the same window of each of the last
    `weeks` weeks (same weekday, same wall-clock times), in UTC."""
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(), zone)
    out = []
    for w in range(weeks + 1):
        back = timedelta(weeks=w)  # wall-clock arithmetic: the same local times that week
        start = (midnight - back).replace(tzinfo=zone)
        end = (local - back).replace(tzinfo=zone)
        out.append((start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))))
    return out


async def check_spike(
    uow: UnitOfWork, org_id: str, code: str, now: datetime, *, weeks: int = spikes.WEEKS
) -> ReasonAlert | None:
    """Compare the reason's contacts today so far with the same weekday's last weeks; store
    an alert and emit `reason.spiked` the first time in a local day it is above the limit."""
    zone = await org_zone(uow, org_id)
    day = now.astimezone(zone).date().isoformat()
    already = await uow.session.scalar(
        select(ReasonAlert.id).where(
            ReasonAlert.org_id == org_id, ReasonAlert.reason == code, ReasonAlert.day == day
        )
    )
    if already is not None:
        return None
    counts = []
    for start, end in windows(now, zone, weeks):
        counted = await uow.session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.org_id == org_id,
                Contact.reason_code == code,
                Contact.enqueued_at >= start,
                Contact.enqueued_at <= end,
            )
        )
        counts.append(int(counted or 0))
    verdict = spikes.judge(counts[0], counts[1:])
    if not verdict.spiked:
        return None
    alert = ReasonAlert(
        org_id=org_id,
        reason=code,
        day=day,
        count=verdict.count,
        expected=round(verdict.expected, 3),
        limit=round(verdict.limit, 3),
        at=now,
    )
    uow.session.add(alert)
    uow.emit(
        ReasonSpiked(
            org_id=org_id,
            reason=code,
            count=verdict.count,
            expected=alert.expected,
            limit=alert.limit,
            at=now,
        )
    )
    log.info("reasons.spiked", org_id=org_id, reason=code, count=verdict.count)
    return alert


async def alerts_of(ctx: Context, org_id: str, day: date | None = None) -> list[ReasonAlert]:
    """The spikes of a local day (today by default)."""
    async with ctx.db.sessions() as session:
        if day is None:
            day = utcnow().astimezone(await org_zone(session, org_id)).date()
        rows = await session.scalars(
            select(ReasonAlert)
            .where(ReasonAlert.org_id == org_id, ReasonAlert.day == day.isoformat())
            .order_by(ReasonAlert.at)
        )
        return list(rows)


# ---------------------------------------------------------------- trends
def bucket(moment: datetime, zone: tzinfo, interval: str) -> datetime:
    local = moment.astimezone(zone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return datetime.combine(local.date(), time(), zone)


async def trends(
    ctx: Context, org_id: str, since: datetime, to: datetime, interval: str, zone: tzinfo
) -> Counter[tuple[datetime, str]]:
    """Contacts per interval (by when they came in) and reason, in [since, to)."""
    found: Counter[tuple[datetime, str]] = Counter()
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Contact.enqueued_at, Contact.reason_code).where(
                Contact.org_id == org_id,
                Contact.reason_code.is_not(None),
                Contact.enqueued_at >= since,
                Contact.enqueued_at < to,
            )
        )
        for enqueued_at, code in rows:
            found[(bucket(enqueued_at, zone, interval), code or "")] += 1
    return found


def register(ctx: Context) -> ReasonsConsumer:
    """Make the reasons the durable consumer "reasons"."""
    consumer = ReasonsConsumer(ctx)
    consumer.register()
    return consumer
