"""Business hours: is a queue open at a moment, and when does it open next. Pure.

Format: {"timezone": "Europe/Lisbon", "days": {"mon": [["09:00", "18:00"]], ...},
"closed_dates": ["2026-12-25"]}. An empty dict means always open.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class InvalidHours(ValueError):
    pass


def _parse(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        if hours == "24" and minutes == "00":
            return time.max
        return time(int(hours), int(minutes))
    except (ValueError, TypeError) as exc:
        raise InvalidHours(f"not a HH:MM time: {value!r}") from exc


def validate(hours: dict[str, Any]) -> dict[str, Any]:
    """Check the structure (raises InvalidHours with a reason); returns it unchanged."""
    if not hours:
        return hours
    try:
        ZoneInfo(str(hours.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidHours(f"unknown time zone {hours.get('timezone')!r}") from exc
    days = hours.get("days", {})
    if not isinstance(days, dict) or not set(days) <= set(DAYS):
        raise InvalidHours(f"days must be a mapping with keys among {', '.join(DAYS)}")
    for day, spans in days.items():
        for span in spans:
            if len(span) != 2 or _parse(span[0]) >= _parse(span[1]):
                raise InvalidHours(f"{day}: each span is [start, end] with start < end")
    for value in hours.get("closed_dates", []):
        try:
            datetime.strptime(value, "%Y-%m-%d")  # noqa: DTZ007 - a calendar date, no time
        except (ValueError, TypeError) as exc:
            raise InvalidHours(f"not a YYYY-MM-DD date: {value!r}") from exc
    return hours


def is_open(hours: dict[str, Any], now: datetime) -> bool:
    """Whether the queue is open at `now` (timezone-aware)."""
    if not hours:
        return True
    local = now.astimezone(ZoneInfo(str(hours.get("timezone", "UTC"))))
    if local.date().isoformat() in hours.get("closed_dates", []):
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
        if day.isoformat() in hours.get("closed_dates", []):
            continue
        for start, _end in sorted(hours.get("days", {}).get(DAYS[day.weekday()], [])):
            opening = datetime.combine(day, _parse(start), zone)
            if opening > local:
                return opening.astimezone(now.tzinfo)
    return None
