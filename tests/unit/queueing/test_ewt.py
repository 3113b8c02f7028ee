"""EWT predictors: closed forms, estimators, the blend and the customer-facing range."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.queueing import ewt


def busy_state(ahead: int, agents: int = 10, **extra: float) -> ewt.QueueState:
    return ewt.QueueState(
        ahead=ahead,
        agents_staffed=agents,
        agents_busy=agents,
        mean_handle_s=extra.pop("mean_handle_s", 180.0),
        **extra,
    )


@pytest.mark.parametrize(
    ("ahead", "agents", "handle_s"), [(0, 1, 60.0), (4, 10, 180.0), (99, 200, 300.0)]
)
def test_ql_is_n_plus_one_service_completions(ahead: int, agents: int, handle_s: float) -> None:
    # M/M/s: n+1 departures at rate s*mu, so E[W | n ahead] = (n+1) / (s mu).
    assert ewt.ql_wait_s(ahead, agents, handle_s) == pytest.approx((ahead + 1) * handle_s / agents)


def test_abandonment_corrected_ql_is_the_sum_of_moves_up() -> None:
    # Ibrahim & Whitt: sum_{j=0..n} 1 / (s mu + j theta).
    s, mu, theta = 10, 1 / 180, 1 / 600
    expected = sum(1 / (s * mu + j * theta) for j in range(6))
    assert ewt.ql_wait_s(5, s, 180.0, theta) == pytest.approx(expected)


@given(st.integers(0, 500), st.integers(1, 300), st.floats(10, 1000))
def test_abandonment_corrected_ql_reduces_to_ql_without_hangups(
    ahead: int, agents: int, handle_s: float
) -> None:
    assert ewt.ql_wait_s(ahead, agents, handle_s, 0.0) == pytest.approx(
        (ahead + 1) * handle_s / agents
    )
    assert ewt.ql_wait_s(ahead, agents, handle_s, 1e-3) <= ewt.ql_wait_s(ahead, agents, handle_s)


@given(st.integers(0, 200), st.integers(1, 100))
def test_ql_grows_with_the_queue_and_shrinks_with_agents(ahead: int, agents: int) -> None:
    assert ewt.ql(busy_state(ahead + 1, agents)) > ewt.ql(busy_state(ahead, agents))
    assert ewt.ql(busy_state(ahead, agents + 1)) < ewt.ql(busy_state(ahead, agents))


def test_a_free_agent_means_no_wait_for_every_predictor() -> None:
    state = ewt.QueueState(
        ahead=1,
        agents_staffed=10,
        agents_busy=8,
        mean_handle_s=180.0,
        last_delay_s=40.0,
        head_wait_s=5.0,
    )
    assert ewt.predict_each(state) == {ewt.QL: 0.0, ewt.LES: 0.0, ewt.HOL: 0.0}


def test_agents_finishing_after_their_shift_must_leave_first() -> None:
    over = ewt.QueueState(ahead=0, agents_staffed=10, agents_busy=12, mean_handle_s=180.0)
    assert ewt.ql(over) == pytest.approx(180 / 12 + 180 / 11 + 180 / 10)


def test_no_agents_means_an_unbounded_wait() -> None:
    assert ewt.ql_wait_s(3, 0, 180.0) == math.inf


def test_delay_history_predictors() -> None:
    state = busy_state(3, last_delay_s=42.0, head_wait_s=55.0)
    assert ewt.les(state) == 42.0
    assert ewt.hol(state) == 55.0
    # Nobody waiting: the arriving contact becomes the head, the last delay stands in.
    assert ewt.hol(busy_state(0, last_delay_s=42.0)) == 42.0
    assert ewt.les(busy_state(0)) == 0.0


def test_handle_time_estimator_tracks_a_new_mean() -> None:
    est = ewt.HandleTimeEstimator(180.0, alpha=0.05)
    for _ in range(300):
        est.add(240.0)
    assert est.mean_s == pytest.approx(240.0, rel=1e-3)


def test_abandonment_estimator_recovers_exponential_patience() -> None:
    rng = random.Random(4)
    est = ewt.AbandonmentEstimator(alpha=1e-4)
    for _ in range(20_000):
        patience, wait = rng.expovariate(1 / 300), rng.expovariate(1 / 100)
        est.add(min(patience, wait), abandoned=patience < wait)
    assert est.rate_per_s == pytest.approx(1 / 300, rel=0.05)
    assert ewt.AbandonmentEstimator().rate_per_s == 0.0


def feed(blend: ewt.BlendedPredictor, actual: float, n: int = 3000, seed: int = 1) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        q = rng.uniform(10, 300)
        estimates = {
            ewt.QL: q,
            ewt.LES: q * rng.uniform(0.5, 1.5),
            ewt.HOL: q * rng.uniform(0.5, 1.5),
        }
        blend.observe(estimates, actual * q)


def test_blend_starts_as_ql_and_stays_there_when_ql_is_right() -> None:
    blend = ewt.BlendedPredictor()
    assert blend.predict({ewt.QL: 100.0, ewt.LES: 5.0, ewt.HOL: 7.0}) == 100.0
    feed(blend, actual=1.0)
    weights = blend.weights
    assert weights[ewt.QL] == pytest.approx(1.0, abs=0.02)
    assert abs(weights[ewt.LES]) + abs(weights[ewt.HOL]) < 0.02


def test_blend_corrects_a_biased_ql() -> None:
    blend = ewt.BlendedPredictor()
    feed(blend, actual=2.0)  # the queue is twice as slow as QL thinks
    assert blend.predict({ewt.QL: 100.0, ewt.LES: 100.0, ewt.HOL: 100.0}) == pytest.approx(
        200.0, rel=0.1
    )


def test_blend_moves_towards_a_more_accurate_predictor() -> None:
    rng = random.Random(2)

    def contact() -> tuple[dict[str, float], float]:
        actual = rng.uniform(10, 300)
        estimates = {
            ewt.QL: actual * rng.uniform(0.6, 1.4),
            ewt.LES: actual * rng.uniform(0.6, 1.4),
            ewt.HOL: actual * rng.uniform(0.95, 1.05),
        }
        return estimates, actual

    blend = ewt.BlendedPredictor()
    for _ in range(5000):
        blend.observe(*contact())
    assert blend.weights[ewt.HOL] > blend.weights[ewt.LES]
    assert blend.recent_rmse_s()[ewt.HOL] < blend.recent_rmse_s()[ewt.QL] / 5
    fresh = [contact() for _ in range(2000)]
    blend_sq = sum((blend.predict(e) - a) ** 2 for e, a in fresh)
    ql_sq = sum((e[ewt.QL] - a) ** 2 for e, a in fresh)
    # The ridge keeps part of the weight on QL, but the blend halves its error.
    assert blend_sq < 0.36 * ql_sq


def test_ratio_band_reflects_recent_errors() -> None:
    blend = ewt.BlendedPredictor()
    assert blend.ratio_band() == (0.5, 1.6)  # no history yet
    feed(blend, actual=1.0)
    low, high = blend.ratio_band()
    assert low <= 1.0 <= high


@pytest.mark.parametrize(
    ("estimate_s", "label"),
    [
        (20.0, "less than 1 minute"),
        (100.0, "less than 3 minutes"),
        (400.0, "3\u201315 minutes"),
        (4000.0, "more than 30 minutes"),
        (1500.0, "more than 10 minutes"),
    ],
)
def test_wait_range_labels(estimate_s: float, label: str) -> None:
    assert ewt.wait_range(estimate_s).label == label


@given(st.floats(0, 5000), st.floats(0.1, 1.0), st.floats(1.0, 3.0))
def test_wait_range_holds_the_band(estimate_s: float, low: float, high: float) -> None:
    shown = ewt.wait_range(estimate_s, (low, high))
    assert shown.low_s <= estimate_s * low + 1e-9
    assert shown.high_s is None or shown.high_s >= estimate_s * high - 1e-9
