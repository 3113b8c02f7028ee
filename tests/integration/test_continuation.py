"""Continuation codes against SQLite and PostgreSQL: `redeem` (the contract the IVR relies
on) consumes a code exactly once, refuses expired, superseded and foreign ones, and locks
out guessing per caller and per organisation; assurance claims are checked and fade."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.conftest import World, make_world
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import utcnow
from threadline.threads.models import ThreadEvent
from threadline.threads.services import open_thread
from threadline.verification import assurance as assurances
from threadline.verification.assurance import Assurance, InvalidAssurance
from threadline.verification.continuation import (
    FAILURE_WINDOW,
    MAX_FAILURES_PER_CALLER,
    MAX_FAILURES_PER_ORG,
    Continuation,
    IssuedCode,
    issue,
    redeem,
)
from threadline.verification.exceptions import ContinuationLocked
from threadline.verification.models import ContinuationCode, ContinuationFailure

CALLER = "+351912345678"
PASSKEY_AGO = timedelta(minutes=2)


@pytest.fixture
async def world(ctx: Context) -> World:
    return await make_world(ctx)


async def _customer(ctx: Context, world: World, name: str = "Elena") -> tuple[str, str]:
    async with ctx.uow() as uow:
        customer = Customer(org_id=world.org_id, name=name, language="el")
        uow.session.add(customer)
        await uow.session.flush()
        thread = await open_thread(uow.session, world.org_id, customer.id, "el")
    return customer.id, thread.id


async def _issue(ctx: Context, world: World, customer: tuple[str, str] | None = None) -> IssuedCode:
    customer_id, thread_id = customer or await _customer(ctx, world)
    now = utcnow()
    async with ctx.uow() as uow:
        return await issue(
            uow,
            ctx.settings.secret_key.get_secret_value(),
            org_id=world.org_id,
            customer_id=customer_id,
            thread_id=thread_id,
            assurance=Assurance("verified", "passkey", now - PASSKEY_AGO),
            context={"reason": "lost_card", "answers": {"card": "debit"}},
            reason="lost_card",
            queue_id=world.queues["cards"].id,
            min_tier=2,
            language="el",
            contact_id=None,
            now=now,
        )


async def _failures(ctx: Context, **where: Any) -> int:
    async with ctx.db.sessions() as session:
        query = select(func.count()).select_from(ContinuationFailure).filter_by(**where)
        return int(await session.scalar(query) or 0)


async def test_a_code_continues_the_session_once(ctx: Context, world: World) -> None:
    customer = await _customer(ctx, world)
    issued = await _issue(ctx, world, customer)
    assert len(issued.code) == 6 and issued.code.isdigit()
    spaced = f"{issued.code[:3]} {issued.code[3:]}#"  # as a keypad or a speech engine gives it
    continuation = await redeem(ctx, world.org_id, spaced, caller="+351 912 345 678")
    assert isinstance(continuation, Continuation)
    assert (continuation.customer_id, continuation.thread_id) == customer
    assert continuation.assurance["level"] == "verified"
    assert continuation.assurance["method"] == "passkey"
    assert continuation.queue_id == world.queues["cards"].id
    assert continuation.queue_name == "Cards" and continuation.min_tier == 2
    assert continuation.language == "el" and continuation.reason == "lost_card"
    assert continuation.context == {"reason": "lost_card", "answers": {"card": "debit"}}
    context = continuation.contact_context()
    assert context["assurance"] == dict(continuation.assurance)
    assert context["continued_from"] == "app" and context["answers"] == {"card": "debit"}
    # the second time, by anyone, it is gone
    assert await redeem(ctx, world.org_id, issued.code, caller=CALLER) is None
    assert await redeem(ctx, world.org_id, issued.code, caller="+302100000000") is None
    async with ctx.db.sessions() as session:
        row = await session.get_one(ContinuationCode, issued.continuation_id)
        event = await session.scalar(select(ThreadEvent).where(ThreadEvent.kind == "continuation"))
    assert row.used_by == CALLER and row.used_at is not None
    assert event is not None and event.data["action"] == "redeemed"
    assert event.data["caller"] == "+35191234\u2022\u202278"
    assert await _failures(ctx, caller=CALLER) == 1


async def test_two_callers_racing_for_one_code_one_wins(ctx: Context, world: World) -> None:
    issued = await _issue(ctx, world)
    results = await asyncio.gather(
        *(redeem(ctx, world.org_id, issued.code, caller=f"+35191234560{i}") for i in range(4))
    )
    assert sum(r is not None for r in results) == 1


async def test_expired_superseded_and_foreign_codes_fail(ctx: Context, world: World) -> None:
    customer = await _customer(ctx, world)
    old = await _issue(ctx, world, customer)
    new = await _issue(ctx, world, customer)  # "call now" again: the older code stops
    assert await redeem(ctx, world.org_id, old.code, caller=CALLER) is None or old.code == new.code
    other_org = await make_world(ctx)
    assert await redeem(ctx, other_org.org_id, new.code, caller=CALLER) is None
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(ContinuationCode)
            .where(ContinuationCode.id == new.continuation_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await redeem(ctx, world.org_id, new.code, caller="+302100000001") is None
    # a code lives 10 minutes
    fresh = await _issue(ctx, world)
    remaining = (fresh.expires_at - utcnow()).total_seconds()
    assert 590 < remaining <= 600


@pytest.mark.parametrize("entered", ["", "12345", "1234567", "abcdef", "12 34 5", "١٢٣٤٥٦"])
async def test_what_cannot_be_a_code_fails_and_counts(
    ctx: Context, world: World, entered: str
) -> None:
    assert await redeem(ctx, world.org_id, entered, caller=None) is None
    assert await _failures(ctx, caller="withheld") == 1


async def test_guessing_locks_the_caller_out_then_lets_them_back(
    ctx: Context, world: World
) -> None:
    issued = await _issue(ctx, world)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    for _ in range(MAX_FAILURES_PER_CALLER):
        assert await redeem(ctx, world.org_id, wrong, caller=CALLER) is None
    with pytest.raises(ContinuationLocked) as locked:
        await redeem(ctx, world.org_id, issued.code, caller=CALLER)  # even the right one
    assert 0 < locked.value.retry_after_s <= FAILURE_WINDOW.total_seconds()
    assert locked.value.status == 403 and locked.value.code == "too_many_attempts"
    # the same number written another way is the same caller
    with pytest.raises(ContinuationLocked):
        await redeem(ctx, world.org_id, issued.code, caller="00351 912 345 678")
    assert await _failures(ctx) == MAX_FAILURES_PER_CALLER  # a locked try is not looked at
    async with ctx.db.sessions() as session:
        row = await session.get_one(ContinuationCode, issued.continuation_id)
    assert row.used_at is None
    # once the failures are old enough, the right code works again
    async with ctx.uow() as uow:
        await uow.session.execute(
            update(ContinuationFailure).values(
                failed_at=utcnow() - FAILURE_WINDOW - timedelta(seconds=1)
            )
        )
    assert await redeem(ctx, world.org_id, issued.code, caller=CALLER) is not None


async def test_other_callers_are_not_locked_out_by_one(ctx: Context, world: World) -> None:
    issued = await _issue(ctx, world)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    for _ in range(MAX_FAILURES_PER_CALLER):
        assert await redeem(ctx, world.org_id, wrong, caller=CALLER) is None
    assert await redeem(ctx, world.org_id, issued.code, caller="+302100000002") is not None


async def test_guessing_from_many_numbers_locks_the_organisation(
    ctx: Context, world: World
) -> None:
    issued = await _issue(ctx, world)
    now = utcnow()
    async with ctx.uow() as uow:
        for i in range(MAX_FAILURES_PER_ORG):  # spoofed caller ids, one try each
            uow.session.add(
                ContinuationFailure(org_id=world.org_id, caller=f"+1555000{i:04d}", failed_at=now)
            )
    with pytest.raises(ContinuationLocked):
        await redeem(ctx, world.org_id, issued.code, caller="+302100000003")
    other = await make_world(ctx)  # another organisation is not affected
    assert await redeem(ctx, other.org_id, issued.code, caller="+302100000003") is None


def test_assurance_claims_are_checked_and_fade() -> None:
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    fresh = assurances.claim("verified", "passkey", "2026-11-24T09:28:00Z", now)
    assert fresh == Assurance("verified", "passkey", datetime(2026, 11, 24, 9, 28, tzinfo=UTC))
    assert fresh.as_data() == {
        "level": "verified",
        "method": "passkey",
        "at": "2026-11-24T09:28:00Z",
    }
    assert assurances.from_data(fresh.as_data()) == fresh
    offset = assurances.claim("strong", "otp", "2026-11-24T11:00:00+02:00", now)
    assert offset.at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC) and offset.level == "strong"
    faded = fresh.effective(now + timedelta(hours=12, seconds=1))
    assert faded.level == "identified" and faded.method == "passkey"
    assert Assurance("verified").effective(now).level == "identified"  # undated proof
    assert assurances.claim("identified", None, None, now).level == "identified"
    for level, method, at, says in [
        ("none", None, None, "level"),
        ("verified", "Pass Key", None, "method"),
        ("verified", "otp", "tomorrow", "ISO"),
        ("verified", "otp", "2026-11-24T09:00:00", "zone"),
        ("verified", "otp", "2026-11-24T09:40:00Z", "future"),
    ]:
        with pytest.raises(InvalidAssurance, match=says):
            assurances.claim(level, method, at, now)
    assert assurances.from_data({"level": "sure"}) is None
    assert assurances.from_data({"level": "verified", "at": "garbage"}) is None
    assert assurances.from_data(None) is None
