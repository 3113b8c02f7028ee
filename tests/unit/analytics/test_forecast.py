"""The contact forecast: WAPE by hand, closed slots, holidays, DST, the horizon, short
histories, reading the CSV, and properties that hold for any history."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.analytics.forecast import (
    BASELINE,
    ForecastPoint,
    HistoryError,
    Observation,
    forecast,
    read_history_csv,
    wape,
)

LISBON = ZoneInfo("Europe/Lisbon")
MONDAY = date(2026, 1, 5)


def history(
    days: int,
    *,
    first: date = MONDAY,
    zone: ZoneInfo = LISBON,
    minutes: int = 30,
    hours: tuple[int, int] = (9, 12),
    closed_weekdays: tuple[int, ...] = (6,),
    value: Callable[[date, int], float] = lambda day, slot: 10.0,
    skip: Callable[[datetime], bool] = lambda start: False,
    handle: float | None = None,
) -> list[Observation]:
    """Intervals open from hours[0] to hours[1] local time, except on closed weekdays."""
    rows = []
    for index in range(days):
        day = first + timedelta(days=index)
        if day.weekday() in closed_weekdays:
            continue
        for slot in range(hours[0] * 60 // minutes, hours[1] * 60 // minutes):
            start = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
                minutes=slot * minutes
            )
            if not skip(start):
                rows.append(Observation(start, value(day, slot), handle))
    return rows


def offsets_only(rows: list[Observation]) -> list[Observation]:
    """The rows as a CSV gives them: fixed UTC offsets, no zone name."""
    return [
        Observation(
            r.interval_start.astimezone(timezone(r.interval_start.utcoffset() or timedelta(0))),
            r.contacts,
        )
        for r in rows
    ]


def utc_steps(points: Sequence[ForecastPoint]) -> set[timedelta]:
    """Gaps between successive intervals in real time (same-zone subtraction is wall time)."""
    moments = [p.interval_start.astimezone(UTC) for p in points]
    return {b - a for a, b in itertools.pairwise(moments)}


def local_hm(point_start: datetime) -> tuple[int, int]:
    local = point_start.astimezone(LISBON)
    return local.hour, local.minute


# --- WAPE -------------------------------------------------------------------------------


def test_wape_by_hand() -> None:
    # |10-12| + |0-1| + |30-24| = 9, over 40 contacts
    assert wape([10, 0, 30], [12, 1, 24]) == pytest.approx(0.225)
    assert wape([5, 5], [5, 5]) == 0.0


def test_wape_without_contacts_is_undefined() -> None:
    with pytest.raises(ValueError, match="undefined"):
        wape([0, 0], [1, 2])


# --- closed intervals and holidays ----------------------------------------------------------


def test_slots_closed_every_week_are_forecast_zero_and_open_ones_are_not() -> None:
    result = forecast(history(28), minutes=30, horizon=timedelta(days=7))
    for point in result.points:
        hour, _ = local_hm(point.interval_start)
        sunday = point.interval_start.astimezone(LISBON).weekday() == 6
        if sunday or not 9 <= hour < 12:
            assert point.contacts == 0.0, point
        else:
            assert point.contacts == pytest.approx(10.0, abs=0.5), point


def test_a_one_off_closure_is_a_gap_not_a_zero_that_drags_the_average() -> None:
    outage = datetime(2026, 1, 28, 10, 0, tzinfo=LISBON)  # the last Wednesday, 10:00

    result = forecast(
        history(28, skip=lambda start: start == outage),
        minutes=30,
        horizon=timedelta(days=7),
        models=(BASELINE,),
    )

    wednesday_10 = next(
        p
        for p in result.points
        if p.interval_start.astimezone(LISBON).weekday() == 2
        and local_hm(p.interval_start) == (10, 0)
    )
    assert wednesday_10.contacts == pytest.approx(10.0)  # a zero counted would give 7.5


def test_holidays_are_left_out_of_the_history_and_forecast_zero() -> None:
    holiday_in_history = date(2026, 1, 21)  # a Wednesday: closed, so not listed
    rows = history(28, skip=lambda start: start.date() == holiday_in_history)
    holiday_ahead = date(2026, 2, 4)  # the next Wednesday

    result = forecast(
        rows,
        minutes=30,
        horizon=timedelta(days=7),
        holidays=[holiday_in_history, holiday_ahead],
        models=(BASELINE,),
    )

    by_day: dict[date, float] = {}
    for point in result.points:
        day = point.interval_start.astimezone(LISBON).date()
        by_day[day] = by_day.get(day, 0.0) + point.contacts
    assert by_day[holiday_ahead] == 0.0
    assert by_day[date(2026, 2, 3)] == pytest.approx(60.0)  # Tuesday: 6 intervals of 10

    without = forecast(rows, minutes=30, horizon=timedelta(days=7), models=(BASELINE,))
    wednesday = sum(
        p.contacts
        for p in without.points
        if p.interval_start.astimezone(LISBON).date() == holiday_ahead
    )
    assert wednesday == pytest.approx(60.0)  # the missed Wednesday did not close the slot


# --- time zones and daylight saving time ----------------------------------------------------


def test_dst_in_the_history_gives_the_zone_and_keeps_opening_hours_local() -> None:
    # 4 weeks from 2026-03-09; Lisbon goes from +00:00 to +01:00 on 2026-03-29
    rows = offsets_only(history(28, first=date(2026, 3, 9)))
    assert {r.interval_start.utcoffset() for r in rows} == {timedelta(0), timedelta(hours=1)}

    result = forecast(rows, minutes=30, horizon=timedelta(days=7))

    summer = datetime(2026, 7, 1, tzinfo=UTC).astimezone(ZoneInfo(result.timezone))
    assert summer.utcoffset() == timedelta(hours=1)
    opened = {local_hm(p.interval_start) for p in result.points if p.contacts > 0}
    assert min(opened) == (9, 0) and max(opened) == (11, 30)
    assert all(p.interval_start.utcoffset() == timedelta(hours=1) for p in result.points)


def test_a_horizon_across_the_dst_change_follows_the_zone_given() -> None:
    rows = offsets_only(history(26, first=date(2026, 2, 23)))  # to Friday 20 March, +00:00

    result = forecast(rows, minutes=30, horizon=timedelta(days=14), zone="Europe/Lisbon")

    offsets = [p.interval_start.utcoffset() for p in result.points]
    assert offsets[0] == timedelta(0) and offsets[-1] == timedelta(hours=1)
    after = [p for p in result.points if p.interval_start.date() >= date(2026, 3, 30)]
    opened = {local_hm(p.interval_start) for p in after if p.contacts > 0}
    assert min(opened) == (9, 0) and max(opened) == (11, 30)  # 09:00 local, not 10:00
    assert utc_steps(result.points) == {timedelta(minutes=30)}  # 23-hour day: none twice or lost


def test_one_offset_and_no_zone_keeps_that_offset_and_says_so() -> None:
    result = forecast(offsets_only(history(21)), minutes=30, horizon=timedelta(days=1))
    assert result.timezone == "+0000"
    assert any("--tz" in note for note in result.notes)


def test_a_history_given_in_a_zone_is_read_in_that_zone() -> None:
    result = forecast(history(21), minutes=30, horizon=timedelta(days=1))
    assert result.timezone == "Europe/Lisbon"
    assert not any("--tz" in note for note in result.notes)


# --- the horizon ----------------------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "hours"), [(15, 48), (30, 168), (60, 24)])
def test_the_horizon_has_every_interval_from_the_end_of_the_history(
    minutes: int, hours: int
) -> None:
    rows = history(21, minutes=minutes)

    result = forecast(rows, minutes=minutes, horizon=timedelta(hours=hours))

    assert len(result.points) == hours * 60 // minutes
    assert result.points[0].interval_start == rows[-1].interval_start + timedelta(minutes=minutes)
    assert utc_steps(result.points) == {timedelta(minutes=minutes)}


def test_a_given_start_is_honoured() -> None:
    start = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)
    result = forecast(history(21, minutes=60), minutes=60, horizon=timedelta(days=1), start=start)
    assert result.points[0].interval_start == start
    assert len(result.points) == 24


# --- model choice and short histories -------------------------------------------------------


def test_models_are_backtested_and_the_lowest_wape_wins() -> None:
    # a level that grows 3% a week: last week's level beats the 4-week mean
    def growing(day: date, slot: int) -> float:
        return 20.0 * 1.03 ** ((day - MONDAY).days // 7) * (1 + 0.2 * (slot % 3))

    result = forecast(history(56, value=growing), minutes=30, horizon=timedelta(days=7))

    assert set(result.backtest) == {
        "mean_4w",
        "seasonal_naive",
        "profile_median",
        "profile_trimmed",
        "holt_winters",
        "day_shape",
        "combined",
    }
    assert result.wape == min(result.backtest.values())
    assert result.backtest[result.model] == result.wape
    assert result.wape < result.backtest[BASELINE]


def test_day_shape_follows_a_level_shift_at_once() -> None:
    # 10 an interval (20 on Mondays), doubled over the last 7 full days before the forecast
    # (it starts on Saturday 14 February at noon: the last 7 full days began on the 7th)
    def doubled(day: date, slot: int) -> float:
        base = 20.0 if day.weekday() == 0 else 10.0
        return base * (2 if day >= date(2026, 2, 7) else 1)

    result = forecast(
        history(42, value=doubled), minutes=30, horizon=timedelta(days=7), models=("day_shape",)
    )

    by_day: dict[int, set[float]] = {}
    for point in result.points:
        if point.contacts:
            weekday = point.interval_start.astimezone(LISBON).weekday()
            by_day.setdefault(weekday, set()).add(round(point.contacts, 6))
    assert by_day == {0: {40.0}, 1: {20.0}, 2: {20.0}, 3: {20.0}, 4: {20.0}, 5: {20.0}}


def test_under_two_weeks_there_is_no_backtest_and_it_says_so() -> None:
    result = forecast(history(10), minutes=30, horizon=timedelta(days=2))
    assert result.model == BASELINE
    assert result.wape is None
    assert any("too short" in note for note in result.notes)


def test_under_a_week_the_time_of_day_profile_is_used() -> None:
    result = forecast(history(4), minutes=30, horizon=timedelta(days=1))
    assert result.model == "daily_profile"
    assert any("too short" in note for note in result.notes)
    nine = next(p for p in result.points if local_hm(p.interval_start) == (9, 0))
    assert nine.contacts == pytest.approx(10.0)


def test_three_weeks_skip_holt_winters_and_say_so() -> None:
    result = forecast(history(21), minutes=30, horizon=timedelta(days=1))
    assert "holt_winters" not in result.backtest
    assert any("holt_winters needs" in note for note in result.notes)


def test_less_than_a_day_is_refused() -> None:
    rows = history(1, hours=(9, 10))
    with pytest.raises(HistoryError, match="one day"):
        forecast(rows, minutes=30, horizon=timedelta(days=1), start=rows[-1].interval_start)


# --- handle time --------------------------------------------------------------------------


def test_handle_time_is_forecast_where_the_history_has_it() -> None:
    result = forecast(history(21, handle=240.0), minutes=30, horizon=timedelta(days=3))
    assert result.has_handle_time
    opened = [p for p in result.points if p.contacts > 0]
    assert opened and all(p.handle_time_s == pytest.approx(240.0) for p in opened)
    assert all(p.handle_time_s is None for p in result.points if p.contacts == 0)

    without = forecast(history(21), minutes=30, horizon=timedelta(days=1))
    assert not without.has_handle_time


# --- reading the CSV ------------------------------------------------------------------------


def test_a_csv_is_read_with_offsets_and_the_optional_handle_time() -> None:
    rows = read_history_csv(
        [
            "interval_start,contacts,handle_time_s\n",
            "2026-03-28T09:00:00+00:00,12,180\n",
            "2026-03-29T09:00:00+01:00,7,\n",
        ]
    )
    assert rows[0] == Observation(datetime(2026, 3, 28, 9, tzinfo=UTC), 12.0, 180.0)
    assert rows[1].handle_time_s is None
    assert rows[1].interval_start.utcoffset() == timedelta(hours=1)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["start,calls\n", "2026-01-05T09:00:00+00:00,3\n"], "interval_start and contacts"),
        (["interval_start,contacts\n", "2026-01-05T09:00:00,3\n"], "line 2: .* no offset"),
        (["interval_start,contacts\n", "2026-01-05T09:00:00Z,-1\n"], "zero or more"),
        (["interval_start,contacts\n", "2026-01-05T09:00:00Z,many\n"], "not a number"),
        (["interval_start,contacts\n", "yesterday,3\n"], "not an ISO 8601"),
        (["interval_start,contacts\n"], "no rows"),
    ],
)
def test_bad_csv_rows_are_refused_with_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        read_history_csv(lines)


def test_intervals_listed_twice_or_off_the_grid_are_refused() -> None:
    twice = [
        Observation(datetime(2026, 1, 5, 9, tzinfo=UTC), 1),
        Observation(datetime(2026, 1, 5, 10, tzinfo=ZoneInfo("Europe/Athens")), 1),  # 08:00Z
        Observation(datetime(2026, 1, 5, 8, tzinfo=UTC), 1),
    ]
    with pytest.raises(HistoryError, match="listed twice"):
        forecast(twice, minutes=30, horizon=timedelta(days=1))


def test_a_finer_history_is_summed_into_the_interval() -> None:
    quarter_hours = history(21, minutes=15, value=lambda day, slot: 4.0)

    result = forecast(quarter_hours, minutes=30, horizon=timedelta(days=2), models=(BASELINE,))

    opened = [p.contacts for p in result.points if p.contacts > 0]
    assert len(opened) == 6 and set(opened) == {8.0}  # 09:00-12:00, two quarters of 4 each


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    days=st.integers(min_value=2, max_value=30),
    counts=st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=40),
    gaps=st.sets(st.integers(min_value=0, max_value=400), max_size=60),
    minutes=st.sampled_from([15, 30, 60]),
)
def test_forecasts_are_finite_non_negative_and_cover_the_horizon(
    days: int, counts: list[int], gaps: set[int], minutes: int
) -> None:
    rows = history(
        days,
        minutes=minutes,
        hours=(8, 14),
        closed_weekdays=(),
        value=lambda day, slot: float(counts[((day - MONDAY).days * 7 + slot) % len(counts)]),
    )
    kept = [row for index, row in enumerate(rows) if index not in gaps or index == len(rows) - 1]
    kept = kept if kept[0] == rows[0] else [rows[0], *kept]

    result = forecast(
        kept,
        minutes=minutes,
        horizon=timedelta(days=2),
        start=rows[-1].interval_start + timedelta(days=1),
    )

    assert len(result.points) == 2 * 24 * 60 // minutes
    assert all(math.isfinite(p.contacts) and p.contacts >= 0 for p in result.points)
    assert all(0 <= score < math.inf for score in result.backtest.values())
