"""The pure callback policy: parsing, when to offer, retries and booked windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.queueing import erlang
from threadline.routing.callback_policy import (
    CallbackPolicy,
    InvalidPolicy,
    Window,
    next_attempt_at,
    offerable,
    parse_policy,
    should_offer,
    window_capacity,
    windows,
)

PLAN = {
    "enabled": True,
    "offer_after_s": 120,
    "retry_after_s": [60, 300],
    "max_attempts": 3,
    "window_minutes": 30,
    "book_days": 2,
    "min_notice_minutes": 30,
    "timezone": "Europe/Lisbon",
    "plan": {"tue": [["09:00", "12:00", 4], ["11:00", "13:00", 2]]},
}


def test_an_empty_policy_offers_nothing() -> None:
    policy = parse_policy({})
    assert policy == CallbackPolicy()
    assert not should_offer(policy, 10_000.0)


def test_round_trip_and_offer_threshold() -> None:
    policy = parse_policy(PLAN)
    assert parse_policy(policy.as_data()) == policy
    assert should_offer(policy, 121.0)
    assert not should_offer(policy, 120.0)
    assert not should_offer(policy, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"offer_after_s": "soon"}, "offer_after_s must be a number"),
        ({"max_attempts": 0}, "max_attempts must be between"),
        ({"retry_after_s": []}, "retry_after_s"),
        ({"window_minutes": 7}, "window_minutes must divide a day"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"plan": {"funday": []}}, "plan must map days"),
        ({"plan": {"mon": [["09:00", "08:00", 3]]}}, "end after it starts"),
        ({"plan": {"mon": [["9", "10:00", 3]]}}, "HH:MM"),
        ({"plan": {"mon": [["09:00", "10:00", -1]]}}, "agents must be"),
        ({"colour": "blue"}, "unknown callback policy field"),
        ({"enabled": "yes"}, "true or false"),
    ],
)
def test_bad_policies_say_why(change: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidPolicy, match=reason):
        parse_policy({**PLAN, **change})


def test_retries_follow_the_spacing_then_stop() -> None:
    policy = parse_policy(PLAN)
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert next_attempt_at(policy, 1, now) == now + timedelta(seconds=60)
    assert next_attempt_at(policy, 2, now) == now + timedelta(seconds=300)
    assert next_attempt_at(policy, 3, now) is None
    longer = parse_policy({**PLAN, "max_attempts": 5})
    assert next_attempt_at(longer, 4, now) == now + timedelta(seconds=300)  # the last repeats


def test_windows_follow_the_plan_in_local_time() -> None:
    policy = parse_policy(PLAN)
    # Monday 23 Nov 2026 20:00 UTC; Lisbon is UTC+0 in winter
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    found = windows(policy, now)
    starts = [w.start.strftime("%a %H:%M") for w in found]
    assert starts[0] == "Tue 09:00" and starts[-1] == "Tue 12:30"
    assert len(found) == 8  # 09:00 .. 13:00 in half hours
    by_start = {w.start.strftime("%H:%M"): w.agents for w in found}
    assert by_start["10:30"] == 4
    assert by_start["11:00"] == 6  # two shifts overlap
    assert by_start["12:00"] == 2
    assert all(w.end - w.start == timedelta(minutes=30) for w in found)


def test_windows_respect_notice_and_business_hours() -> None:
    policy = parse_policy(PLAN)
    now = datetime(2026, 11, 24, 9, 50, tzinfo=UTC)
    found = windows(policy, now)
    assert found[0].start.strftime("%H:%M") == "10:30"  # 30 minutes notice
    hours = {"timezone": "Europe/Lisbon", "days": {"tue": [["09:00", "11:00"]]}}
    open_only = windows(policy, now, hours)
    assert [w.start.strftime("%H:%M") for w in open_only] == ["10:30"]


def test_capacity_is_what_keeps_the_service_level() -> None:
    # 4 agents, 30 minutes, AHT 5 min: 24 calls would be full occupancy
    room = window_capacity(4, 1800, 10.0, 2, 300.0, 20.0, 0.8)
    assert room > 0
    load_ok = (10 + 2 + room) * 300 / 1800
    load_over = (10 + 2 + room + 1) * 300 / 1800
    assert erlang.erlang_c(4, load_ok, 300, 20).service_level >= 0.8
    assert load_over >= 4 or erlang.erlang_c(4, load_over, 300, 20).service_level < 0.8
    assert window_capacity(4, 1800, 30.0, 0, 300.0, 20.0, 0.8) == 0  # forecast alone fills it
    assert window_capacity(0, 1800, 0.0, 0, 300.0, 20.0, 0.8) == 0


@given(
    agents=st.integers(1, 60),
    forecast=st.floats(0, 200),
    booked=st.integers(0, 50),
)
def test_capacity_shrinks_as_demand_grows(agents: int, forecast: float, booked: int) -> None:
    base = window_capacity(agents, 1800, forecast, booked, 240.0, 20.0, 0.8)
    more = window_capacity(agents, 1800, forecast + 5, booked, 240.0, 20.0, 0.8)
    assert 0 <= more <= base
    if base:
        assert window_capacity(agents, 1800, forecast, booked + base, 240.0, 20.0, 0.8) == 0
    assert window_capacity(agents + 1, 1800, forecast, booked, 240.0, 20.0, 0.8) >= base


def test_only_windows_with_room_are_offered() -> None:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    full = Window(start, start + timedelta(minutes=30), 2)
    free = Window(start + timedelta(minutes=30), start + timedelta(minutes=60), 2)
    result = offerable(
        [full, free],
        forecast=lambda w: 20.0 if w is full else 0.0,
        booked=lambda w: 0,
        aht_s=300.0,
        answer_within_s=20.0,
        target=0.8,
    )
    assert [w for w, _ in result] == [free]
