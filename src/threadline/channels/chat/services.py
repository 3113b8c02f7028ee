"""Web chat: visitor sessions, messages from the widget, identification."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from threadline.agents.models import Agent
from threadline.channels.chat import widget_settings
from threadline.channels.chat.adapter import ChatAdapter, Visitor
from threadline.channels.chat.schemas import AgentBrief, IdentifyIn, SessionIn, SessionOut
from threadline.channels.contract import InboundMessage
from threadline.channels.inbound import Ingested, do_ingest
from threadline.channels.models import Endpoint
from threadline.context import Context, per_context
from threadline.customers.identities import normalise
from threadline.customers.models import Customer, Identity
from threadline.customers.services import add_identity, find_by_identity, resolve_identity
from threadline.db import across_orgs, enter_org, new_id, org_scope, utcnow
from threadline.errors import Conflict, Invalid, NotAllowed, NotAuthenticated, NotFound
from threadline.journey import services as journey
from threadline.journey.schemas import CustomerWaitOut
from threadline.routing import hours
from threadline.routing.callback_policy import Window
from threadline.routing.models import Contact, Queue
from threadline.threads.models import Thread
from threadline.threads.schemas import EventOut
from threadline.threads.services import current_thread, timeline
from threadline.verification.signed_identity import (
    IdentityRefused,
    SignedFields,
    canonical_message,
    signature_matches,
    signed_fields,
)
from threadline.web.customer_api import bearer
from threadline.web.i18n import catalogue, pick_language


@dataclass(frozen=True, slots=True)
class VisitorSession:
    endpoint: Endpoint
    customer_id: str
    visitor: Visitor


def adapter(ctx: Context) -> ChatAdapter:
    return ChatAdapter(
        ctx.settings.secret_key.get_secret_value(), ctx.settings.visitor_token_max_age_s
    )


async def get_widget(ctx: Context, key: str) -> Endpoint:
    """The widget a page embeds; the rest of the request works for its organisation."""
    with across_orgs():  # the widget's public key says whose it is
        async with ctx.db.sessions() as session:
            endpoint = await session.scalar(
                select(Endpoint).where(
                    Endpoint.channel == "chat", Endpoint.key == key, Endpoint.active.is_(True)
                )
            )
    if endpoint is None:
        raise NotFound(f"no chat widget {key!r}")
    enter_org(endpoint.org_id)
    return endpoint


async def visitor_session(ctx: Context, key: str, token: str) -> VisitorSession:
    """Who is behind a visitor token; raises NotAuthenticated when it is forged or stale."""
    return await _visitor_of(ctx, await get_widget(ctx, key), token)


async def visitor_from_header(ctx: Context, key: str, authorization: str | None) -> VisitorSession:
    """The visitor of an HTTP call ('Authorization: Bearer <visitor token>'); an unknown
    widget is not found whoever asks."""
    endpoint = await get_widget(ctx, key)
    return await _visitor_of(ctx, endpoint, bearer(authorization))


async def _visitor_of(ctx: Context, endpoint: Endpoint, token: str) -> VisitorSession:
    visitor = adapter(ctx).read_visitor_token(token)
    if visitor is None or visitor.endpoint_id != endpoint.id:
        raise NotAuthenticated("invalid visitor token")
    async with ctx.db.sessions() as session:
        customer = await find_by_identity(session, endpoint.org_id, "visitor", visitor.visitor_id)
        while customer is not None and customer.merged_into_id:
            customer = await session.get(Customer, customer.merged_into_id)
    if customer is None:
        raise NotAuthenticated("unknown visitor")
    return VisitorSession(endpoint, customer.id, visitor)


# Opening a session is a few reads (and, for a new visitor, a share of a write); a burst of
# arrivals (a campaign link, a page going viral) queues here, so many at a time, so the
# sockets already open keep their messages acknowledged and their pings answered instead of
# waiting behind the burst. New visitors' customers are written together (_NewVisitors):
# the gate bounds the reads in flight, not the writes, which are one transaction per group.
# 4, as measured when the gate was added: 16 let more visitors in on a saturated machine but
# more open sockets missed their pings (PostgreSQL), and was never compared on a quiet one.
SESSIONS_OPENING_AT_ONCE = 4
_opening_gate = per_context(lambda _ctx: asyncio.Semaphore(SESSIONS_OPENING_AT_ONCE))


async def do_open_session(
    ctx: Context, key: str, body: SessionIn, origin: str | None = None
) -> SessionOut:
    """Restore the visitor from their token, or remember a new one; return the history and
    their wait (place in line, callback offer or callback). A few at a time (the gate
    above)."""
    async with _opening_gate(ctx):
        return await _open_session(ctx, key, body, origin)


async def _open_session(ctx: Context, key: str, body: SessionIn, origin: str | None) -> SessionOut:
    endpoint, business_hours = await _widget_and_hours(ctx, key)
    settings = endpoint.settings or {}
    if origin is not None and not widget_settings.allows(settings, origin):
        # a browser always names the page's origin; a server calling without one is not a
        # page embedding the widget, and the identity hash is what guards identities
        raise NotAllowed("this site may not embed this chat widget")
    token = body.visitor_token
    visitor = adapter(ctx).read_visitor_token(token) if token else None
    language = widget_settings.widget_language(
        settings, pick_language(body.locale, settings.get("language", "en"))
    )
    # only a language the browser names is the customer's; else their first message may
    # tell (i18n/), and until then the widget speaks the endpoint's default
    told = pick_language(body.locale, "") or None
    is_open, opens_at = _opening(business_hours)
    if visitor is None or visitor.endpoint_id != endpoint.id:
        # a visitor id minted here: nobody holds it yet (no identity to look up), and it has
        # no thread, agent, history nor wait; its customer joins the next group write
        visitor = Visitor(visitor_id=str(uuid.uuid4()), endpoint_id=endpoint.id)
        new = Customer(id=new_id(), org_id=endpoint.org_id, language=told)
        journey.remember_zone(new, body.timezone)
        await _new_visitors(ctx).write(new, visitor.visitor_id)
        language = widget_settings.widget_language(settings, told or language)
        return SessionOut(
            visitor_token=adapter(ctx).visitor_token(visitor),
            customer_id=new.id,
            customer_name=None,
            thread_id=None,
            language=language,
            strings=_strings(settings, language),
            color=settings.get("color"),
            events=[],
            agent=None,
            read_seq=0,
            open=is_open,
            opens_at=opens_at,
            wait=None,
        )
    # a returning visitor is reads only (a page reload, a site's deploy: every visitor at
    # once); a write only when their customer is missing or their time zone is news
    customer, thread, agent = await _returning(ctx, endpoint.org_id, visitor.visitor_id)
    if customer is None or (body.timezone and not customer.timezone):
        async with ctx.uow() as uow:
            customer = await resolve_identity(
                uow.session, endpoint.org_id, "visitor", visitor.visitor_id, language=told
            )
            while customer.merged_into_id:
                customer = await uow.session.get_one(Customer, customer.merged_into_id)
            journey.remember_zone(customer, body.timezone)
            thread = await current_thread(uow.session, endpoint.org_id, customer.id)
            agent = (
                await uow.session.get(Agent, thread.assigned_agent_id)
                if (thread and thread.assigned_agent_id)
                else None
            )
    language = widget_settings.widget_language(settings, customer.language or language)
    events = (
        await timeline(ctx, endpoint.org_id, thread_id=thread.id, customer_view=True)
        if (thread)
        else []
    )
    return SessionOut(
        visitor_token=adapter(ctx).visitor_token(visitor),
        customer_id=customer.id,
        customer_name=customer.name,
        thread_id=thread.id if thread else None,
        language=language,
        strings=_strings(settings, language),
        color=settings.get("color"),
        events=[EventOut.model_validate(e) for e in events],
        agent=AgentBrief(id=agent.id, name=agent.name) if agent else None,
        read_seq=thread.agent_read_seq if thread else 0,
        open=is_open,
        opens_at=opens_at,
        wait=(await journey.customer_wait(ctx, endpoint.org_id, customer.id)).view,
    )


async def _returning(
    ctx: Context, org_id: str, visitor_id: str
) -> tuple[Customer | None, Thread | None, Agent | None]:
    """A returning visitor's customer (the one they were merged into), their current
    thread and its agent, in one read transaction; (None, None, None) when unknown."""
    async with ctx.db.sessions() as session:
        customer = await find_by_identity(session, org_id, "visitor", visitor_id)
        while customer is not None and customer.merged_into_id:
            customer = await session.get(Customer, customer.merged_into_id)
        if customer is None:
            return None, None, None
        thread = await current_thread(session, org_id, customer.id)
        agent = (
            await session.get(Agent, thread.assigned_agent_id)
            if (thread and thread.assigned_agent_id)
            else None
        )
    return customer, thread, agent


async def _widget_and_hours(ctx: Context, key: str) -> tuple[Endpoint, dict[str, Any] | None]:
    """`get_widget` and its queue's business hours (None: no queue), in one statement."""
    with across_orgs():  # the widget's public key says whose it is
        async with ctx.db.sessions() as session:
            row = (
                await session.execute(
                    select(Endpoint, Queue.business_hours)
                    .outerjoin(
                        Queue, (Queue.id == Endpoint.queue_id) & (Queue.org_id == Endpoint.org_id)
                    )
                    .where(
                        Endpoint.channel == "chat", Endpoint.key == key, Endpoint.active.is_(True)
                    )
                )
            ).first()
    if row is None:
        raise NotFound(f"no chat widget {key!r}")
    endpoint, business_hours = row
    enter_org(endpoint.org_id)
    return endpoint, (business_hours if endpoint.queue_id else None)


def _opening(business_hours: dict[str, Any] | None) -> tuple[bool, datetime | None]:
    """Whether the widget's queue is within business hours, else when it opens (a widget
    with no queue is always open)."""
    now = utcnow()
    if business_hours is None or hours.is_open(business_hours, now):
        return True, None
    return False, hours.next_opening(business_hours, now)


class _NewVisitors:
    """The customers of visitors minted just now, written in groups: the arrivals that come
    while one group is written join the next, one transaction (one INSERT of customers and
    one of identities however many) instead of a write transaction each, which a burst of
    arrivals would queue behind every other writer (on SQLite, one at a time). Each
    arrival's session is answered once its customer is committed."""

    MAX_GROUP = 200

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._pending: list[tuple[Customer, str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, customer: Customer, visitor_id: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((customer, visitor_id, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="chat-new-visitors")
        # shielded: a visitor who gives up does not cancel the others' write
        await asyncio.shield(done)

    async def _run(self) -> None:
        while self._pending:
            group, self._pending = (
                self._pending[: self.MAX_GROUP],
                self._pending[self.MAX_GROUP :],
            )
            by_org: dict[str, list[tuple[Customer, str, asyncio.Future[None]]]] = {}
            for arrival in group:
                by_org.setdefault(arrival[0].org_id, []).append(arrival)
            for org_id, arrivals in by_org.items():
                try:
                    with org_scope(org_id):
                        await self._insert(org_id, arrivals)
                except Exception as exc:  # each waiting session fails with it (a 5xx)
                    for _c, _v, done in arrivals:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _c, _v, done in arrivals:
                        if not done.done():
                            done.set_result(None)

    async def _insert(
        self, org_id: str, arrivals: list[tuple[Customer, str, asyncio.Future[None]]]
    ) -> None:
        async with self._ctx.uow() as uow:
            uow.session.add_all([customer for customer, _v, _d in arrivals])
            uow.session.add_all(
                [
                    Identity(
                        id=new_id(),
                        org_id=org_id,
                        customer_id=customer.id,
                        kind="visitor",
                        value=normalise("visitor", visitor_id),
                        verified=False,
                    )
                    for customer, visitor_id, _d in arrivals
                ]
            )


_new_visitors = per_context(_NewVisitors)


def _strings(settings: dict[str, Any], language: str) -> dict[str, str]:
    """The widget's texts in `language`, with the greeting its admin wrote for it."""
    greeting = (settings.get("greeting") or {}).get(language)
    strings = catalogue(language)
    return {**strings, "greeting": greeting} if greeting else strings


async def _wait_view(ctx: Context, org_id: str, customer_id: str) -> CustomerWaitOut | None:
    return (await journey.customer_wait(ctx, org_id, customer_id)).view


async def do_visitor_message(
    ctx: Context,
    session: VisitorSession,
    text: str,
    client_msg_id: str | None,
    language: str | None = None,
) -> Ingested:
    text = text.strip()
    if not text or len(text) > 10_000:
        raise Invalid("a message needs 1 to 10,000 characters")
    message = InboundMessage(
        channel="chat",
        identity_kind="visitor",
        identity_value=session.visitor.visitor_id,
        body=text,
        client_msg_id=client_msg_id,
        language=language,
    )
    return await do_ingest(ctx, session.endpoint, message, customer_id=session.customer_id)


async def do_identify(ctx: Context, session: VisitorSession, data: IdentifyIn) -> str:
    """Attach what the host page knows of the visitor; returns the (possibly merged)
    customer id. With a hash, it must be the site's signature of exactly the fields sent
    (docs/widget.md): they are then vouched for, and a vouched email or phone finds the
    customer it belongs to. Without one, every field is the visitor's own claim: recorded
    on their customer only, never linking to another, never replacing a name."""
    fields = _identify_fields(data)
    signed = bool(data.hash)
    if signed and not (fields.email or fields.phone):
        raise Invalid("a signed identity needs an email or a phone")
    if signed and not signature_matches(session.endpoint.secret, fields, data.hash):
        raise NotAuthenticated(
            "the hash is not the site's signature of these fields (see docs/widget.md)"
        )
    async with ctx.uow() as uow:
        customer = await uow.lock_existing(Customer, session.customer_id)
        name = (data.name or "").strip()
        if name and (signed or not customer.name):
            customer.name = name  # the visitor's own record; a merge keeps the known name
        for kind in ("email", "phone"):
            if value := getattr(fields, kind):
                customer = await add_identity(uow.session, customer, kind, value, verified=signed)
        return customer.id


def _identify_fields(data: IdentifyIn) -> SignedFields:
    try:
        fields = signed_fields(email=data.email, phone=data.phone, name=data.name)
        canonical_message(fields)  # refuses what cannot be signed (a line break)
    except IdentityRefused as exc:
        raise Invalid(str(exc)) from None
    return fields


# ---------------------------------------------------------------- the wait and callbacks
async def visitor_wait(ctx: Context, session: VisitorSession) -> CustomerWaitOut:
    """The visitor's place in line, its wait as a range, the callback offer or callback."""
    state = await journey.customer_wait(ctx, session.endpoint.org_id, session.customer_id)
    return state.view or CustomerWaitOut()


async def _waiting_contact(ctx: Context, session: VisitorSession) -> Contact | None:
    """The visitor's contact that waits for an agent, if any."""
    return await journey.waiting_contact(ctx, session.endpoint.org_id, session.customer_id)


async def do_visitor_keep_place(
    ctx: Context, session: VisitorSession, phone: str | None
) -> CustomerWaitOut:
    """Call me back, keep my place: the visitor's waiting contact becomes a callback."""
    contact = await _waiting_contact(ctx, session)
    if contact is None:
        raise Conflict("you are not waiting for an agent")
    await journey.do_keep_place(ctx, session.endpoint.org_id, contact.id, phone=phone)
    return await visitor_wait(ctx, session)


async def visitor_windows(ctx: Context, session: VisitorSession) -> list[tuple[Window, int]]:
    """Windows the visitor may book in the queue they wait in (else the widget's)."""
    contact = await _waiting_contact(ctx, session)
    queue_id = contact.queue_id if contact else session.endpoint.queue_id
    if queue_id is None:
        raise Conflict("this chat has no queue to book a callback in")
    return await journey.windows(ctx, session.endpoint.org_id, queue_id)


async def do_visitor_book(
    ctx: Context, session: VisitorSession, window_start: datetime, phone: str | None
) -> CustomerWaitOut:
    """Book a window instead of waiting: the waiting contact leaves the queue and what the
    visitor said travels with the callback."""
    contact = await _waiting_contact(ctx, session)
    if contact is not None and contact.context.get("callback_id"):
        raise Conflict("you already have a callback that keeps your place")
    if contact is not None:
        request = journey.request_of(contact)
    elif session.endpoint.queue_id is not None:
        request = journey.Request(session.endpoint.queue_id)
    else:
        raise Conflict("this chat has no queue to book a callback in")
    await journey.do_book_instead(
        ctx,
        session.endpoint.org_id,
        session.customer_id,
        request,
        window_start=window_start,
        phone=phone,
        replaces=contact.id if contact else None,
    )
    return await visitor_wait(ctx, session)
