"""Simulation sanity (against Erlang C) and the EWT accuracy properties, small and seeded."""

from __future__ import annotations

import pytest

from threadline.queueing import ewt, simulation


def erlang_c(agents: int, offered: float) -> float:
    """P(wait) in M/M/s, by the Erlang B recursion (no factorials)."""
    b = 1.0
    for k in range(1, agents + 1):
        b = offered * b / (k + offered * b)
    rho = offered / agents
    return b / (1.0 - rho + rho * b)


def test_erlang_c_matches_a_published_value() -> None:
    # 10 agents, 8 Erlang offered: P(wait) = 0.4092 (Erlang C tables).
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)


@pytest.mark.parametrize(("agents", "load"), [(5, 0.8), (20, 0.85)])
def test_mm_s_matches_erlang_c(agents: int, load: float) -> None:
    handle_s = 180.0
    rate = load * agents / handle_s
    result = simulation.simulate(
        simulation.Scenario(
            agents=agents,
            mean_handle_s=handle_s,
            arrival_rate_per_s=rate,
            arrivals=150_000,
            seed=11,
        )
    )
    p_wait = erlang_c(agents, load * agents)
    asa_s = p_wait * handle_s / (agents * (1 - load))
    # Waits are strongly autocorrelated: over 150k arrivals the ASA of one run still
    # spreads about 8% (seed to seed), P(wait) about 2%; these bounds are ~2.5 sigma.
    assert result.p_wait == pytest.approx(p_wait, rel=0.05)
    assert result.asa_s == pytest.approx(asa_s, rel=0.2)
    assert result.p_abandon == 0.0
    assert result.answered == result.arrivals


def test_patience_brings_abandonment() -> None:
    result = simulation.simulate(
        simulation.Scenario(
            agents=10,
            mean_handle_s=180.0,
            arrival_rate_per_s=11 / 180,
            mean_patience_s=300.0,
            arrivals=20_000,
            seed=3,
        )
    )
    # Overloaded (110%): at least the excess 1/11 of contacts must hang up.
    assert result.p_abandon > 0.09
    assert result.answered + result.abandoned == result.arrivals


def test_same_seed_same_result_and_progress_reported() -> None:
    scenario = simulation.Scenario(
        agents=8, mean_handle_s=60.0, arrival_rate_per_s=0.12, arrivals=25_000, seed=5
    )
    seen: list[tuple[int, int]] = []
    first = simulation.simulate(scenario, progress=lambda done, total: seen.append((done, total)))
    assert first == simulation.simulate(scenario)
    assert seen == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]


def test_time_varying_rate_needs_its_peak() -> None:
    with pytest.raises(ValueError, match="peak"):
        simulation.simulate(
            simulation.Scenario(
                agents=5,
                mean_handle_s=60.0,
                arrival_rate_per_s=simulation.sinusoidal_rate(0.05, 0.5),
            )
        )


def test_staffing_plan_follows_the_day() -> None:
    rate = simulation.sinusoidal_rate(50 / 180, 0.6)
    plan = simulation.staffing_plan(rate, 180.0, 0.95)
    assert len(plan) == 48
    assert plan[0] < plan[24]  # night vs midday
    midday = rate(12.25 * 3600) * 180 / 0.95  # the forecast at the interval's middle
    assert abs(plan[24] - midday) <= 1


def test_blend_stays_within_5pct_of_ql_in_a_stationary_queue() -> None:
    result = simulation.simulate(
        simulation.Scenario(
            agents=20,
            mean_handle_s=180.0,
            arrival_rate_per_s=0.95 * 20 / 180,
            arrivals=60_000,
            seed=2,
        )
    )
    rase = {name: score.rase for name, score in result.scores.items()}
    assert rase[ewt.QL] < min(rase[ewt.LES], rase[ewt.HOL])  # QL is the best single one
    assert rase[ewt.BLEND] <= 1.05 * rase[ewt.QL]


def test_blend_beats_every_predictor_when_shared_agents_serve_a_shifting_day() -> None:
    mean = 0.95 * 30 / 180 / 2
    own = simulation.sinusoidal_rate(mean, 0.6)
    other = simulation.sinusoidal_rate(mean, 0.6, lag_s=6 * 3600)
    result = simulation.simulate(
        simulation.Scenario(
            agents=simulation.staffing_plan(lambda t: own(t) + other(t), 180.0, 0.95),
            mean_handle_s=180.0,
            arrival_rate_per_s=own,
            peak_arrival_rate_per_s=mean * 1.6,
            shared_arrival_rate_per_s=other,
            shared_peak_arrival_rate_per_s=mean * 1.6,
            handle_cv=1.0,
            arrivals=60_000,
            seed=4,
        )
    )
    rase = {name: score.rase for name, score in result.scores.items()}
    assert rase[ewt.BLEND] < min(rase[ewt.QL], rase[ewt.LES], rase[ewt.HOL])
