"""Business hours, with time zones and closed dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from threadline.routing.hours import InvalidHours, is_open, next_opening, validate

LISBON = {
    "timezone": "Europe/Lisbon",
    "days": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    "closed_dates": ["2026-12-25"],
}


def test_empty_hours_are_always_open() -> None:
    assert is_open({}, datetime(2026, 11, 22, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), True),  # Monday 09:00 Lisbon (UTC+0)
        (datetime(2026, 11, 23, 8, 59, tzinfo=UTC), False),
        (datetime(2026, 11, 23, 18, 0, tzinfo=UTC), False),  # end is exclusive
        (datetime(2026, 11, 22, 12, 0, tzinfo=UTC), False),  # Sunday
        (datetime(2026, 7, 6, 8, 30, tzinfo=UTC), True),  # summer: 09:30 Lisbon (UTC+1)
        (datetime(2026, 12, 25, 12, 0, tzinfo=UTC), False),  # closed date
    ],
)
def test_is_open_in_the_queue_time_zone(moment: datetime, expected: bool) -> None:
    assert is_open(LISBON, moment) is expected


def test_next_opening_skips_weekend_and_holiday() -> None:
    friday_evening = datetime(2026, 12, 24, 19, 0, tzinfo=UTC)  # Thursday 24th, then 25th closed
    assert next_opening(LISBON, friday_evening) == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)
    open_now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert next_opening(LISBON, open_now) == open_now


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Mars/Olympus"},
        {"days": {"funday": []}},
        {"days": {"mon": [["18:00", "09:00"]]}},
        {"days": {"mon": [["9am", "5pm"]]}},
        {"closed_dates": ["25/12/2026"]},
    ],
)
def test_invalid_hours_are_refused_with_a_reason(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidHours):
        validate(bad)
