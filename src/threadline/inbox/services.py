"""The inbox's reads and writes: views with counts (keyset pages, newest activity first),
search, labels, canned replies, macros, snooze and reopen.

Views are org-wide reads (every agent of an organisation may read its threads, as
/api/v1/threads lets them); writes on a thread follow threads' rule: its assigned agent or
a supervisor. Organisation-wide labels, canned replies and macros are a supervisor's to
change (audited); an agent keeps personal canned replies of their own."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent
from threadline.auth.roles import Principal
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid, NotAllowed, NotFound
from threadline.events.domain import (
    ContactQueued,
    ContactTransferred,
    MessageReceived,
    ThreadLabelled,
)
from threadline.events.handlers import Handlers
from threadline.inbox.models import CannedReply, Label, Macro, ThreadLabel
from threadline.inbox.schemas import View
from threadline.inbox.search import SEARCHED_KINDS, search_index, terms
from threadline.orgs.services import audit
from threadline.routing.models import Queue
from threadline.threads.models import OPEN_THREAD, Thread, ThreadEvent
from threadline.threads.services import agent_event, append_event, do_agent_message, lock_thread
from threadline.workers.models import Timer
from threadline.workers.timers import cancel, schedule

SNOOZE_DUE = "thread_snooze"
MAX_SNOOZE = timedelta(days=90)
PREVIEW_CHARS = 140


# ---------------------------------------------------------------- views
@dataclass(frozen=True, slots=True)
class Filters:
    channel: str | None = None
    queue_id: str | None = None
    label_id: str | None = None
    status: str | None = None


async def my_queue_ids(session: AsyncSession, principal: Principal) -> list[str]:
    """The queues whose required skills the agent has (the contacts routing may offer them)."""
    agent = await session.get(Agent, principal.agent_id)
    skills = set((agent.skills if agent else None) or {})
    queues = await session.scalars(select(Queue).where(Queue.org_id == principal.org_id))
    return [q.id for q in queues if set(q.required_skills) <= skills]


def _view(view: View, principal: Principal, queue_ids: list[str]) -> ColumnElement[bool]:
    open_ = OPEN_THREAD
    awake = Thread.snoozed_until.is_(None)
    mine = Thread.assigned_agent_id == principal.agent_id
    return {
        "mine": and_(mine, open_, awake),
        "unassigned": and_(Thread.assigned_agent_id.is_(None), open_),
        "queues": and_(Thread.queue_id.in_(queue_ids), open_, awake),
        "snoozed": and_(mine, Thread.snoozed_until.is_not(None)),
        "resolved": Thread.status == "resolved",
        "all": true(),
    }[view]


def _filters(principal: Principal, filters: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Thread.org_id == principal.org_id]
    if filters.channel:
        where.append(Thread.channel == filters.channel)
    if filters.queue_id:
        where.append(Thread.queue_id == filters.queue_id)
    if filters.status:
        where.append(Thread.status == filters.status)
    if filters.label_id:
        where.append(
            Thread.id.in_(
                select(ThreadLabel.thread_id).where(
                    ThreadLabel.org_id == principal.org_id,
                    ThreadLabel.label_id == filters.label_id,
                )
            )
        )
    return where


def _after(cursor: str) -> ColumnElement[bool]:
    """Threads after a page's last one, newest activity first (updated_at, id)."""
    at, _, thread_id = cursor.partition("~")
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise Invalid("the cursor is not one this API gave") from None
    if when.tzinfo is None or not thread_id:
        raise Invalid("the cursor is not one this API gave")
    return or_(Thread.updated_at < when, and_(Thread.updated_at == when, Thread.id < thread_id))


async def list_view(
    ctx: Context,
    principal: Principal,
    view: View,
    filters: Filters,
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a view and the cursor of the next (None at the end)."""
    async with ctx.db.sessions() as session:
        queue_ids = await my_queue_ids(session, principal) if view == "queues" else []
        query = select(Thread).where(
            _view(view, principal, queue_ids), *_filters(principal, filters)
        )
        if cursor:
            query = query.where(_after(cursor))
        query = query.order_by(Thread.updated_at.desc(), Thread.id.desc()).limit(limit + 1)
        threads = list(await session.scalars(query))
        more = len(threads) > limit
        threads = threads[:limit]
        rows = await _rows(session, principal.org_id, threads)
    last = threads[-1] if more and threads else None
    return rows, (f"{last.updated_at.isoformat()}~{last.id}" if last else None)


async def _rows(session: AsyncSession, org_id: str, threads: list[Thread]) -> list[dict[str, Any]]:
    """The page's threads with their customer's name, labels and latest message: three
    queries for the whole page."""
    ids = [t.id for t in threads]
    names = await _customer_names(session, [t.customer_id for t in threads])
    labels = await labels_of(session, org_id, ids)
    latest = (
        select(ThreadEvent.thread_id, func.max(ThreadEvent.seq).label("seq"))
        .where(ThreadEvent.thread_id.in_(ids), ThreadEvent.kind == "message")
        .group_by(ThreadEvent.thread_id)
        .subquery()
    )
    previews = dict(
        (
            await session.execute(
                select(ThreadEvent.thread_id, ThreadEvent.body).join(
                    latest,
                    and_(
                        ThreadEvent.thread_id == latest.c.thread_id,
                        ThreadEvent.seq == latest.c.seq,
                    ),
                )
            )
        ).all()
    )
    return [
        {
            "id": t.id,
            "customer_id": t.customer_id,
            "customer_name": names.get(t.customer_id),
            "status": t.status,
            "assigned_agent_id": t.assigned_agent_id,
            "queue_id": t.queue_id,
            "channel": t.channel,
            "snoozed_until": t.snoozed_until,
            "updated_at": t.updated_at,
            "last_seq": t.last_seq,
            "agent_read_seq": t.agent_read_seq,
            "preview": _cut(previews.get(t.id)),
            "labels": labels.get(t.id, []),
        }
        for t in threads
    ]


def _cut(body: str | None, at: int = 0) -> str | None:
    if body is None:
        return None
    start = max(0, at - PREVIEW_CHARS // 3)
    text = body[start : start + PREVIEW_CHARS]
    return ("…" if start else "") + text + ("…" if start + PREVIEW_CHARS < len(body) else "")


async def _customer_names(session: AsyncSession, ids: list[str]) -> dict[str, str | None]:
    rows = await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(ids)))
    return {cid: name for cid, name in rows.all()}


async def counts(ctx: Context, principal: Principal, filters: Filters) -> dict[str, int]:
    """How many threads each view holds (with the same filters); one COUNT per view, each
    answered from the threads' (org, agent|queue|status, updated_at) indexes."""
    found: dict[str, int] = {}
    async with ctx.db.sessions() as session:
        queue_ids = await my_queue_ids(session, principal)
        for view in ("mine", "unassigned", "queues", "snoozed", "resolved", "all"):
            found[view] = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Thread)
                    .where(_view(view, principal, queue_ids), *_filters(principal, filters))
                )
                or 0
            )
    return found


# ---------------------------------------------------------------- search
async def search(
    ctx: Context, principal: Principal, typed: str, language: str, limit: int
) -> dict[str, list[dict[str, Any]]]:
    """Messages and notes, and customers by name, email or phone, matching every word."""
    query = terms(language, typed)
    if query.empty:
        return {"messages": [], "customers": []}
    index = search_index(ctx.db.dialect)
    async with ctx.db.sessions() as session:
        event_ids = await index.messages(session, principal.org_id, query, limit)
        customer_ids = await index.customers(session, principal.org_id, query, limit)
        messages = await _message_hits(session, principal.org_id, event_ids, query.raw)
        customers = await _customer_hits(session, principal.org_id, customer_ids)
    return {"messages": messages, "customers": customers}


async def _message_hits(
    session: AsyncSession, org_id: str, event_ids: list[int], words: tuple[str, ...]
) -> list[dict[str, Any]]:
    if not event_ids:
        return []
    rows = await session.execute(
        select(ThreadEvent, Thread, Customer)
        .join(Thread, Thread.id == ThreadEvent.thread_id)
        .join(Customer, Customer.id == Thread.customer_id)
        .where(
            ThreadEvent.org_id == org_id,
            ThreadEvent.id.in_(event_ids),
            ThreadEvent.kind.in_(SEARCHED_KINDS),
        )
    )
    found = {event.id: (event, thread, customer) for event, thread, customer in rows.all()}
    hits = []
    for event_id in event_ids:  # the index's order: best first
        if event_id not in found:
            continue
        event, thread, customer = found[event_id]
        body = event.body or ""
        lowered = body.lower()
        at = min((i for i in (lowered.find(w) for w in words) if i >= 0), default=0)
        hits.append(
            {
                "thread_id": thread.id,
                "event_id": event.id,
                "kind": event.kind,
                "author_type": event.author_type,
                "author_name": event.author_name,
                "snippet": _cut(body, at) or "",
                "created_at": event.created_at,
                "customer_id": customer.id,
                "customer_name": customer.name,
                "status": thread.status,
            }
        )
    return hits


async def _customer_hits(
    session: AsyncSession, org_id: str, customer_ids: list[str]
) -> list[dict[str, Any]]:
    if not customer_ids:
        return []
    customers = {
        c.id: c
        for c in await session.scalars(
            select(Customer).where(
                Customer.org_id == org_id,
                Customer.id.in_(customer_ids),
                Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None),
            )
        )
    }
    latest: dict[str, str] = {}
    for customer_id, thread_id in await session.execute(
        select(Thread.customer_id, Thread.id)
        .where(Thread.org_id == org_id, Thread.customer_id.in_(list(customers)))
        .order_by(Thread.created_at)
    ):
        latest[customer_id] = thread_id
    return [
        {
            "customer_id": c.id,
            "name": c.name,
            "email": c.email,
            "phone": c.phone,
            "thread_id": latest.get(c.id),
        }
        for c in (customers[i] for i in customer_ids if i in customers)
    ]


# ---------------------------------------------------------------- labels
async def labels_of(
    session: AsyncSession, org_id: str, thread_ids: list[str]
) -> dict[str, list[dict[str, str]]]:
    rows = await session.execute(
        select(ThreadLabel.thread_id, Label)
        .join(Label, Label.id == ThreadLabel.label_id)
        .where(ThreadLabel.org_id == org_id, ThreadLabel.thread_id.in_(thread_ids))
        .order_by(Label.name)
    )
    found: dict[str, list[dict[str, str]]] = {}
    for thread_id, label in rows.all():
        found.setdefault(thread_id, []).append(
            {"id": label.id, "name": label.name, "colour": label.colour}
        )
    return found


async def list_labels(ctx: Context, org_id: str) -> list[Label]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(select(Label).where(Label.org_id == org_id).order_by(Label.name))
        )


async def _label(session: AsyncSession, org_id: str, label_id: str) -> Label:
    label = await session.get(Label, label_id)
    if label is None or label.org_id != org_id:
        raise NotFound("no such label")
    return label


async def _free_label_name(
    session: AsyncSession, org_id: str, name: str, but: str | None = None
) -> None:
    same = await session.scalar(
        select(Label.id).where(
            Label.org_id == org_id, func.lower(Label.name) == name.lower(), Label.id != (but or "")
        )
    )
    if same is not None:
        raise Conflict("a label with this name exists", field="name")


async def do_create_label(ctx: Context, principal: Principal, name: str, colour: str) -> Label:
    async with ctx.uow() as uow:
        await _free_label_name(uow.session, principal.org_id, name.strip())
        label = Label(org_id=principal.org_id, name=name.strip(), colour=colour.lower())
        uow.session.add(label)
        await uow.session.flush()
        audit(
            uow.session, principal.org_id, principal.agent_id, "label.create", label.id, name=name
        )
    return label


async def do_update_label(
    ctx: Context, principal: Principal, label_id: str, name: str, colour: str
) -> Label:
    async with ctx.uow() as uow:
        label = await _label(uow.session, principal.org_id, label_id)
        await _free_label_name(uow.session, principal.org_id, name.strip(), but=label.id)
        was = {"was_name": label.name, "was_colour": label.colour}
        label.name, label.colour = name.strip(), colour.lower()
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "label.update",
            label.id,
            name=label.name,
            colour=label.colour,
            **was,
        )
    return label


async def do_delete_label(ctx: Context, principal: Principal, label_id: str) -> None:
    async with ctx.uow() as uow:
        label = await _label(uow.session, principal.org_id, label_id)
        await uow.session.execute(delete(ThreadLabel).where(ThreadLabel.label_id == label.id))
        for macro in await uow.session.scalars(
            select(Macro).where(Macro.org_id == principal.org_id)
        ):  # a macro no longer adds it
            if label.id in macro.label_ids:
                macro.label_ids = [x for x in macro.label_ids if x != label.id]
        await uow.session.delete(label)
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            "label.delete",
            label_id,
            name=label.name,
        )


def _may_write(principal: Principal, thread: Thread) -> None:
    if thread.assigned_agent_id != principal.agent_id and not principal.has("supervisor"):
        raise NotAllowed("only the assigned agent or a supervisor can change this thread")


async def label_in(
    uow: UnitOfWork, principal: Principal, thread: Thread, label: Label, *, add: bool
) -> bool:
    """Add or remove a label inside the thread's lock; False when nothing changed."""
    link = await uow.session.get(ThreadLabel, (thread.id, label.id))
    if (link is not None) == add:
        return False
    if add:
        uow.session.add(ThreadLabel(thread_id=thread.id, label_id=label.id, org_id=thread.org_id))
    else:
        await uow.session.delete(link)
    agent_event(
        uow,
        thread,
        principal,
        "labelled",
        data={"label_id": label.id, "label": label.name, "added": add},
    )
    uow.emit(
        ThreadLabelled(
            org_id=thread.org_id,
            thread_id=thread.id,
            label_id=label.id,
            label=label.name,
            added=add,
            agent_id=principal.agent_id,
        )
    )
    return True


async def do_label(
    ctx: Context, principal: Principal, thread_id: str, label_id: str, *, add: bool
) -> list[dict[str, str]]:
    """Add (or remove) one of the organisation's labels on a thread; the thread's labels."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        _may_write(principal, thread)
        label = await _label(uow.session, principal.org_id, label_id)
        await label_in(uow, principal, thread, label, add=add)
        await uow.session.flush()
        return (await labels_of(uow.session, principal.org_id, [thread.id])).get(thread.id, [])


async def thread_labels(ctx: Context, principal: Principal, thread_id: str) -> list[dict[str, str]]:
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.org_id != principal.org_id:
            raise NotFound("no such thread")
        return (await labels_of(session, principal.org_id, [thread_id])).get(thread_id, [])


# ---------------------------------------------------------------- canned replies
VARIABLE = re.compile(r"\{([a-z_]+\.[a-z_]+)\}")
VARIABLES = (
    "customer.name",
    "customer.first_name",
    "customer.email",
    "customer.phone",
    "agent.name",
    "agent.first_name",
)


def check_variables(body: str, field: str = "body") -> None:
    unknown = sorted({v for v in VARIABLE.findall(body) if v not in VARIABLES})
    if unknown:
        message = f"unknown variable {{{unknown[0]}}}: use " + ", ".join(
            f"{{{v}}}" for v in VARIABLES
        )
        raise Invalid(message, errors=[{"loc": ["body", field], "msg": message}])


def fill(body: str, customer: Customer | None, agent_name: str) -> str:
    """A canned body with its variables filled (a missing value becomes empty)."""
    name = (customer.name if customer else None) or ""
    values = {
        "customer.name": name,
        "customer.first_name": name.split()[0] if name.split() else "",
        "customer.email": (customer.email if customer else None) or "",
        "customer.phone": (customer.phone if customer else None) or "",
        "agent.name": agent_name,
        "agent.first_name": agent_name.split()[0] if agent_name.split() else "",
    }
    return VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), body)


async def list_canned(ctx: Context, principal: Principal) -> list[CannedReply]:
    """The organisation's canned replies and the agent's own, by shortcut."""
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(CannedReply)
                .where(
                    CannedReply.org_id == principal.org_id,
                    or_(
                        CannedReply.owner_agent_id.is_(None),
                        CannedReply.owner_agent_id == principal.agent_id,
                    ),
                )
                .order_by(CannedReply.shortcut, CannedReply.owner_agent_id)
            )
        )


async def _canned(session: AsyncSession, principal: Principal, canned_id: str) -> CannedReply:
    canned = await session.get(CannedReply, canned_id)
    if (
        canned is None
        or canned.org_id != principal.org_id
        or canned.owner_agent_id not in (None, principal.agent_id)
    ):
        raise NotFound("no such canned reply")
    return canned


def _may_change_canned(principal: Principal, owner: str | None) -> None:
    if owner is None and not principal.has("supervisor"):
        raise NotAllowed("only a supervisor changes the organisation's canned replies")


async def _free_shortcut(
    session: AsyncSession, principal: Principal, owner: str | None, shortcut: str, but: str
) -> None:
    same = await session.scalar(
        select(CannedReply.id).where(
            CannedReply.org_id == principal.org_id,
            CannedReply.shortcut == shortcut,
            CannedReply.owner_agent_id.is_(None)
            if owner is None
            else CannedReply.owner_agent_id == owner,
            CannedReply.id != but,
        )
    )
    if same is not None:
        message = f"/{shortcut} is taken"
        raise Conflict(message, errors=[{"loc": ["body", "shortcut"], "msg": message}])


async def do_save_canned(
    ctx: Context,
    principal: Principal,
    canned_id: str | None,
    *,
    shortcut: str,
    title: str,
    body: str,
    personal: bool,
) -> CannedReply:
    """Create (canned_id None) or change a canned reply."""
    check_variables(body)
    async with ctx.uow() as uow:
        if canned_id is None:
            owner = principal.agent_id if personal else None
            canned = CannedReply(org_id=principal.org_id, owner_agent_id=owner)
        else:
            canned = await _canned(uow.session, principal, canned_id)
            owner = canned.owner_agent_id
        _may_change_canned(principal, owner)
        await _free_shortcut(uow.session, principal, owner, shortcut, canned.id or "")
        canned.shortcut, canned.title, canned.body = shortcut, title.strip(), body
        canned.updated_at = utcnow()
        uow.session.add(canned)
        await uow.session.flush()
        if owner is None:
            action = "canned.create" if canned_id is None else "canned.update"
            audit(
                uow.session,
                principal.org_id,
                principal.agent_id,
                action,
                canned.id,
                shortcut=shortcut,
            )
    return canned


async def do_delete_canned(ctx: Context, principal: Principal, canned_id: str) -> None:
    async with ctx.uow() as uow:
        canned = await _canned(uow.session, principal, canned_id)
        _may_change_canned(principal, canned.owner_agent_id)
        await uow.session.delete(canned)
        if canned.owner_agent_id is None:
            audit(
                uow.session,
                principal.org_id,
                principal.agent_id,
                "canned.delete",
                canned.id,
                shortcut=canned.shortcut,
            )


async def render_for(ctx: Context, principal: Principal, thread_id: str, body: str) -> str:
    """A text with its variables filled for this thread's customer and this agent."""
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.org_id != principal.org_id:
            raise NotFound("no such thread")
        customer = await session.get(Customer, thread.customer_id)
    return fill(body, customer, principal.name)


async def render_canned(ctx: Context, principal: Principal, thread_id: str, canned_id: str) -> str:
    async with ctx.db.sessions() as session:
        canned = await _canned(session, principal, canned_id)
    return await render_for(ctx, principal, thread_id, canned.body)


# ---------------------------------------------------------------- macros
async def list_macros(ctx: Context, org_id: str) -> list[Macro]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(select(Macro).where(Macro.org_id == org_id).order_by(Macro.name))
        )


async def _macro(session: AsyncSession, org_id: str, macro_id: str) -> Macro:
    macro = await session.get(Macro, macro_id)
    if macro is None or macro.org_id != org_id:
        raise NotFound("no such macro")
    return macro


async def do_save_macro(
    ctx: Context, principal: Principal, macro_id: str | None, fields: dict[str, Any]
) -> Macro:
    if fields.get("reply"):
        check_variables(fields["reply"], "reply")
    async with ctx.uow() as uow:
        for label_id in fields["label_ids"]:
            await _label(uow.session, principal.org_id, label_id)
        same = await uow.session.scalar(
            select(Macro.id).where(
                Macro.org_id == principal.org_id,
                func.lower(Macro.name) == fields["name"].lower(),
                Macro.id != (macro_id or ""),
            )
        )
        if same is not None:
            message = "a macro with this name exists"
            raise Conflict(message, errors=[{"loc": ["body", "name"], "msg": message}])
        if macro_id is None:
            macro = Macro(org_id=principal.org_id)
            uow.session.add(macro)
        else:
            macro = await _macro(uow.session, principal.org_id, macro_id)
        was = {} if macro_id is None else {"was_name": macro.name}
        for key, value in fields.items():
            setattr(macro, key, value)
        await uow.session.flush()
        action = "macro.create" if macro_id is None else "macro.update"
        audit(
            uow.session,
            principal.org_id,
            principal.agent_id,
            action,
            macro.id,
            name=macro.name,
            **was,
        )
    return macro


async def do_delete_macro(ctx: Context, principal: Principal, macro_id: str) -> None:
    async with ctx.uow() as uow:
        macro = await _macro(uow.session, principal.org_id, macro_id)
        await uow.session.delete(macro)
        audit(uow.session, principal.org_id, principal.agent_id, "macro.delete", macro_id)


async def do_run_macro(
    ctx: Context, principal: Principal, thread_id: str, macro_id: str, client_msg_id: str | None
) -> Thread:
    """Run a macro on a thread, in order: its reply (variables filled), its labels, then
    resolve or snooze. Each step is its own write, as the agent would do them by hand; a
    step refused (the thread is not theirs, no open contact) stops the rest."""
    async with ctx.db.sessions() as session:
        macro = await _macro(session, principal.org_id, macro_id)
    if macro.reply:
        text = await render_for(ctx, principal, thread_id, macro.reply)
        await do_agent_message(ctx, principal, thread_id, text, client_msg_id)
    if macro.label_ids:
        async with ctx.uow() as uow:
            thread = await lock_thread(uow, principal.org_id, thread_id)
            _may_write(principal, thread)
            for label_id in macro.label_ids:
                label = await uow.session.get(Label, label_id)
                if label is not None and label.org_id == principal.org_id:
                    await label_in(uow, principal, thread, label, add=True)
    if macro.then == "resolve":
        await ctx.routing.resolve(principal, thread_id, macro.resolve_reason or macro.name)
    elif macro.then == "snooze":
        until = utcnow() + timedelta(minutes=macro.snooze_minutes or 60)
        await do_snooze(ctx, principal, thread_id, until)
    async with ctx.db.sessions() as session:
        thread_now = await session.get(Thread, thread_id)
    assert thread_now is not None
    return thread_now


# ---------------------------------------------------------------- snooze and reopen
def agent_zone(agent: Agent | None) -> ZoneInfo:
    try:
        return ZoneInfo((agent.timezone if agent else None) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def snooze_until(
    now: datetime,
    zone: ZoneInfo,
    *,
    preset: str | None = None,
    until: datetime | None = None,
    local: str | None = None,
) -> datetime:
    """When a snooze ends: a preset (tomorrow and next week at 09:00 in the agent's zone),
    an instant, or a wall-clock time in the agent's zone. Pure: `now` is given."""
    if until is not None:
        return until
    if local is not None:
        return datetime.fromisoformat(local).replace(tzinfo=zone)
    here = now.astimezone(zone)
    nine = here.replace(hour=9, minute=0, second=0, microsecond=0)
    if preset == "1h":
        return now + timedelta(hours=1)
    if preset == "3h":
        return now + timedelta(hours=3)
    if preset == "tomorrow":
        return nine + timedelta(days=1)
    if preset == "next_week":
        return nine + timedelta(days=7 - here.weekday())  # next Monday
    raise Invalid(f"no snooze preset {preset}")


async def resolve_snooze(
    ctx: Context,
    principal: Principal,
    *,
    preset: str | None,
    until: datetime | None,
    local: str | None,
) -> datetime:
    async with ctx.db.sessions() as session:
        agent = await session.get(Agent, principal.agent_id)
    return snooze_until(utcnow(), agent_zone(agent), preset=preset, until=until, local=local)


async def do_snooze(ctx: Context, principal: Principal, thread_id: str, until: datetime) -> Thread:
    """Set the thread aside until `until`: a durable timer wakes it, or the customer's next
    message does first."""
    now = utcnow()
    if until <= now:
        raise Invalid("snooze until a time in the future", field="until")
    if until - now > MAX_SNOOZE:
        raise Invalid("snooze for at most 90 days", field="until")
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        _may_write(principal, thread)
        if thread.status == "resolved":
            raise Conflict("a resolved conversation is not snoozed: reopen it first")
        await cancel(uow.session, SNOOZE_DUE, thread.id)
        schedule(uow.session, thread.org_id, SNOOZE_DUE, thread.id, until)
        thread.snoozed_until = until
        agent_event(uow, thread, principal, "snoozed", data={"until": until.isoformat()})
        uow.after_commit(_wake_timers(ctx))
    return thread


def _wake_timers(ctx: Context) -> Callable[[], Awaitable[None]]:
    async def wake() -> None:
        ctx.timers.wake()

    return wake


async def _wake(uow: UnitOfWork, thread: Thread, by: str) -> None:
    """Back in the views; call inside the thread's lock."""
    thread.snoozed_until = None
    await cancel(uow.session, SNOOZE_DUE, thread.id)
    append_event(uow, thread, kind="woke", author_type="system", data={"by": by})


async def do_unsnooze(ctx: Context, principal: Principal, thread_id: str) -> Thread:
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        _may_write(principal, thread)
        if thread.snoozed_until is None:
            raise Conflict("this conversation is not snoozed")
        await _wake(uow, thread, "agent")
    return thread


async def on_snooze_due(uow: UnitOfWork, timer: Timer) -> None:
    """Timer handler: the snooze is over (a snooze moved or ended since leaves it be)."""
    thread = await uow.lock(Thread, timer.ref_id)
    if thread is None or thread.snoozed_until is None:
        return
    if thread.snoozed_until > timer.due_at:
        return
    await _wake(uow, thread, "timer")


async def _on_message(uow: UnitOfWork, event: MessageReceived) -> None:
    """A customer's message: the thread's channel for the filter; it wakes a snooze."""
    thread = await uow.session.get(Thread, event.thread_id)
    if thread is None:
        return
    if thread.channel != event.channel:  # unchanged: nothing for the flush to look at
        thread.channel = event.channel
    if thread.snoozed_until is not None:
        await _wake(uow, thread, "customer")


async def _on_queued(uow: UnitOfWork, event: ContactQueued) -> None:
    thread = await uow.session.get(Thread, event.thread_id)
    if thread is not None:
        thread.queue_id, thread.channel = event.queue_id, event.channel


async def _on_transferred(uow: UnitOfWork, event: ContactTransferred) -> None:
    thread = await uow.session.get(Thread, event.thread_id)
    if thread is not None and event.to_queue_id:
        thread.queue_id = event.to_queue_id


async def do_reopen(
    ctx: Context, principal: Principal, thread_id: str, queue_id: str | None
) -> Thread:
    """A resolved conversation back to work: a new contact in its last queue (or the one
    given), routed as any other (its last agent first, if free)."""
    async with ctx.uow() as uow:
        thread = await lock_thread(uow, principal.org_id, thread_id)
        if thread.status != "resolved":
            raise Conflict("only a resolved conversation is reopened")
        wanted = queue_id or thread.queue_id
        queue = await uow.session.get(Queue, wanted) if wanted else None
        if queue is None or queue.org_id != principal.org_id:
            raise Invalid("choose the queue to reopen it in", field="queue_id")
        agent_event(uow, thread, principal, "reopened", data={"queue_id": queue.id})
        await ctx.routing.enqueue(uow, thread, queue, thread.channel or "chat", reason="reopened")
    return thread


def register(ctx: Context, handlers: Handlers) -> None:
    """Keep the threads' inbox columns in step, and wake snoozes (timer, customer)."""
    handlers.in_transaction(MessageReceived, _on_message)
    handlers.in_transaction(ContactQueued, _on_queued)
    handlers.in_transaction(ContactTransferred, _on_transferred)
    ctx.timers.register(SNOOZE_DUE, on_snooze_due)
