"""Continuation codes: a customer in the app taps "call now" and gets a number and a one-time
code; the IVR asks for the code and the call continues the app session: the same customer
and thread, authenticated at the level the app reached, routed with what they entered.

A code is 6 digits, lives 10 minutes, is stored only as an HMAC (keyed with the server's
secret and the organisation), is bound to one customer (a newer code supersedes the older)
and is consumed by exactly one `redeem`.  Guessing is stopped by counting failures: 5 from
one caller within 15 minutes lock that caller out, 50 within 15 minutes in one organisation
lock every caller of it out (caller ids are easy to spoof, so the per-caller limit alone
would not stop a guesser who changes numbers).  A success does not reset the count: a
guesser could otherwise interleave codes issued to themselves with guesses.

The contract for the IVR is `redeem` (below); `issue` is called by the app channel.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.customers.identities import normalise_phone
from threadline.db import UnitOfWork, utcnow
from threadline.errors import Conflict, Invalid
from threadline.routing.models import Contact, Queue
from threadline.threads.services import append_event, lock_thread
from threadline.verification import assurance as assurances
from threadline.verification.exceptions import ContinuationLocked
from threadline.verification.models import ContinuationCode, ContinuationFailure

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_CALLER = 5
MAX_FAILURES_PER_ORG = 50
FAILURE_RETENTION = timedelta(days=1)
WITHHELD = "withheld"  # a caller without a number: all of them share one count
SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class Continuation:
    """A redeemed code: the app session the call continues."""

    id: str
    org_id: str
    customer_id: str
    thread_id: str
    assurance: Mapping[str, Any]  # {"level", "method", "at"} as it counts now
    context: Mapping[str, Any]  # what the customer entered: reason, answers, account
    reason: str | None
    queue_id: str | None  # where the app would have routed it (None: the IVR decides)
    queue_name: str | None
    min_tier: int
    language: str | None  # the app session's language: no language menu needed
    waited_since: datetime | None  # the place in line of the app contact it replaces
    issued_at: datetime

    def contact_context(self) -> dict[str, Any]:
        """The `context=` to enqueue the call with: what the app collected, the assurance
        the call inherits (the desktop shows it), and where it came from."""
        return {
            **self.context,
            "assurance": dict(self.assurance),
            "continuation_id": self.id,
            "continued_from": "app",
        }


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # shown to the customer once; never stored or logged
    expires_at: datetime
    continuation_id: str


def code_hash(secret: str, org_id: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{org_id}:{code}".encode(), hashlib.sha256).hexdigest()


def normal_code(entered: str | None) -> str | None:
    """The digits of what the caller entered ('123 456', '123-456#'), or None when it
    cannot be a code."""
    if entered is None:
        return None
    digits = "".join(ch for ch in entered if ch not in " -#\t")
    if len(digits) != CODE_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return digits


def caller_key(caller: str | None) -> str:
    """Whom failures are counted against: the caller's number in E.164, else what the
    provider says (e.g. 'anonymous'), else 'withheld'."""
    raw = (caller or "").strip()
    if not raw:
        return WITHHELD
    if raw.startswith("00"):  # the international prefix dialled instead of '+'
        raw = "+" + raw[2:]
    try:
        return normalise_phone(raw)
    except Invalid:
        digits = "".join(ch for ch in raw if ch.isascii() and ch.isdigit())
        # one number written several ways is still one caller
        return (digits or raw.lower())[:40]


def _mask(caller: str) -> str:
    return caller[:-4] + "\u2022\u2022" + caller[-2:] if caller.startswith("+") else caller


async def _live(
    session: AsyncSession, org_id: str, digest: str, now: datetime, *, lock: bool = False
) -> ContinuationCode | None:
    query = (
        select(ContinuationCode)
        .where(
            ContinuationCode.org_id == org_id,
            ContinuationCode.code_hash == digest,
            ContinuationCode.used_at.is_(None),
            ContinuationCode.expires_at > now,
        )
        .order_by(ContinuationCode.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query.with_for_update() if lock else query)


async def issue(
    uow: UnitOfWork,
    secret: str,
    *,
    org_id: str,
    customer_id: str,
    thread_id: str,
    assurance: assurances.Assurance | None,
    context: Mapping[str, Any],
    reason: str | None,
    queue_id: str | None,
    min_tier: int,
    language: str | None,
    contact_id: str | None,
    now: datetime,
) -> IssuedCode:
    """A new code for this customer (their older live codes stop working). Call inside the
    unit of work that records why it was issued."""
    await uow.session.execute(
        update(ContinuationCode)
        .where(
            ContinuationCode.org_id == org_id,
            ContinuationCode.customer_id == customer_id,
            ContinuationCode.used_at.is_(None),
        )
        .values(used_at=now, used_by=SUPERSEDED)
    )
    for _ in range(20):  # a clash with another customer's live code is rare; draw again
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        digest = code_hash(secret, org_id, code)
        if await _live(uow.session, org_id, digest, now) is None:
            break
    else:
        raise Conflict("could not issue a code right now; try again")
    row = ContinuationCode(
        org_id=org_id,
        code_hash=digest,
        customer_id=customer_id,
        thread_id=thread_id,
        contact_id=contact_id,
        queue_id=queue_id,
        min_tier=min_tier,
        reason=reason,
        language=language,
        assurance=(assurance or assurances.NONE).as_data(),
        context=dict(context),
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    uow.session.add(row)
    await uow.session.flush()
    return IssuedCode(code=code, expires_at=row.expires_at, continuation_id=row.id)


async def _locked_for(
    session: AsyncSession, org_id: str, caller: str | None, limit: int, now: datetime
) -> float | None:
    """Seconds until failures counted for `caller` (None: the whole organisation) drop
    below `limit`; None when they already are below it."""
    query = select(ContinuationFailure.failed_at).where(
        ContinuationFailure.org_id == org_id,
        ContinuationFailure.failed_at >= now - FAILURE_WINDOW,
    )
    if caller is not None:
        query = query.where(ContinuationFailure.caller == caller)
    recent = list(
        await session.scalars(query.order_by(ContinuationFailure.failed_at.desc()).limit(limit))
    )
    if len(recent) < limit:
        return None
    return max((recent[-1] + FAILURE_WINDOW - now).total_seconds(), 1.0)


async def _check_lock(session: AsyncSession, org_id: str, caller: str, now: datetime) -> None:
    for who, limit in ((caller, MAX_FAILURES_PER_CALLER), (None, MAX_FAILURES_PER_ORG)):
        wait_s = await _locked_for(session, org_id, who, limit, now)
        if wait_s is not None:
            raise ContinuationLocked(wait_s)


async def _failed(uow: UnitOfWork, org_id: str, caller: str, now: datetime) -> None:
    uow.session.add(ContinuationFailure(org_id=org_id, caller=caller, failed_at=now))
    await uow.session.execute(
        delete(ContinuationFailure).where(
            ContinuationFailure.org_id == org_id,
            ContinuationFailure.failed_at < now - FAILURE_RETENTION,
        )
    )


async def redeem(
    ctx: Context, org_id: str, code: str, *, caller: str | None
) -> Continuation | None:
    """Consume a continuation code entered by a caller (the IVR's call).

    * Returns the Continuation when `code` (6 digits; spaces, '-' and '#' are ignored) is a
      live code of this organisation; it is consumed in the same transaction, so a second
      redeem of it returns None. The customer's thread gets a `continuation` event, and the
      app contact that was waiting (if any) leaves its queue: the call replaces it
      (`waited_since` is its place in line, for the IVR to keep).
    * Returns None for a wrong, malformed, expired, superseded or already used code; the
      failure is counted against `caller` (E.164 or the provider's marker; None = withheld).
    * Raises ContinuationLocked (403, code `too_many_attempts`, `retry_after_s`) when this
      caller had 5 failures, or the organisation 50, in the last 15 minutes; the code is
      not looked at and nothing is consumed.

    Opens and commits its own transaction: call it outside a unit of work."""
    now = utcnow()
    who = caller_key(caller)
    entered = normal_code(code)
    secret = ctx.settings.secret_key.get_secret_value()
    async with ctx.uow() as uow:
        await _check_lock(uow.session, org_id, who, now)
        row = None
        if entered is not None:
            digest = code_hash(secret, org_id, entered)
            row = await _live(uow.session, org_id, digest, now, lock=uow.row_locks)
        if row is None:
            await _failed(uow, org_id, who, now)
            return None
        row.used_at, row.used_by = now, who
        return await _continue(ctx, uow, row, who, now)


async def _continue(
    ctx: Context, uow: UnitOfWork, row: ContinuationCode, caller: str, now: datetime
) -> Continuation:
    """Record the redemption on the thread and retire the app contact it replaces."""
    assurance = (assurances.from_data(row.assurance) or assurances.NONE).effective(now)
    thread = await lock_thread(uow, row.org_id, row.thread_id)
    append_event(
        uow,
        thread,
        kind="continuation",
        channel="voice",
        author_type="system",
        contact_id=row.contact_id,
        data={
            "action": "redeemed",
            "caller": _mask(caller),
            "assurance": assurance.as_data(),
            "reason": row.reason,
            "issued_at": row.created_at.isoformat(),
        },
    )
    waited_since = None
    if row.contact_id:
        contact: Contact | None = await uow.lock(Contact, row.contact_id)
        if contact is not None and contact.status in ("queued", "offered"):
            waited_since = contact.enqueued_at
            await ctx.routing.abandon(uow, contact, "continued on a call")
    queue = await uow.session.get(Queue, row.queue_id) if row.queue_id else None
    return Continuation(
        id=row.id,
        org_id=row.org_id,
        customer_id=row.customer_id,
        thread_id=row.thread_id,
        assurance=assurance.as_data(),
        context=dict(row.context),
        reason=row.reason,
        queue_id=row.queue_id,
        queue_name=queue.name if queue else None,
        min_tier=row.min_tier,
        language=row.language,
        waited_since=waited_since,
        issued_at=row.created_at,
    )
