"""Agents required and available, the roster's gap and the week's half hours
(planning/staffing.py), against hand-computed cases and a textbook Erlang C."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.planning import staffing

LISBON = ZoneInfo("Europe/Lisbon")


def textbook_erlang_c_sl(agents: int, load: float, aht_s: float, within_s: float) -> float:
    """SL = 1 - C(s, A) e^{-(s - A) t / AHT}, C from the factorial formula (small s only)."""
    if load >= agents:
        return 0.0
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    bottom = sum(load**k / math.factorial(k) for k in range(agents)) + top
    return 1.0 - top / bottom * math.exp(-(agents - load) * within_s / aht_s)


def test_required_adds_shrinkage_and_rounds_up() -> None:
    assert staffing.required(7, 0.3) == 10  # 7 / 0.7 = 10 exactly, not 11 by rounding noise
    assert staffing.required(8, 0.3) == 12  # 11.43
    assert staffing.required(5, 0.0) == 5
    assert staffing.required(0, 0.3) == 0
    assert staffing.required(1, 0.5) == 2


def test_available_takes_shrinkage_off_and_rounds_down() -> None:
    assert staffing.available(10, 0.3) == 7
    assert staffing.available(3, 0.3) == 2  # 2.1
    assert staffing.available(0, 0.3) == 0
    assert staffing.available(4, 0.0) == 4


@pytest.mark.parametrize("shrinkage", [-0.1, 0.95, 1.0])
def test_shrinkage_out_of_range_is_refused(shrinkage: float) -> None:
    with pytest.raises(ValueError, match="shrinkage"):
        staffing.required(3, shrinkage)


def test_without_hang_ups_the_agents_are_the_textbook_erlang_c() -> None:
    # 100 contacts in half an hour, 3 minutes each: 10 Erlangs; 80% within 20 s
    found = staffing.agents_taking_contacts(
        100, 180, answer_within_s=20, target=0.8, patience_s=math.inf
    )
    assert textbook_erlang_c_sl(found, 10.0, 180, 20) >= 0.8
    assert textbook_erlang_c_sl(found - 1, 10.0, 180, 20) < 0.8
    assert found == 14  # 13 agents answer 79.6% in time, 14 answer 88.8%


def test_patience_lowers_the_agents_needed_and_no_contact_needs_none() -> None:
    patient = staffing.agents_taking_contacts(
        100, 180, answer_within_s=20, target=0.8, patience_s=math.inf
    )
    hasty = staffing.agents_taking_contacts(100, 180, answer_within_s=20, target=0.8, patience_s=60)
    assert 10 <= hasty <= patient
    assert (
        staffing.agents_taking_contacts(0, 180, answer_within_s=20, target=0.8, patience_s=60) == 0
    )


@given(
    contacts=st.floats(0.5, 400),
    handle_s=st.floats(30, 900),
    target=st.floats(0.5, 0.95),
)
def test_the_agents_meet_the_target_and_one_fewer_does_not(
    contacts: float, handle_s: float, target: float
) -> None:
    from threadline.queueing import erlang

    found = staffing.agents_taking_contacts(
        contacts, handle_s, answer_within_s=20, target=target, patience_s=180
    )
    load = erlang.offered_load(contacts, 1800, handle_s)
    assert erlang.erlang_a(found, load, handle_s, 180, 20).service_level >= target
    if found > 1:
        assert erlang.erlang_a(found - 1, load, handle_s, 180, 20).service_level < target


def test_a_week_has_336_half_hours_except_when_the_clocks_change() -> None:
    plain = staffing.week_intervals(date(2026, 11, 30), LISBON)
    assert len(plain) == 336
    assert plain[0] == datetime(2026, 11, 30, tzinfo=LISBON)
    assert plain[-1] == datetime(2026, 12, 6, 23, 30, tzinfo=LISBON)
    assert len(staffing.week_intervals(date(2027, 3, 22), LISBON)) == 334  # spring forward
    assert len(staffing.week_intervals(date(2026, 10, 19), LISBON)) == 338  # fall back


def test_the_roster_key_is_the_local_weekday_and_half_hour() -> None:
    assert staffing.roster_key(datetime(2026, 11, 30, 9, 45, tzinfo=LISBON), LISBON) == (0, 570)
    utc_sunday_night = datetime(2026, 12, 6, 23, 10, tzinfo=ZoneInfo("UTC"))
    athens = ZoneInfo("Europe/Athens")
    assert staffing.roster_key(utc_sunday_night, athens) == (0, 60)  # Monday 01:10 there


def test_needs_compare_required_with_planned() -> None:
    starts = staffing.week_intervals(date(2026, 11, 30), LISBON)[18:21]  # Monday 09:00-10:30
    needs = staffing.needs(
        starts,
        [100.0, 0.0, 100.0],
        [180.0, 180.0, 180.0],
        {(0, 540): 20, (0, 600): 5},
        LISBON,
        answer_within_s=20,
        target=0.8,
        patience_s=math.inf,
        shrinkage=0.3,
    )
    assert [n.on_phones for n in needs] == [14, 0, 14]
    assert [n.required for n in needs] == [20, 0, 20]  # 14 / 0.7 = 20
    assert [n.planned for n in needs] == [20, 0, 5]
    assert [n.gap for n in needs] == [0, 0, -15]


def test_staffing_steps_follow_the_roster_after_shrinkage() -> None:
    assert staffing.staffing_steps([3, 3, 5, 0], 0.3) == [(0.0, 2), (3600.0, 3), (5400.0, 0)]
    assert staffing.staffing_steps([4], 0.0) == [(0.0, 4)]
