"""A queue's callback policy, and the rules that follow from it. Pure: no database, no
clock (``now`` is passed in), no network.

* **When to offer**: a waiting contact whose estimated wait passes ``offer_after_s``
  is offered a callback: keep my place (the contact keeps its place in line as a
  virtual contact and is called when it reaches the head) and/or a booked window.
* **Retries**: a callback the customer does not answer is tried again after
  ``retry_after_s[i]`` (the last spacing repeats) until ``max_attempts`` calls were
  made; then the customer is told and may rebook.
* **Booked windows** are offered only where the staffing plan has room: for each
  window, the Erlang model (queueing/erlang.py) with the planned agents must still
  meet the queue's service-level target with the forecast arrivals, the callbacks
  already booked and one more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from threadline.queueing import erlang
from threadline.routing import hours as business_hours

DAYS = business_hours.DAYS
BOOKED_PRIORITY = 5  # a booked window is a promise: ahead of ordinary contacts
RETRY_PRIORITY = 5  # a retry comes back at the head of the line, at its kept place


class InvalidPolicy(ValueError):
    """A callback policy that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Shift:
    """``agents`` planned from ``start`` to ``end`` (local times) on one weekday."""

    start: time
    end: time
    agents: int


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    enabled: bool = False
    offer_after_s: float = 300.0
    keep_place: bool = True
    booking: bool = True
    max_attempts: int = 3
    retry_after_s: tuple[float, ...] = (120.0, 600.0)
    ring_timeout_s: int = 25
    window_minutes: int = 30
    book_days: int = 7
    min_notice_minutes: int = 30
    timezone: str = "UTC"
    # weekday -> planned shifts; no plan for a day: no booked windows that day
    plan: Mapping[str, tuple[Shift, ...]] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "offer_after_s": self.offer_after_s,
            "keep_place": self.keep_place,
            "booking": self.booking,
            "max_attempts": self.max_attempts,
            "retry_after_s": list(self.retry_after_s),
            "ring_timeout_s": self.ring_timeout_s,
            "window_minutes": self.window_minutes,
            "book_days": self.book_days,
            "min_notice_minutes": self.min_notice_minutes,
            "timezone": self.timezone,
            "plan": {
                day: [[s.start.strftime("%H:%M"), _hhmm_end(s.end), s.agents] for s in shifts]
                for day, shifts in self.plan.items()
            },
        }


def _hhmm_end(moment: time) -> str:
    return "24:00" if moment == time.max else moment.strftime("%H:%M")


def _number(raw: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidPolicy(f"{name} must be a number")
    if not low <= value <= high:
        raise InvalidPolicy(f"{name} must be between {low:g} and {high:g}")
    return float(value)


def _flag(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise InvalidPolicy(f"{name} must be true or false")
    return value


def _clock(value: Any, where: str) -> time:
    if not isinstance(value, str):
        raise InvalidPolicy(f"{where}: a HH:MM time")
    try:
        return business_hours._parse(value)
    except business_hours.InvalidHours:
        raise InvalidPolicy(f"{where}: not a HH:MM time: {value!r}") from None


def parse_policy(raw: Any) -> CallbackPolicy:
    """Validate a policy as stored on the queue (JSON); raises InvalidPolicy with a reason."""
    if raw is None or raw == {}:
        return CallbackPolicy()
    if not isinstance(raw, Mapping):
        raise InvalidPolicy("the callback policy must be an object")
    known = set(CallbackPolicy.__dataclass_fields__)
    if unknown := sorted(set(raw) - known):
        raise InvalidPolicy(f"unknown callback policy field(s): {', '.join(unknown)}")
    spacing = raw.get("retry_after_s", [120, 600])
    if isinstance(spacing, int | float) and not isinstance(spacing, bool):
        spacing = [spacing]
    if not isinstance(spacing, list | tuple) or not spacing or len(spacing) > 10:
        raise InvalidPolicy("retry_after_s must be a number or a list of 1 to 10 numbers")
    retry = tuple(_number({"retry_after_s": s}, "retry_after_s", 0, 30, 7 * 86400) for s in spacing)
    zone = raw.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidPolicy(f"timezone: unknown time zone {zone!r}") from None
    plan_raw = raw.get("plan", {})
    if not isinstance(plan_raw, Mapping) or not set(plan_raw) <= set(DAYS):
        raise InvalidPolicy(f"plan must map days among {', '.join(DAYS)} to shifts")
    plan: dict[str, tuple[Shift, ...]] = {}
    for day, shifts in plan_raw.items():
        if not isinstance(shifts, list):
            raise InvalidPolicy(f"plan.{day} must be a list of [start, end, agents]")
        parsed = []
        for i, shift in enumerate(shifts):
            where = f"plan.{day}[{i}]"
            if not isinstance(shift, list | tuple) or len(shift) != 3:
                raise InvalidPolicy(f"{where} must be [start, end, agents]")
            start, end = _clock(shift[0], where), _clock(shift[1], where)
            agents = shift[2]
            if isinstance(agents, bool) or not isinstance(agents, int) or not 0 <= agents <= 5000:
                raise InvalidPolicy(f"{where}: agents must be a whole number from 0 to 5000")
            if end <= start:
                raise InvalidPolicy(f"{where}: the shift must end after it starts")
            parsed.append(Shift(start, end, agents))
        plan[day] = tuple(sorted(parsed, key=lambda s: s.start))
    window = int(_number(raw, "window_minutes", 30, 5, 240))
    if 1440 % window:
        raise InvalidPolicy("window_minutes must divide a day (e.g. 15, 20, 30, 60)")
    return CallbackPolicy(
        enabled=_flag(raw, "enabled", False),
        offer_after_s=_number(raw, "offer_after_s", 300, 0, 86400),
        keep_place=_flag(raw, "keep_place", True),
        booking=_flag(raw, "booking", True),
        max_attempts=int(_number(raw, "max_attempts", 3, 1, 10)),
        retry_after_s=retry,
        ring_timeout_s=int(_number(raw, "ring_timeout_s", 25, 5, 120)),
        window_minutes=window,
        book_days=int(_number(raw, "book_days", 7, 1, 60)),
        min_notice_minutes=int(_number(raw, "min_notice_minutes", 30, 0, 1440)),
        timezone=str(zone),
        plan=plan,
    )


# ---------------------------------------------------------------- offer and retry
def should_offer(policy: CallbackPolicy, ewt_s: float | None) -> bool:
    """Offer a callback to a contact whose estimated wait passes the queue's threshold."""
    if not policy.enabled or not (policy.keep_place or policy.booking) or ewt_s is None:
        return False
    return ewt_s > policy.offer_after_s


def next_attempt_at(policy: CallbackPolicy, attempts_made: int, now: datetime) -> datetime | None:
    """When to call again after ``attempts_made`` unanswered calls; None: give up."""
    if attempts_made >= policy.max_attempts:
        return None
    spacing = policy.retry_after_s[min(attempts_made - 1, len(policy.retry_after_s) - 1)]
    return now + timedelta(seconds=spacing)


# ---------------------------------------------------------------- booked windows
@dataclass(frozen=True, slots=True)
class Window:
    start: datetime  # UTC, aware
    end: datetime
    agents: int  # planned over the whole window (the fewest of its shifts)


def windows(
    policy: CallbackPolicy, now: datetime, open_hours: Mapping[str, Any] | None = None
) -> list[Window]:
    """The windows a customer could book from ``now``: aligned on ``window_minutes`` in
    the policy's time zone, starting at least ``min_notice_minutes`` ahead, within
    ``book_days``, wholly inside planned shifts (and the queue's business hours if given),
    with at least one agent planned."""
    zone = ZoneInfo(policy.timezone)
    step = timedelta(minutes=policy.window_minutes)
    earliest = now + timedelta(minutes=policy.min_notice_minutes)
    local_now = now.astimezone(zone)
    found: list[Window] = []
    for offset in range(policy.book_days + 1):
        day: date = local_now.date() + timedelta(days=offset)
        shifts = policy.plan.get(DAYS[day.weekday()], ())
        if not shifts:
            continue
        for slot in range(1440 // policy.window_minutes):
            start_local = datetime.combine(day, time(), zone) + slot * step
            end_local = start_local + step
            start, end = start_local.astimezone(now.tzinfo), end_local.astimezone(now.tzinfo)
            if start < earliest or (start - now).days >= policy.book_days:
                continue
            agents = _planned(shifts, start_local, end_local)
            if agents <= 0:
                continue
            if open_hours and not (
                business_hours.is_open(dict(open_hours), start)
                and business_hours.is_open(dict(open_hours), end - timedelta(seconds=1))
            ):
                continue
            found.append(Window(start, end, agents))
    return found


def _planned(shifts: Sequence[Shift], start: datetime, end: datetime) -> int:
    """Agents planned for the whole window: the sum over the shifts that cover all of it."""
    begin = start.time()
    finish = time.max if end.date() != start.date() else end.time()
    return sum(s.agents for s in shifts if s.start <= begin and finish <= s.end)


def window_capacity(
    agents: int,
    window_s: float,
    forecast_arrivals: float,
    booked: int,
    aht_s: float,
    answer_within_s: float,
    target: float,
) -> int:
    """How many more callbacks fit in a window: the largest k such that the planned
    agents still meet the service-level target (Erlang C) with the forecast arrivals,
    the callbacks already booked and k more. 0 when there is no room."""
    if agents <= 0 or window_s <= 0 or aht_s <= 0:
        return 0

    def meets(extra: int) -> bool:
        load = (forecast_arrivals + booked + extra) * aht_s / window_s
        if load >= agents:
            return False
        if load <= 0:
            return True
        return erlang.erlang_c(agents, load, aht_s, answer_within_s).service_level >= target

    if not meets(0):
        return 0
    # every call takes an agent for aht_s: never more than agents * window / aht in all
    high = max(int(agents * window_s / aht_s) - booked, 0)
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        if meets(mid):
            low = mid
        else:
            high = mid - 1
    return low


def offerable(
    candidates: Sequence[Window],
    *,
    forecast: Callable[[Window], float],
    booked: Callable[[Window], int],
    aht_s: float,
    answer_within_s: float,
    target: float,
) -> list[tuple[Window, int]]:
    """The candidate windows that still have room, with how many more callbacks fit."""
    result = []
    for window in candidates:
        room = window_capacity(
            window.agents,
            (window.end - window.start).total_seconds(),
            forecast(window),
            booked(window),
            aht_s,
            answer_within_s,
            target,
        )
        if room > 0:
            result.append((window, room))
    return result
