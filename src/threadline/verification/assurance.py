"""Assurance: how sure we are of who the customer is, how they proved it, and when.

Levels (shared/DESIGN.md): none < identified < verified < strong. `identified`: someone we
trust (the company's backend) told us who they are; `verified`/`strong`: they proved it
(a one-time code, a passkey, ...). Proof fades: older than MAX_AGE it only counts as
`identified`. Pure: no clock (``now`` is passed in), no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

LEVELS = ("none", "identified", "verified", "strong")
CLAIMABLE = ("identified", "verified", "strong")  # what a company's backend may vouch for
MAX_AGE = timedelta(hours=12)
CLOCK_SKEW = timedelta(minutes=5)  # a backend's clock a little ahead of ours is tolerated
METHOD = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


class InvalidAssurance(ValueError):
    """An assurance claim that cannot be accepted; the message says why."""


@dataclass(frozen=True, slots=True)
class Assurance:
    level: str
    method: str | None = None
    at: datetime | None = None

    def as_data(self) -> dict[str, Any]:
        """The JSON form stored in contexts and tokens: {"level", "method", "at"}."""
        return {
            "level": self.level,
            "method": self.method,
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z") if self.at else None,
        }

    def at_least(self, level: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(level)

    def effective(self, now: datetime) -> Assurance:
        """This assurance as it counts at `now`: a proof older than MAX_AGE (or undated)
        only identifies."""
        if not self.at_least("verified"):
            return self
        if self.at is None or now - self.at > MAX_AGE:
            return replace(self, level="identified")
        return self


NONE = Assurance("none")


def parse_time(text: str) -> datetime:
    """An ISO 8601 moment with its offset ('2026-11-24T09:30:00Z'), as aware UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidAssurance(f"'at' is not an ISO 8601 time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise InvalidAssurance("'at' needs a time zone offset, e.g. 2026-11-24T09:30:00Z")
    return moment.astimezone(UTC)


def claim(level: str, method: str | None, at: str | None, now: datetime) -> Assurance:
    """Check what a company's backend says the customer reached (already authenticated by
    its signature) and return it as it counts now."""
    if level not in CLAIMABLE:
        raise InvalidAssurance(f"level must be one of {', '.join(CLAIMABLE)}")
    if method is not None and not METHOD.match(method):
        raise InvalidAssurance("method: 1-40 lowercase letters, digits, '_', '.' or '-'")
    moment = parse_time(at) if at else None
    if moment is not None and moment > now + CLOCK_SKEW:
        raise InvalidAssurance("'at' is in the future")
    return Assurance(level, method, moment).effective(now)


def from_data(data: Any) -> Assurance | None:
    """The stored JSON form back (None when absent or unreadable: a stale token says
    nothing it cannot back)."""
    if not isinstance(data, dict) or data.get("level") not in LEVELS:
        return None
    at = data.get("at")
    try:
        moment = parse_time(at) if isinstance(at, str) else None
    except InvalidAssurance:
        return None
    method = data.get("method")
    return Assurance(str(data["level"]), method if isinstance(method, str) else None, moment)
