"""The spike rule (analytics/spikes.py): hand-computed limits and its properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.analytics.spikes import FLOOR, MIN_COUNT, Z, control_limit, judge


def test_a_steady_history_sets_a_poisson_limit() -> None:
    # mean 10, sample variance 16/7 (below the mean): the Poisson variance 10 is used
    baseline = [10, 12, 8, 10, 10, 12, 8, 10]
    expected, limit = control_limit(baseline)
    assert expected == 10
    assert limit == pytest.approx(10 + 3 * math.sqrt(10))  # 19.487
    assert not judge(19, baseline).spiked
    assert judge(20, baseline).spiked


def test_an_overdispersed_history_widens_the_limit() -> None:
    # mean 10, sample variance 8 * 100 / 7 = 114.29: sd 10.69, limit 42.07
    baseline = [0, 20, 0, 20, 0, 20, 0, 20]
    expected, limit = control_limit(baseline)
    assert expected == 10
    assert limit == pytest.approx(10 + 3 * math.sqrt(800 / 7))
    assert not judge(42, baseline).spiked
    assert judge(43, baseline).spiked


def test_a_quiet_reason_is_floored_and_few_contacts_are_noise() -> None:
    # no history: expected is the floor 1, the limit 1 + 3 * 1 = 4; 4 contacts is not above
    # it, and 5 is (and is at least MIN_COUNT)
    verdict = judge(4, [0] * 8)
    assert (verdict.expected, verdict.limit, verdict.spiked) == (1.0, 4.0, False)
    assert judge(5, [0] * 8).spiked
    # a stricter limit with a lower z still leaves 3 contacts alone (MIN_COUNT)
    assert not judge(3, [0] * 8, z=1.0).spiked


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        judge(-1, [1])
    with pytest.raises(ValueError):
        control_limit([1, -2])
    with pytest.raises(ValueError):
        control_limit([1], z=0)


counts = st.integers(min_value=0, max_value=5000)


@given(level=counts, weeks=st.integers(min_value=1, max_value=12))
def test_no_spike_on_a_flat_history(level: int, weeks: int) -> None:
    assert not judge(level, [level] * weeks).spiked


@given(baseline=st.lists(counts, min_size=1, max_size=10))
def test_never_a_spike_at_or_below_the_busiest_past_week(baseline: list[int]) -> None:
    # the variance is at least the sample variance, and no sample lies more than
    # (n - 1) / sqrt(n) sample deviations from the mean (Samuelson): under 3 for n <= 10
    # (with 11 or more weeks one outlier week could itself be above the limit)
    assert not judge(max(baseline), baseline).spiked


@given(level=st.integers(min_value=0, max_value=2000), weeks=st.integers(min_value=2, max_value=12))
def test_a_clear_jump_is_flagged(level: int, weeks: int) -> None:
    expected = max(level, FLOOR)
    jump = math.floor(expected + Z * math.sqrt(expected)) + 1
    assert judge(max(jump, MIN_COUNT), [level] * weeks).spiked


@given(
    count=st.integers(min_value=0, max_value=MIN_COUNT - 1),
    baseline=st.lists(counts, min_size=0, max_size=12),
)
def test_few_contacts_are_never_a_spike(count: int, baseline: list[int]) -> None:
    assert not judge(count, baseline).spiked


@given(baseline=st.lists(counts, min_size=0, max_size=12), count=counts)
def test_more_contacts_never_undo_a_spike(baseline: list[int], count: int) -> None:
    if judge(count, baseline).spiked:
        assert judge(count + 1, baseline).spiked
