"""Login throttling: failed passwords lock an account, and an address, with growing delays.

Counted per account (the email typed, whether or not such an agent exists, so the answer
never tells) and per client address, in moving windows kept by `RateLimits` (memory, or
Redis across nodes):

* `login_failures_per_account` failures within `login_failure_window_s` lock the account,
  `login_failures_per_address` lock the address, for `login_lockout_s`; each further lockout
  within a day doubles it, up to `login_lockout_max_s`. The failures stay in their window,
  so after a lockout ends one more wrong password locks again, for twice as long.
* While locked, every attempt is answered 429 with Retry-After, the right password too; the
  password is not even checked (no hashing work for the attacker to spend).
* One attempt at an account is checked at a time: a burst of parallel guesses gets 429s,
  not a round of password checks before the first failure is counted.
* A success clears the account's failures and lockouts (its owner is back), never the
  address's: an attacker who owns one account cannot launder guesses at others with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from limits import RateLimitItem
from limits.errors import StorageError

from threadline.config import Settings
from threadline.errors import RateLimited
from threadline.ratelimit import RateLimits, window

log = structlog.get_logger(__name__)
DAY_S = 24 * 3600
MAX_LOCKOUTS_COUNTED = 64  # enough to reach any cap: 2**63 times the base lockout
IN_FLIGHT_S = 15  # an attempt's hold on its account, should its node die mid-check


@dataclass(slots=True)
class Attempt:
    """One login attempt being checked; the caller sets `succeeded` once it knows."""

    account: str
    address: str
    succeeded: bool | None = None


class LoginThrottle:
    """Per-account and per-address login lockouts over a RateLimits storage."""

    def __init__(self, limits: RateLimits, settings: Settings) -> None:
        self._limits = limits
        self._settings = settings
        window_s = settings.login_failure_window_s
        self._failures = {
            "account": window(settings.login_failures_per_account, window_s),
            "address": window(settings.login_failures_per_address, window_s),
        }
        self._lockouts = window(MAX_LOCKOUTS_COUNTED, DAY_S)
        self._in_flight = window(1, IN_FLIGHT_S)

    @asynccontextmanager
    async def attempt(self, email: str, address: str) -> AsyncIterator[Attempt]:
        """Check a password inside: raises RateLimited (before yielding) while the account
        or the address is locked, or another attempt at the account is being checked. Set
        the yielded attempt's `succeeded`; an attempt left undecided (an error) counts for
        nothing."""
        attempt = Attempt(account_key(email), address)
        if not self._limits.enabled or not await self._begin(attempt):
            yield attempt
            return
        try:
            yield attempt
        finally:
            await self._end(attempt)

    # ------------------------------------------------------------------ the parts
    async def _begin(self, attempt: Attempt) -> bool:
        """Refuse a locked or busy account or address; hold the account for this attempt.
        False when the storage (Redis) is unreachable: the attempt goes unthrottled."""
        try:
            await self._refuse_if_locked("address", attempt.address)
            await self._refuse_if_locked("account", attempt.account)
            held = await self._limits.limiter.hit(self._in_flight, "in-flight", attempt.account)
        except StorageError as exc:
            log.warning("login_throttle_unavailable", error=str(exc))
            return False
        if not held:
            raise RateLimited("another login to this account is being checked", 1)
        return True

    async def _end(self, attempt: Attempt) -> None:
        try:
            await self._limits.limiter.clear(self._in_flight, "in-flight", attempt.account)
            if attempt.succeeded is True:
                await self._succeeded(attempt.account)
            elif attempt.succeeded is False:
                await self._failed("account", attempt.account)
                await self._failed("address", attempt.address)
        except StorageError as exc:
            log.warning("login_throttle_unavailable", error=str(exc))

    async def _failed(self, scope: str, who: str) -> None:
        item = self._failures[scope]
        counted = await self._limits.limiter.hit(item, scope, who)
        if not counted or await self._limits.count(item, scope, who) >= item.amount:
            await self._lock(scope, who)

    async def _succeeded(self, account: str) -> None:
        level = await self._level("account", account)
        await self._limits.limiter.clear(self._failures["account"], "account", account)
        await self._limits.limiter.clear(self._lockouts, "lockouts", "account", account)
        if level:
            await self._limits.limiter.clear(self._lock_item(level), "lock", "account", account)

    async def _refuse_if_locked(self, scope: str, who: str) -> None:
        level = await self._level(scope, who)
        if level == 0:
            return
        item = self._lock_item(level)
        if await self._limits.count(item, "lock", scope, who):
            raise RateLimited(
                "too many failed logins; try again later",
                await self._limits.retry_after(item, "lock", scope, who),
            )

    async def _lock(self, scope: str, who: str) -> None:
        await self._limits.limiter.hit(self._lockouts, "lockouts", scope, who)
        level = await self._level(scope, who)
        await self._limits.limiter.hit(self._lock_item(level), "lock", scope, who)

    async def _level(self, scope: str, who: str) -> int:
        """How many lockouts `who` had within a day (the current one included)."""
        return await self._limits.count(self._lockouts, "lockouts", scope, who)

    def _lock_item(self, level: int) -> RateLimitItem:
        """The lockout of the `level`-th lockout in a day: the base, doubled each time."""
        seconds = self._settings.login_lockout_s * 2 ** min(max(level - 1, 0), 32)
        return window(1, min(seconds, self._settings.login_lockout_max_s))


def account_key(email: str) -> str:
    """The account as counted: a digest of the normalised email (no address in Redis)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
