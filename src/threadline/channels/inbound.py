"""Inbound messages from any channel land in the customer's one thread, stored once.

Messages arriving together are written together (group commit): one organisation's inbound
messages queue, and a writer task stores what has queued (GATHER_S after the first) in one
transaction, so a busy node pays a transaction's fixed costs (its BEGIN and COMMIT, the
session, the event log's append, the durable consumers' wake-up) once per batch, not once
per message, and an ongoing chat's message costs no statement of its own (`_ingest_many`).
A lone message is written alone, as before. If anything in a batch is refused (a
provider's retry of a stored message, an unknown customer), the batch is rolled back and
each of its messages is stored on its own, so one message's error is never another's.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, inspect, or_, select
from sqlalchemy.exc import IntegrityError

from threadline.boundary import replace_nul
from threadline.channels.contract import InboundMessage
from threadline.channels.language import learn_language
from threadline.channels.models import Endpoint, OutboxMessage
from threadline.context import Context, per_context
from threadline.customers.models import Customer
from threadline.customers.services import owner_of_address, resolve_identity
from threadline.db import UnitOfWork, new_id, org_scope
from threadline.errors import Conflict
from threadline.events.domain import MessageReceived
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread, ThreadEvent
from threadline.threads.services import (
    append_event,
    append_event_now,
    append_events_now,
    current_or_new_thread,
    current_thread,
    find_by_client_id,
    new_thread,
    open_thread,
)

OPEN_STATUSES = ("queued", "offered", "assigned")


def bot_answers(endpoint: Endpoint) -> bool:
    """Whether a bot answers this endpoint first (`settings.bot.flow`, checked when saved)."""
    bot = (endpoint.settings or {}).get("bot")
    return isinstance(bot, dict) and bool(bot.get("flow"))


@dataclass(frozen=True, slots=True)
class Ingested:
    event: ThreadEvent
    thread: Thread
    created: bool  # False when this was a retry of a message already stored
    opened: str | None = None  # the contact this message opened, if it opened one


BATCH_LIMIT = 32  # messages written in one transaction at most: a batch's latency bound
# a writer waits this long before taking its batch: at a moderate rate, messages a few
# milliseconds apart then share a transaction instead of each paying for one, which keeps
# the server's CPU (and so the latency's tail) down well before it is saturated
GATHER_S = 0.002
WRITERS_AT_ONCE = 4  # an organisation's batches in their transactions at once (PostgreSQL)


async def do_ingest(
    ctx: Context, endpoint: Endpoint, message: InboundMessage, customer_id: str | None = None
) -> Ingested:
    """Store one inbound message exactly once; open a contact in the endpoint's queue when the
    thread has none. A retry with the same client or provider id returns the stored event.

    The message joins its organisation's next batch (the module's docstring); it returns
    once that batch is committed and its after-commit work done, as a write of its own
    would."""
    # Providers and mail servers are not refused over a NUL (they would retry the whole
    # batch): it is kept as U+FFFD, which both databases store.
    return await _group_commit(ctx).submit(endpoint, replace_nul(message), customer_id)


async def _ingest_alone(
    ctx: Context,
    endpoint: Endpoint,
    message: InboundMessage,
    customer_id: str | None,
    released: Callable[[], None] | None = None,
) -> Ingested:
    """One message in a transaction of its own (`released`: called once its write is over,
    see UnitOfWork.when_released). Optimistic first: the unique indexes on (thread, client id)
    and (org, channel, provider id) refuse a duplicate, and only then is the stored one
    looked up."""
    uow = ctx.uow()
    if released is not None:
        uow.when_released(released)
    try:
        async with uow:
            return await _ingest(ctx, uow, endpoint, message, customer_id)
    except IntegrityError:  # a retry: looked up, nothing written (another write may begin)
        async with ctx.uow() as uow:
            return await _ingest(ctx, uow, endpoint, message, customer_id, look_for_duplicate=True)


@dataclass(slots=True)
class _Pending:
    endpoint: Endpoint
    message: InboundMessage
    customer_id: str | None
    done: asyncio.Future[Ingested]


@dataclass(eq=False)
class _GroupCommit:
    """Each organisation's queued inbound messages, and its writers: tasks that each take
    what has queued (up to BATCH_LIMIT) and store it in one transaction. A writer hands over
    as soon as its transaction is over, so the next batch is written while the last one's
    after-commit work (publishing, routing) runs. SQLite has one writer at a time anyway;
    PostgreSQL takes a few at once, as its connections wait on the network."""

    ctx: Context
    queued: dict[str, list[_Pending]] = field(default_factory=dict)
    writing: dict[str, int] = field(default_factory=dict)  # writers in a transaction
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def writers(self) -> int:
        return 1 if self.ctx.db.dialect == "sqlite" else WRITERS_AT_ONCE

    async def submit(
        self, endpoint: Endpoint, message: InboundMessage, customer_id: str | None
    ) -> Ingested:
        org_id = endpoint.org_id
        done: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        # its error is the caller's; one who gave up does not leave it "never retrieved"
        done.add_done_callback(_retrieved)
        self.queued.setdefault(org_id, []).append(_Pending(endpoint, message, customer_id, done))
        self._start(org_id)
        # shielded: a caller that gives up (its socket closed) leaves the batch as it is;
        # what it sent is stored all the same, and a retry finds it stored
        return await asyncio.shield(done)

    def _start(self, org_id: str) -> None:
        """A new writer for the organisation, if messages wait and a writer may begin."""
        if self.queued.get(org_id) and self.writing.get(org_id, 0) < self.writers:
            self.writing[org_id] = self.writing.get(org_id, 0) + 1
            # in a context of its own: a writer serves many callers, and inherits none of
            # theirs (their organisation scope, a unit of work they may be in)
            task = asyncio.create_task(self._write(org_id), context=contextvars.Context())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _write(self, org_id: str) -> None:
        # the batch is taken a moment later, so that what arrives meanwhile joins it
        await asyncio.sleep(GATHER_S)
        queued = self.queued.get(org_id, [])
        batch = queued[:BATCH_LIMIT]
        del queued[:BATCH_LIMIT]
        if not queued:
            self.queued.pop(org_id, None)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.writing[org_id] -= 1
                if not self.writing[org_id]:
                    del self.writing[org_id]
                self._start(org_id)

        try:
            with org_scope(org_id):
                await self._store(batch, release)
        except BaseException as exc:  # cancelled (shutting down): no message left hanging
            for pending in batch:
                _settle(pending, None, exc)
            raise
        finally:
            release()

    async def _store(self, batch: list[_Pending], release: Callable[[], None]) -> None:
        ctx = self.ctx
        if len(batch) > 1:
            uow = ctx.uow()
            uow.when_released(release)
            try:
                async with uow:
                    stored = await _ingest_many(ctx, uow, batch)
            except Exception as exc:
                if uow.committed:  # the write happened; what failed came after it
                    for pending in batch:
                        _settle(pending, None, exc)
                    return
            else:
                for pending, ingested in zip(batch, stored, strict=True):
                    _settle(pending, ingested, None)
                return
        # alone, or each on its own after the batch was refused (then in the order they came:
        # the next writer begins when all are stored)
        alone = release if len(batch) == 1 else None
        for pending in batch:
            try:
                ingested = await _ingest_alone(
                    ctx, pending.endpoint, pending.message, pending.customer_id, alone
                )
            except Exception as exc:
                _settle(pending, None, exc)
            else:
                _settle(pending, ingested, None)


async def _ingest_many(ctx: Context, uow: UnitOfWork, batch: list[_Pending]) -> list[Ingested]:
    """A batch's messages, inside its transaction. The usual message (a known customer's, in
    a thread with its contact open: an ongoing chat's) is written with the others like it:
    their customers and threads read in one statement (two on PostgreSQL), their entries and
    the threads' counters in one executemany each. The rest go one by one, as alone; so do
    all the messages of a customer who sent several, in the order they came."""
    org_id = batch[0].endpoint.org_id
    senders: dict[str, int] = {}
    for pending in batch:
        if pending.customer_id:
            senders[pending.customer_id] = senders.get(pending.customer_id, 0) + 1
    plain = {
        p.customer_id: (i, p)
        for i, p in enumerate(batch)
        if p.customer_id and senders[p.customer_id] == 1 and p.message.kind == "message"
    }
    known = await _customers_with_threads(uow, org_id, list(plain)) if len(plain) > 1 else {}
    done: dict[int, Ingested] = {}
    entries: list[tuple[Thread, str | None, dict[str, Any]]] = []
    received: list[tuple[int, _Pending, Customer, Thread, dict[str, Any] | None]] = []
    for customer_id, (i, pending) in plain.items():
        found = known.get(customer_id)
        if found is None or found[2] is None:
            continue  # no thread, or none with its contact open: the general path
        customer, thread, contact_id = found
        message = pending.message
        if message.language is None:
            await learn_language(uow.session, pending.endpoint, customer, message.body)
        if thread.language is None:
            thread.language = customer.language
        given = _entry_data(message)
        status = "assigned" if thread.status == "waiting_customer" else None
        entries.append((thread, status, _entry_fields(message, customer, contact_id, given)))
        received.append((i, pending, customer, thread, given))
    if entries:
        written = await append_events_now(uow, entries)
        for (i, pending, customer, thread, given), entry in zip(received, written, strict=True):
            uow.emit(_received(thread, pending.message, customer, entry, given, pending.endpoint))
            done[i] = Ingested(entry, thread, True)
    for i, pending in enumerate(batch):
        if i not in done:
            done[i] = await _ingest(
                ctx, uow, pending.endpoint, pending.message, pending.customer_id
            )
    return [done[i] for i in range(len(batch))]


def _retrieved(done: asyncio.Future[Ingested]) -> None:
    if not done.cancelled():
        done.exception()


def _settle(pending: _Pending, ingested: Ingested | None, exc: BaseException | None) -> None:
    if pending.done.done():
        return
    if exc is not None:
        pending.done.set_exception(exc)
    else:
        pending.done.set_result(ingested)  # type: ignore[arg-type]


_group_commit = per_context(_GroupCommit)


async def _ingest(
    ctx: Context,
    uow: UnitOfWork,
    endpoint: Endpoint,
    message: InboundMessage,
    customer_id: str | None,
    *,
    look_for_duplicate: bool = False,
) -> Ingested:
    """One message, inside the transaction `uow` (its own, or its batch's)."""
    session = uow.session
    known = (
        await _customer_with_thread(uow, endpoint, customer_id)
        if customer_id and message.kind == "message" and not look_for_duplicate
        else None
    )
    if known is not None:  # the usual case of a chat: one statement, not three
        customer, thread, contact_id = known
    else:
        customer = await _customer(uow, endpoint, message, customer_id)
        thread, contact_id = None, None
    if look_for_duplicate and (stored := await _stored(uow, endpoint, message, customer.id)):
        return stored
    if message.kind != "message":
        return await _relation(ctx, uow, endpoint, message, customer)
    if message.language is None:  # nothing told us: the message itself may (i18n/)
        await learn_language(session, endpoint, customer, message.body)
    created = thread is None
    if thread is None:
        language = customer.language or message.language
        if known is not None:  # read with the customer: they have none yet
            thread = new_thread(
                session, endpoint.org_id, customer.id, language, channel=message.channel
            )
        else:
            thread, created = await current_or_new_thread(
                session,
                endpoint.org_id,
                customer.id,
                language,
                for_update=ctx.db.dialect != "sqlite",
                channel=message.channel,
            )
    if thread.language is None:  # opened before the customer's language was known
        thread.language = customer.language
    if created:
        contact_id = None  # a thread this message opens has no contact yet
    elif contact_id is _UNREAD or known is None:
        contact_id = await session.scalar(_OPEN_CONTACT, {"thread": thread.id})
    given = _entry_data(message)
    if contact_id is not None:
        # the usual message (a chat's above all): a thread with its contact open, whose
        # entry nothing below changes (no contact to open, no survey, no bot to hand
        # to): the entry and the thread's counter are written at once, two statements
        event = await _customer_entry_now(
            uow, thread, message, customer, contact_id, given, endpoint
        )
        return Ingested(event, thread, True)
    event = _customer_entry(uow, thread, message, customer, contact_id, given, endpoint=endpoint)
    if thread.status == "waiting_customer":
        thread.status = "assigned"
    opened = await _enqueue_new_demand(ctx, uow, endpoint, message, thread, event, contact_id)
    if created and inspect(thread).pending:  # written now, with its final values, so
        await session.flush()  # the handlers (inbox/) find it stored, as any thread
    return Ingested(event, thread, True, opened=opened)


async def _enqueue_new_demand(
    ctx: Context,
    uow: UnitOfWork,
    endpoint: Endpoint,
    message: InboundMessage,
    thread: Thread,
    event: ThreadEvent,
    contact_id: str | None,
) -> str | None:
    """The contact this message opens in the endpoint's queue, if it opens one: not when
    the thread has one open, answers a survey, or a bot answers first."""
    if contact_id is not None:
        return None
    if ctx.surveys and await ctx.surveys.take_reply(uow, thread, event):
        return None  # an answer to the survey, not new demand
    if bot_answers(endpoint):
        # the bot (selfservice/bot, on MessageReceived) talks first; it hands off itself
        thread.status = "bot"
        return None
    if not endpoint.queue_id:
        return None
    # nothing is written before enqueue: the entry once it names its contact, a new thread
    # once it has its final values (enqueue writes it, before the contact)
    with uow.session.no_autoflush:
        queue = await uow.session.get(Queue, endpoint.queue_id)
    if queue is None:
        return None
    # the contact's id is known before it is stored: the entry is written naming it
    event.contact_id = new_id()
    contact = await ctx.routing.enqueue(
        uow, thread, queue, message.channel, contact_id=event.contact_id
    )
    return contact.id


async def _relation(
    ctx: Context, uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer: Customer
) -> Ingested:
    """A reaction to, or an edit of, an earlier message: an entry of the thread that holds
    that message, naming it (`data.relates_to`: its event id, seq and provider id), so the
    timeline keeps every version while showing the latest. It opens no contact: a thumbs-up
    or a corrected typo is not new demand. A target nobody stored (older than Threadline,
    or of another customer) is still recorded, without the event it would point to."""
    target = await _related_event(uow, endpoint, message, customer.id)
    if target is not None:
        thread = await uow.lock_existing(Thread, target.thread_id)
    else:
        thread = await open_thread(
            uow.session,
            endpoint.org_id,
            customer.id,
            customer.language or message.language,
            for_update=ctx.db.dialect != "sqlite",
        )
    relates_to: dict[str, Any] = {"provider_msg_id": message.relates_to}
    if target is not None:
        relates_to |= {"event_id": target.id, "seq": target.seq}
    data: dict[str, Any] = {**message.data, "relates_to": relates_to}
    if message.kind == "reaction":
        data["emoji"] = message.body  # "" takes the customer's reaction back
    elif message.attachments:
        data["attachments"] = list(message.attachments)
    contact_id = target.contact_id if target is not None else None
    event = _customer_entry(uow, thread, message, customer, contact_id, data)
    return Ingested(event, thread, True)


async def _customer_entry_now(
    uow: UnitOfWork,
    thread: Thread,
    message: InboundMessage,
    customer: Customer,
    contact_id: str,
    data: dict[str, Any] | None,
    endpoint: Endpoint,
) -> ThreadEvent:
    """`_customer_entry` for a message in a thread with an open contact, written at once
    (threads.services.append_event_now); the thread waiting for the customer is theirs
    again (assigned), in the same statement."""
    entry = await append_event_now(
        uow,
        thread,
        status="assigned" if thread.status == "waiting_customer" else None,
        **_entry_fields(message, customer, contact_id, data),
    )
    uow.emit(_received(thread, message, customer, entry, data, endpoint))
    return entry


def _entry_data(message: InboundMessage) -> dict[str, Any] | None:
    """The entry's data: what the message carries besides its text (None: nothing)."""
    if not (message.attachments or message.data):
        return None
    return {"attachments": list(message.attachments), **message.data}


def _entry_fields(
    message: InboundMessage, customer: Customer, contact_id: str | None, data: dict[str, Any] | None
) -> dict[str, Any]:
    """The timeline entry's fields for what the customer sent (either way it is written)."""
    return {
        "kind": message.kind,
        "channel": message.channel,
        "author_type": "customer",
        "author_id": customer.id,
        "author_name": customer.name or message.sender_name,
        "body": message.body,
        "client_msg_id": message.client_msg_id,
        "provider_msg_id": message.provider_msg_id,
        "contact_id": contact_id,
        "data": data,
    }


def _received(
    thread: Thread,
    message: InboundMessage,
    customer: Customer,
    entry: ThreadEvent,
    data: dict[str, Any] | None,
    endpoint: Endpoint | None,
) -> MessageReceived:
    return MessageReceived(
        org_id=thread.org_id,
        thread_id=thread.id,
        customer_id=customer.id,
        channel=message.channel,
        seq=entry.seq,
        kind=message.kind,
        body=message.body,
        attachments=len(message.attachments),
        language=thread.language,
        endpoint_id=endpoint.id if endpoint is not None else None,
        sender_verified=_sender_verified(data),
        bot=thread.status == "bot" or (endpoint is not None and bot_answers(endpoint)),
    )


def _customer_entry(
    uow: UnitOfWork,
    thread: Thread,
    message: InboundMessage,
    customer: Customer,
    contact_id: str | None,
    data: dict[str, Any] | None,
    *,
    endpoint: Endpoint | None = None,
) -> ThreadEvent:
    """The timeline entry of what the customer sent (a message, a reaction, an edit), and
    the fact that it was received."""
    entry = append_event(uow, thread, **_entry_fields(message, customer, contact_id, data))
    uow.emit(_received(thread, message, customer, entry, data, endpoint))
    return entry


def _sender_verified(data: dict[str, Any] | None) -> bool | None:
    """What the channel established about the sender (email: channels/email/authentication)."""
    checked = (data or {}).get("sender_auth")
    return bool(checked.get("verified")) if isinstance(checked, dict) else None


async def _related_event(
    uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer_id: str
) -> ThreadEvent | None:
    """The event a reaction or edit is about: the customer's own message (its provider id
    is stored on the event) or a reply sent to them (the id is on its outbox row); only in
    this customer's threads."""
    session = uow.session
    target: ThreadEvent | None = await session.scalar(
        select(ThreadEvent).where(
            ThreadEvent.org_id == endpoint.org_id,
            ThreadEvent.channel == message.channel,
            ThreadEvent.provider_msg_id == message.relates_to,
        )
    )
    if target is None:
        event_id = await session.scalar(
            select(OutboxMessage.event_id).where(
                OutboxMessage.org_id == endpoint.org_id,
                OutboxMessage.channel == message.channel,
                OutboxMessage.provider_msg_id == message.relates_to,
            )
        )
        target = await session.get(ThreadEvent, event_id) if event_id is not None else None
    if target is None:
        return None
    owner = await session.scalar(select(Thread.customer_id).where(Thread.id == target.thread_id))
    return target if owner == customer_id else None


_UNREAD: Any = object()  # the open contact was not read with the customer and thread
# an open contact: one bound value per status, not an IN list (whose values are rendered
# into the SQL anew at every execution)
_IS_OPEN = or_(*(Contact.status == status for status in OPEN_STATUSES))


def _with_thread_queries(*, many: bool) -> tuple[Any, Any]:
    """The two statements of `_customer_with_thread` (`many`: of `_customers_with_threads`,
    for a list of customers), built once (bound values only): a statement built per message
    cost more than its round trip."""
    # the customer's newest thread: of the one customer bound, or of each customer read
    whose_thread = Customer.id if many else bindparam("customer")
    newest = (
        select(Thread.id)
        .where(Thread.org_id == bindparam("org"), Thread.customer_id == whose_thread)
        .order_by(Thread.created_at.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )
    whose = (
        Customer.id.in_(bindparam("customers", expanding=True))
        if many
        else Customer.id == bindparam("customer")
    )
    mine = (whose, Customer.org_id == bindparam("org"))
    # PostgreSQL: the contact is read after the locks are held (a statement that waited for
    # a lock would otherwise read it from before the wait); a batch locks its customers in
    # the order of their ids, as every batch does, so two batches never wait on each other
    # in a cycle
    locked = select(Customer, Thread).with_for_update().join(Thread, Thread.id == newest)
    if many:
        locked = locked.order_by(Customer.id)
    open_contact = (
        select(Contact.id)
        .where(Contact.thread_id == Thread.id, _IS_OPEN)
        .limit(1)
        .correlate(Thread)
        .scalar_subquery()
    )
    # SQLite: a customer with no thread yet comes too (the thread's columns NULL), so their
    # first message reads them once and need not look for a thread again
    with_contact = select(Customer, Thread, open_contact).outerjoin(Thread, Thread.id == newest)
    return locked.where(*mine), with_contact.where(*mine)


_WITH_THREAD_LOCKED, _WITH_THREAD_AND_CONTACT = _with_thread_queries(many=False)
_WITH_THREADS_LOCKED, _WITH_THREADS_AND_CONTACTS = _with_thread_queries(many=True)
_OPEN_CONTACT = select(Contact.id).where(Contact.thread_id == bindparam("thread"), _IS_OPEN)
_OPEN_CONTACTS = select(Contact.thread_id, Contact.id).where(
    Contact.thread_id.in_(bindparam("threads", expanding=True)), _IS_OPEN
)


async def _customer_with_thread(
    uow: UnitOfWork, endpoint: Endpoint, customer_id: str
) -> tuple[Customer, Thread, str | None] | None:
    """A known customer and their current thread in one statement, both row-locked on
    PostgreSQL (customer first, then thread: the order `_customer` + `open_thread` take);
    on SQLite, whose BEGIN IMMEDIATE already excludes every other writer, the thread's open
    contact comes in the same statement too (each statement is a hop to aiosqlite's thread),
    and a customer with no thread yet comes with None for it. None when the customer is not
    this endpoint's, or (PostgreSQL) has no thread yet: the general path decides (there the
    thread is looked for again once the customer's lock is held)."""
    query = _WITH_THREAD_LOCKED if uow.row_locks else _WITH_THREAD_AND_CONTACT
    row: Any = (
        await uow.session.execute(query, {"org": endpoint.org_id, "customer": customer_id})
    ).first()
    if row is None:
        return None
    return row[0], row[1], (row[2] if len(row) > 2 else _UNREAD)


async def _customers_with_threads(
    uow: UnitOfWork, org_id: str, customer_ids: list[str]
) -> dict[str, tuple[Customer, Thread, str | None]]:
    """`_customer_with_thread` for a batch's known customers, in two statements at most:
    the customers with their current thread (locked on PostgreSQL), then the threads' open
    contacts (SQLite: in the same statement). Customers with no thread, or of another
    organisation, are left out: the general path decides for them."""
    params = {"org": org_id, "customers": customer_ids}
    found: dict[str, tuple[Customer, Thread, str | None]] = {}
    if uow.row_locks:
        rows: Any = (await uow.session.execute(_WITH_THREADS_LOCKED, params)).all()
        if not rows:
            return found
        threads = {"threads": [thread.id for _, thread in rows]}
        contacts = dict((await uow.session.execute(_OPEN_CONTACTS, threads)).all())
        for customer, thread in rows:
            found[customer.id] = (customer, thread, contacts.get(thread.id))
        return found
    for customer, thread, contact_id in await uow.session.execute(
        _WITH_THREADS_AND_CONTACTS, params
    ):
        if thread is not None:
            found[customer.id] = (customer, thread, contact_id)
    return found


async def _customer(
    uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer_id: str | None
) -> Customer:
    """The sender, row-locked: one customer's messages are stored one at a time, so a new
    customer never gets two threads."""
    if not customer_id:
        known = await owner_of_address(  # a self-service customer's mere claim is not theirs
            uow.session,
            endpoint.org_id,
            message.identity_kind,
            message.identity_value,
            for_update=uow.row_locks,
        )
        if known is not None:
            if not known.name and message.sender_name:
                # the name the provider gives names a customer nobody named yet; a name an
                # agent or a verified identity set is never replaced
                known.name = message.sender_name[:200]
            return known
        # First sight: a new row nobody else can hold (a concurrent twin of this message
        # loses on the identity's unique index and is retried by do_ingest).
        return await resolve_identity(
            uow.session,
            endpoint.org_id,
            message.identity_kind,
            message.identity_value,
            name=message.sender_name[:200] if message.sender_name else None,
            language=message.language,
        )
    customer: Customer | None = await uow.lock(Customer, customer_id)
    if customer is None or customer.org_id != endpoint.org_id:
        raise Conflict("unknown customer for this endpoint")
    return customer


async def _stored(
    uow: UnitOfWork, endpoint: Endpoint, message: InboundMessage, customer_id: str
) -> Ingested | None:
    """The message as already stored by an earlier delivery of the same message, if any."""
    stored: ThreadEvent | None = None
    if message.provider_msg_id:
        stored = await uow.session.scalar(
            select(ThreadEvent).where(
                ThreadEvent.org_id == endpoint.org_id,
                ThreadEvent.channel == message.channel,
                ThreadEvent.provider_msg_id == message.provider_msg_id,
            )
        )
    if stored is None and message.client_msg_id:
        thread = await current_thread(uow.session, endpoint.org_id, customer_id)
        stored = (
            await find_by_client_id(uow.session, thread.id, message.client_msg_id)
            if (thread)
            else None
        )
    if stored is None:
        return None
    return Ingested(stored, await uow.session.get_one(Thread, stored.thread_id), False)
