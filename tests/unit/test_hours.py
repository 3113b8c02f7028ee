"""Business hours, with time zones and closed dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.routing.hours import DAYS, InvalidHours, closed_on, is_open, next_opening, validate

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


# ---------------------------------------------------------------- holidays and closed dates
XMAS = {
    "timezone": "Europe/Athens",
    "days": {d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in DAYS},
    "holidays": [
        {"date": "2024-12-25", "label": "Christmas", "yearly": True},
        {"date": "2026-04-10", "label": "Good Friday"},
    ],
}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), False),  # yearly, years after its date
        (datetime(2023, 12, 25, 10, 0, tzinfo=UTC), False),  # and before it
        (datetime(2026, 12, 24, 21, 59, tzinfo=UTC), False),  # 23:59 on the 24th in Athens: shut
        (datetime(2026, 12, 26, 7, 0, tzinfo=UTC), True),  # 09:00 on the 26th in Athens
        (datetime(2026, 12, 24, 22, 0, tzinfo=UTC), False),  # 00:00 on the 25th in Athens
        (datetime(2026, 4, 10, 8, 0, tzinfo=UTC), False),  # a one-off holiday
        (datetime(2027, 4, 10, 8, 0, tzinfo=UTC), True),  # ... not a year later (a Saturday)
        (datetime(2026, 4, 9, 10, 30, tzinfo=UTC), False),  # 13:30 Athens: the lunch gap
        (datetime(2026, 4, 9, 11, 0, tzinfo=UTC), True),  # 14:00 Athens: second range
    ],
)
def test_holidays_close_the_local_day(moment: datetime, expected: bool) -> None:
    assert validate(XMAS) is XMAS
    assert is_open(XMAS, moment) is expected


def test_closed_on_names_the_holiday() -> None:
    assert closed_on(XMAS, date(2031, 12, 25)) == "Christmas"
    assert closed_on(XMAS, date(2026, 4, 10)) == "Good Friday"
    assert closed_on(XMAS, date(2027, 4, 10)) is None
    assert closed_on(LISBON, date(2026, 12, 25)) == ""


def test_next_opening_skips_a_yearly_holiday_and_the_lunch_gap() -> None:
    christmas_eve_night = datetime(2027, 12, 24, 20, 0, tzinfo=UTC)  # 22:00 Athens
    assert next_opening(XMAS, christmas_eve_night) == datetime(2027, 12, 26, 7, 0, tzinfo=UTC)
    lunch = datetime(2026, 4, 9, 10, 30, tzinfo=UTC)
    assert next_opening(XMAS, lunch) == datetime(2026, 4, 9, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"days": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "days.mon[1]: overlaps"),
        ({"days": {"tue": "09:00-18:00"}}, "days.tue:"),
        ({"days": {"wed": [["09:00"]]}}, "days.wed[0]:"),
        ({"days": {"thu": [["09:0", "18:00"]]}}, "days.thu[0]: not a HH:MM"),
        ({"holidays": [{"date": "2026-02-30", "label": "x"}]}, "holidays[0].date:"),
        ({"holidays": [{"date": "2026-12-25", "label": 7}]}, "holidays[0].label:"),
        ({"holidays": [{"date": "2026-12-25", "yearly": "yes"}]}, "holidays[0].yearly:"),
        ({"holidays": [{"date": "2026-12-25", "colour": "red"}]}, "holidays[0]:"),
        ({"holidays": {"date": "2026-12-25"}}, "holidays:"),
        ({"closed_dates": [20261225]}, "closed_dates[0]:"),
        ({"timezone": "Mars/Olympus"}, "timezone:"),
        ({"open": True}, "open: unknown field"),
    ],
)
def test_invalid_hours_name_the_faulty_field(bad: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidHours, match=re.escape(where)):
        validate(bad)


_clock = st.integers(0, 23 * 60 + 59).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@given(
    start=_clock,
    length_min=st.integers(1, 600),
    holiday=st.dates(date(2020, 1, 1), date(2035, 12, 31)),
    yearly=st.booleans(),
    probe=st.datetimes(
        datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; zone given
        datetime(2035, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(["UTC", "Europe/Lisbon", "America/New_York", "Asia/Kolkata"]),
)
def test_open_only_inside_ranges_and_never_on_a_holiday(
    start: str, length_min: int, holiday: date, yearly: bool, probe: datetime, zone: str
) -> None:
    begin = int(start[:2]) * 60 + int(start[3:])
    end = min(begin + length_min, 24 * 60)
    end_text = "24:00" if end == 24 * 60 else f"{end // 60:02d}:{end % 60:02d}"
    hours = validate(
        {
            "timezone": zone,
            "days": {d: [[start, end_text]] for d in DAYS},
            "holidays": [{"date": holiday.isoformat(), "label": "h", "yearly": yearly}],
        }
    )
    local = probe.astimezone(ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    same_day = local.date() == holiday or (
        yearly and (local.month, local.day) == (holiday.month, holiday.day)
    )
    assert is_open(hours, probe) is (not same_day and begin <= minute < end)
    opening = next_opening(hours, probe)
    if opening is not None:
        assert opening >= probe
        assert is_open(hours, opening)
