"""The app channel: sessions for a company's app (anonymous, or vouched for by its backend
with the assurance the customer reached), contacts started with what the customer entered,
their live wait, callbacks, and "call now" (a number and a one-time continuation code).

Every read and write checks that the contact or callback is the session customer's own:
anything else is simply not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.callbacks.models import Callback
from threadline.channels.app.adapter import AppAdapter, AppToken
from threadline.channels.app.schemas import (
    AppIdentityIn,
    AppSessionIn,
    AppSessionOut,
    AssuranceOut,
    CallNowIn,
    OptionOut,
    QuestionOut,
    ReasonOut,
    RouteIn,
    StartContactIn,
)
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.customers.services import (
    add_identity,
    merge_customers,
    resolve_identity,
    resolve_vouched,
)
from threadline.db import UnitOfWork, across_orgs, enter_org, utcnow
from threadline.errors import Conflict, Invalid, NotAuthenticated, NotFound
from threadline.journey import call_now as journey_call_now
from threadline.journey import services as journey
from threadline.journey.schemas import CallbackBrief, CustomerWaitOut
from threadline.journey.services import WAITING, Request, customer_thread, summary
from threadline.routing.callback_policy import Window
from threadline.routing.models import Contact, Queue
from threadline.threads.services import append_event
from threadline.verification import assurance as assurances
from threadline.verification.assurance import Assurance, InvalidAssurance
from threadline.verification.continuation import IssuedCode
from threadline.verification.signed_identity import (
    IdentityRefused,
    canonical_message,
    signature_matches,
    signed_fields,
)
from threadline.web.customer_api import bearer
from threadline.web.i18n import pick_language, translate


@dataclass(frozen=True, slots=True)
class AppSession:
    """Who an app session token acts for; `assurance` as it counts now (None: anonymous)."""

    endpoint: Endpoint
    customer_id: str
    assurance: Assurance | None

    @property
    def org_id(self) -> str:
        return self.endpoint.org_id


@dataclass(frozen=True, slots=True)
class Claim:
    """Who the identity in a session request says the customer is."""

    name: str | None
    email: str | None
    phone: str | None
    assurance: Assurance | None  # set only when the backend's signature matched

    @property
    def signed(self) -> bool:
        return self.assurance is not None


@dataclass(frozen=True, slots=True)
class Route:
    queue: Queue
    min_tier: int
    reason: str | None


def adapter(ctx: Context) -> AppAdapter:
    return AppAdapter(
        ctx.settings.secret_key.get_secret_value(), ctx.settings.visitor_token_max_age_s
    )


async def get_app(ctx: Context, key: str) -> Endpoint:
    """The app endpoint called; the rest of the request works for its organisation."""
    with across_orgs():  # the app's public key says whose it is
        async with ctx.db.sessions() as session:
            endpoint = await session.scalar(
                select(Endpoint).where(
                    Endpoint.channel == "app", Endpoint.key == key, Endpoint.active.is_(True)
                )
            )
    if endpoint is None:
        raise NotFound(f"no app {key[:64]!r}")
    enter_org(endpoint.org_id)
    return endpoint


async def _current(session: AsyncSession, customer_id: str) -> Customer | None:
    """The customer, or the one they were merged into."""
    customer = await session.get(Customer, customer_id)
    while customer is not None and customer.merged_into_id:
        customer = await session.get(Customer, customer.merged_into_id)
    return customer


async def app_session(
    ctx: Context, key: str, authorization: str | None, token: str | None = None
) -> AppSession:
    """Who is behind a session token (the Authorization header, or a socket's `token`);
    NotFound for an unknown app, NotAuthenticated for a missing, forged, stale or foreign
    token."""
    endpoint = await get_app(ctx, key)
    data = adapter(ctx).read_session_token(bearer(authorization, token))
    if data is None or data.endpoint_id != endpoint.id:
        raise NotAuthenticated("invalid app session token")
    async with ctx.db.sessions() as session:
        customer = await _current(session, data.customer_id)
    if customer is None or customer.org_id != endpoint.org_id:
        raise NotAuthenticated("unknown customer")
    assurance = assurances.from_data(data.assurance)
    return AppSession(endpoint, customer.id, assurance.effective(utcnow()) if assurance else None)


# ---------------------------------------------------------------- session
def _claim(endpoint: Endpoint, identity: AppIdentityIn | None, now: datetime) -> Claim | None:
    """Check the identity the app sent: signed by the company's backend (the hash covers
    every field sent, docs/app.md), or plain claims."""
    if identity is None:
        return None
    claimed = identity.assurance
    try:
        fields = signed_fields(
            email=identity.email,
            phone=identity.phone,
            name=identity.name,
            level=claimed.level if claimed else None,
            method=claimed.method if claimed else None,
            at=claimed.at if claimed else None,
        )
        canonical_message(fields)
    except IdentityRefused as exc:
        raise Invalid(str(exc)) from None
    if not identity.hash:
        if claimed is not None:
            raise Invalid("an assurance must be signed: add the identity's hash")
        return Claim(identity.name, fields.email, fields.phone, None)
    if not (fields.email or fields.phone):
        raise Invalid("a signed identity needs an email or a phone")
    if not signature_matches(endpoint.secret, fields, identity.hash):
        raise NotAuthenticated("the identity's signature does not match")
    try:
        assurance = (
            assurances.claim(claimed.level, claimed.method, claimed.at, now)
            if claimed
            else Assurance("identified")
        )
    except InvalidAssurance as exc:
        raise Invalid(f"assurance: {exc}") from None
    return Claim(identity.name, fields.email, fields.phone, assurance)


async def _session_customer(
    uow: UnitOfWork,
    endpoint: Endpoint,
    previous: AppToken | None,
    claim: Claim | None,
    language: str,
) -> Customer:
    session, org_id = uow.session, endpoint.org_id
    current = await _current(session, previous.customer_id) if previous else None
    if current is not None and current.org_id != org_id:
        current = None
    if claim is not None and claim.signed:
        kind, value = ("email", claim.email) if claim.email else ("phone", claim.phone)
        owner = await resolve_vouched(
            session, org_id, kind, value or "", name=claim.name, language=language
        )
        anonymous = previous is not None and previous.assurance is None
        if current is not None and current.id != owner.id and anonymous:
            # what this device did before signing in belongs to the customer they are
            await merge_customers(session, source=current, target=owner, actor=None)
        elif current is None or current.id != owner.id:
            # a device reads this customer now: what it types must count as a mere claim
            await add_identity(session, owner, "app", str(uuid.uuid4()), verified=True)
        if kind == "email" and claim.phone:  # signed too: the hash covers every field
            owner = await add_identity(session, owner, "phone", claim.phone, verified=True)
        if claim.name:
            owner.name = claim.name
        return owner
    if current is None:
        current = await resolve_identity(
            session,
            org_id,
            "app",
            str(uuid.uuid4()),
            name=claim.name if claim else None,
            language=language,
        )
    if claim is not None:  # unsigned: recorded as claims, never taking over a record
        if claim.name and not current.name:
            current.name = claim.name
        for kind in ("email", "phone"):
            if value := getattr(claim, kind):
                current = await add_identity(session, current, kind, value, verified=False)
    return current


def _label(value: Any, language: str) -> str:
    if isinstance(value, dict):
        return str(value.get(language) or value.get("en") or next(iter(value.values())))
    return str(value)


def reasons(endpoint: Endpoint, language: str) -> list[ReasonOut]:
    """The reasons the customer may pick, with their questions, in their language."""
    configured = (endpoint.settings or {}).get("reasons") or [
        {"code": "general", "label": translate(language, "app_reason_general"), "questions": []}
    ]
    return [
        ReasonOut(
            code=r["code"],
            label=_label(r["label"], language),
            questions=[
                QuestionOut(
                    id=q["id"],
                    label=_label(q["label"], language),
                    options=[
                        OptionOut(value=o["value"], label=_label(o["label"], language))
                        for o in q["options"]
                    ]
                    if q.get("options")
                    else None,
                )
                for q in r.get("questions", [])
            ],
        )
        for r in configured
    ]


async def do_open_session(ctx: Context, key: str, body: AppSessionIn) -> AppSessionOut:
    """Start or restore an app session; with a signed identity, for that customer."""
    endpoint = await get_app(ctx, key)
    previous = adapter(ctx).read_session_token(body.session_token) if body.session_token else None
    if previous is not None and previous.endpoint_id != endpoint.id:
        previous = None
    now = utcnow()
    claim = _claim(endpoint, body.identity, now)
    language = pick_language(body.locale, (endpoint.settings or {}).get("language", "en"))
    async with ctx.uow() as uow:
        customer = await _session_customer(uow, endpoint, previous, claim, language)
        journey.remember_zone(customer, body.timezone)
        language = customer.language or language
    if claim is not None and claim.signed:
        assurance = claim.assurance
    elif previous is not None and previous.customer_id == customer.id:
        kept = assurances.from_data(previous.assurance)
        assurance = kept.effective(now) if kept else None
    else:
        assurance = None
    token = AppToken(endpoint.id, customer.id, assurance.as_data() if assurance else None)
    return AppSessionOut(
        session_token=adapter(ctx).session_token(token),
        customer_id=customer.id,
        customer_name=customer.name,
        language=language,
        assurance=AssuranceOut(**assurance.as_data()) if assurance else None,
        reasons=reasons(endpoint, language),
        wait=(await journey.customer_wait(ctx, endpoint.org_id, customer.id)).view,
        phone=customer.phone,
    )


# ---------------------------------------------------------------- routing what they entered
def _check_answers(reason: dict[str, Any] | None, answers: dict[str, Any]) -> None:
    questions = {q["id"]: q for q in (reason or {}).get("questions", [])}
    if not questions:
        return
    for question_id, answer in answers.items():
        question = questions.get(question_id)
        if question is None:
            raise Invalid(f"no question {question_id!r} for this reason", field="answers")
        options = [o["value"] for o in question.get("options") or []]
        if options and answer not in options:
            raise Invalid(
                f"{question_id}: answer one of {', '.join(options)}", field=f"answers.{question_id}"
            )


async def route(session: AsyncSession, endpoint: Endpoint, body: RouteIn) -> Route:
    """The queue and tier for what the customer entered: the queue they (the app) asked
    for, if the endpoint allows it, else the reason's, else the endpoint's."""
    settings = endpoint.settings or {}
    configured = {r["code"]: r for r in settings.get("reasons", [])}
    reason = configured.get(body.reason) if body.reason else None
    if body.reason and configured and reason is None:
        raise Invalid(f"unknown reason {body.reason!r}", field="reason")
    _check_answers(reason, body.answers)
    allowed = set(settings.get("queues", [])) | {
        r["queue"] for r in configured.values() if r.get("queue")
    }
    if body.queue and body.queue not in allowed:
        raise Invalid(f"this app may not ask for queue {body.queue!r}", field="queue")
    name = body.queue or (reason or {}).get("queue")
    queue = None
    if name:
        queue = await session.scalar(
            select(Queue).where(Queue.org_id == endpoint.org_id, Queue.name == name)
        )
    elif endpoint.queue_id:
        queue = await session.get(Queue, endpoint.queue_id)
    if queue is None:
        raise Conflict("this app has no queue to send you to; ask its administrator")
    tier = body.tier if body.tier is not None else int((reason or {}).get("tier", 0))
    return Route(queue, tier, body.reason)


def _entered(body: RouteIn) -> dict[str, Any]:
    """What the customer entered, as it travels with the contact."""
    entered: dict[str, Any] = {"reason": body.reason, "answers": dict(body.answers), "via": "app"}
    if body.account:
        entered["account"] = body.account
    return entered


async def _open_contact(session: AsyncSession, thread_id: str) -> Contact | None:
    return await session.scalar(
        select(Contact)
        .where(
            Contact.thread_id == thread_id, Contact.status.in_(("queued", "offered", "assigned"))
        )
        .order_by(Contact.enqueued_at.desc())
        .limit(1)
    )


async def do_start_contact(ctx: Context, session: AppSession, body: StartContactIn) -> str:
    """Talk to someone: what they entered lands in their one thread and the contact
    queues with it (or joins the contact already open). Returns the contact id."""
    org_id = session.org_id
    entered = _entered(body)
    if session.assurance is not None:
        entered["assurance"] = session.assurance.as_data()
    async with ctx.uow() as uow:
        chosen = await route(uow.session, session.endpoint, body)
        customer = await uow.lock_existing(Customer, session.customer_id)
        thread = await customer_thread(uow, org_id, customer)
        event = append_event(
            uow,
            thread,
            kind="request",
            channel="app",
            author_type="customer",
            author_id=customer.id,
            author_name=customer.name,
            body=summary(entered),
            data=entered,
        )
        contact = await _open_contact(uow.session, thread.id)
        if contact is None:
            channel = (session.endpoint.settings or {}).get("contact_channel", "app")
            contact = await ctx.routing.enqueue(
                uow,
                thread,
                chosen.queue,
                channel,
                reason=chosen.reason,
                context=entered,
                min_tier=chosen.min_tier,
            )
        elif contact.status in WAITING:
            contact.context = {**contact.context, **entered}
        event.contact_id = contact.id
        return contact.id


# ---------------------------------------------------------------- the customer's own things
async def own_contact(ctx: Context, session: AppSession, contact_id: str) -> Contact:
    return await journey.own_contact(ctx, session.org_id, session.customer_id, contact_id)


async def own_callback(ctx: Context, session: AppSession, callback_id: str) -> Callback:
    return await journey.own_callback(ctx, session.org_id, session.customer_id, callback_id)


async def contact_state(ctx: Context, session: AppSession, contact_id: str) -> CustomerWaitOut:
    contact = await own_contact(ctx, session, contact_id)
    return await journey.contact_view(ctx, session.org_id, contact.id)


async def do_keep_place(
    ctx: Context, session: AppSession, contact_id: str, phone: str | None
) -> CustomerWaitOut:
    """Call me back, keep my place: the waiting contact becomes a callback at its place."""
    contact = await own_contact(ctx, session, contact_id)
    await journey.do_keep_place(ctx, session.org_id, contact.id, phone=phone)
    return await journey.contact_view(ctx, session.org_id, contact.id)


async def windows(
    ctx: Context,
    session: AppSession,
    body: RouteIn,
    *,
    contact_id: str | None = None,
    callback_id: str | None = None,
) -> list[tuple[Window, int]]:
    """Bookable windows in the queue of the customer's callback or contact, else the queue
    what they entered routes to."""
    if callback_id:
        queue_id = (await own_callback(ctx, session, callback_id)).queue_id
    elif contact_id:
        queue_id = (await own_contact(ctx, session, contact_id)).queue_id
    else:
        async with ctx.db.sessions() as db:
            queue_id = (await route(db, session.endpoint, body)).queue.id
    return await journey.windows(ctx, session.org_id, queue_id)


def _request(session: AppSession, chosen: Route, body: RouteIn) -> Request:
    """What the customer entered, routed, with the assurance the session reached."""
    entered = _entered(body)
    if session.assurance is not None:
        entered["assurance"] = session.assurance.as_data()
    return Request(chosen.queue.id, chosen.min_tier, chosen.reason, entered)


async def do_app_book(
    ctx: Context,
    session: AppSession,
    body: RouteIn,
    *,
    window_start: datetime,
    phone: str | None,
    contact_id: str | None,
) -> CallbackBrief:
    """Book a window; a waiting contact it replaces leaves the queue, its context travels."""
    if contact_id:
        contact = journey.replaceable(await own_contact(ctx, session, contact_id))
        request = journey.request_of(contact)
    else:
        async with ctx.db.sessions() as db:
            request = _request(session, await route(db, session.endpoint, body), body)
    callback = await journey.do_book_instead(
        ctx,
        session.org_id,
        session.customer_id,
        request,
        window_start=window_start,
        phone=phone,
        replaces=contact_id,
    )
    return await journey.callback_brief(ctx, callback.id)


async def callbacks(ctx: Context, session: AppSession) -> list[CallbackBrief]:
    return await journey.customer_callbacks(ctx, session.org_id, session.customer_id)


async def do_reschedule_own(
    ctx: Context, session: AppSession, callback_id: str, window_start: datetime
) -> CallbackBrief:
    return await journey.do_reschedule_own(
        ctx, session.org_id, session.customer_id, callback_id, window_start
    )


async def do_cancel_own(ctx: Context, session: AppSession, callback_id: str) -> CallbackBrief:
    return await journey.do_cancel_own(ctx, session.org_id, session.customer_id, callback_id)


# ---------------------------------------------------------------- call now
async def do_call_now(ctx: Context, session: AppSession, body: CallNowIn) -> tuple[str, IssuedCode]:
    """A number to call and a one-time code that continues this session on the call:
    the same customer and thread, this assurance, what they entered, routed alike."""
    number = await journey_call_now.voice_number(ctx, session.endpoint)

    async def routed(db: AsyncSession) -> Request:
        chosen = await route(db, session.endpoint, body)
        return Request(chosen.queue.id, chosen.min_tier, chosen.reason, _entered(body))

    issued = await journey_call_now.do_call_now(
        ctx,
        session.org_id,
        session.customer_id,
        session.assurance,
        contact_id=body.contact_id,
        route=routed,
    )
    return number, issued
