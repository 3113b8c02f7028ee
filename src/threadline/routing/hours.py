"""Business hours: is a queue open at a moment, and when does it open next. Pure.

Format (an empty dict means always open):

    {"timezone": "Europe/Lisbon",
     "days": {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], ...},
     "closed_dates": ["2026-12-24"],
     "holidays": [{"date": "2026-12-25", "label": "Christmas", "yearly": true}]}

A weekday missing from `days` is closed all day. `closed_dates` (plain dates) and
`holidays` (dates with a label; `yearly`: the same day every year) close the whole local
day in the queue's time zone. Error messages start with the faulty field's path
(`days.mon[1]: ...`, `holidays[0].date: ...`) so a form can show them beside the field.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SPANS_PER_DAY = 12
MAX_CLOSED_DAYS = 500
MAX_LABEL = 100
KEYS = frozenset({"timezone", "days", "closed_dates", "holidays"})


class InvalidHours(ValueError):
    pass


def _parse(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        if hours == "24" and minutes == "00":
            return time.max
        if len(minutes) != 2:
            raise ValueError(value)
        return time(int(hours), int(minutes))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidHours(f"not a HH:MM time: {value!r}") from exc


def _date(value: Any, where: str) -> date:
    if not isinstance(value, str):
        raise InvalidHours(f"{where}: not a YYYY-MM-DD date: {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidHours(f"{where}: not a YYYY-MM-DD date: {value!r}") from exc


def _validate_days(days: Any) -> None:
    if not isinstance(days, Mapping) or not set(days) <= set(DAYS):
        raise InvalidHours(f"days: a mapping with keys among {', '.join(DAYS)}")
    for day, spans in days.items():
        if not isinstance(spans, list) or len(spans) > MAX_SPANS_PER_DAY:
            raise InvalidHours(f"days.{day}: a list of at most {MAX_SPANS_PER_DAY} [start, end]")
        parsed = []
        for i, span in enumerate(spans):
            where = f"days.{day}[{i}]"
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise InvalidHours(f"{where}: each range is [start, end]")
            try:
                start, end = _parse(span[0]), _parse(span[1])
            except InvalidHours as exc:
                raise InvalidHours(f"{where}: {exc}") from None
            if start >= end:
                raise InvalidHours(f"{where}: the range must end after it starts")
            parsed.append((start, end, i))
        parsed.sort()
        for (_s1, end1, _i), (start2, _e2, i2) in itertools.pairwise(parsed):
            if start2 < end1:
                raise InvalidHours(f"days.{day}[{i2}]: overlaps another range of the day")


def _validate_closed(hours: Mapping[str, Any]) -> None:
    closed = hours.get("closed_dates", [])
    if not isinstance(closed, list) or len(closed) > MAX_CLOSED_DAYS:
        raise InvalidHours(f"closed_dates: a list of at most {MAX_CLOSED_DAYS} dates")
    for i, value in enumerate(closed):
        _date(value, f"closed_dates[{i}]")
    holidays = hours.get("holidays", [])
    if not isinstance(holidays, list) or len(holidays) > MAX_CLOSED_DAYS:
        raise InvalidHours(f"holidays: a list of at most {MAX_CLOSED_DAYS} days")
    for i, item in enumerate(holidays):
        where = f"holidays[{i}]"
        if not isinstance(item, Mapping) or not set(item) <= {"date", "label", "yearly"}:
            raise InvalidHours(f"{where}: an object {{date, label, yearly}}")
        _date(item.get("date"), f"{where}.date")
        label = item.get("label", "")
        if not isinstance(label, str) or len(label) > MAX_LABEL:
            raise InvalidHours(f"{where}.label: a text of at most {MAX_LABEL} characters")
        if not isinstance(item.get("yearly", False), bool):
            raise InvalidHours(f"{where}.yearly: true or false")


def validate(hours: dict[str, Any]) -> dict[str, Any]:
    """Check the structure (raises InvalidHours with a reason); returns it unchanged."""
    if not hours:
        return hours
    if unknown := sorted(set(hours) - KEYS):
        raise InvalidHours(f"{unknown[0]}: unknown field (known: {', '.join(sorted(KEYS))})")
    zone = hours.get("timezone", "UTC")
    try:
        if not isinstance(zone, str) or not zone:
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidHours(f"timezone: unknown time zone {zone!r}") from exc
    _validate_days(hours.get("days", {}))
    _validate_closed(hours)
    return hours


def closed_on(hours: Mapping[str, Any], day: date) -> str | None:
    """Why a local calendar day is closed all day: a holiday's label ("" when it has none,
    or for a plain closed date), None when the day is not a closed day."""
    if day.isoformat() in hours.get("closed_dates", []):
        return ""
    for item in hours.get("holidays", []):
        when = date.fromisoformat(item["date"])
        yearly = bool(item.get("yearly", False))
        if when == day or (yearly and (when.month, when.day) == (day.month, day.day)):
            return str(item.get("label", ""))
    return None


def is_open(hours: dict[str, Any], now: datetime) -> bool:
    """Whether the queue is open at `now` (timezone-aware)."""
    if not hours:
        return True
    local = now.astimezone(ZoneInfo(str(hours.get("timezone", "UTC"))))
    if closed_on(hours, local.date()) is not None:
        return False
    spans = hours.get("days", {}).get(DAYS[local.weekday()], [])
    moment = local.time()
    return any(_parse(start) <= moment < _parse(end) for start, end in spans)


def next_opening(hours: dict[str, Any], now: datetime, horizon_days: int = 14) -> datetime | None:
    """The next moment the queue opens (now if open), in UTC terms of `now`'s zone."""
    if is_open(hours, now):
        return now
    zone = ZoneInfo(str(hours.get("timezone", "UTC")))
    local = now.astimezone(zone)
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        if closed_on(hours, day) is not None:
            continue
        for start, _end in sorted(hours.get("days", {}).get(DAYS[day.weekday()], [])):
            opening = datetime.combine(day, _parse(start), zone)
            if opening > local:
                return opening.astimezone(now.tzinfo)
    return None
