"""The contact-center simulation over the real Router, WaitEstimator and callback policy:
against Erlang C, conservation of contacts, callbacks and their retries, skills, staffing."""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

import pytest

from threadline.queueing import erlang
from threadline.routing.callback_policy import CallbackPolicy
from threadline.simulation.network import (
    AgentGroup,
    Network,
    NetworkResult,
    QueueDemand,
    simulate_network,
)

HOUR = 3600.0


def one_queue(
    agents: int,
    *,
    load: float,
    handle_s: float = 180.0,
    patience_s: float | None = None,
    policy: CallbackPolicy | None = None,
    hours: float = 6.0,
    seed: int = 1,
    **queue: object,
) -> Network:
    """One queue of voice contacts and a dedicated group, ``load`` per agent offered."""
    demand = QueueDemand(
        "general",
        mean_handle_s=handle_s,
        mean_patience_s=patience_s,
        callbacks=policy or CallbackPolicy(),
        **queue,  # type: ignore[arg-type]
    )
    return Network(
        queues=[demand],
        groups=[AgentGroup("agent", agents)],
        arrival_rate_per_s=load * agents / handle_s,
        horizon_s=hours * HOUR,
        seed=seed,
    )


def callbacks_on(**changes: object) -> CallbackPolicy:
    return replace(
        CallbackPolicy(enabled=True, offer_after_s=60.0, retry_after_s=(60.0,)),
        **changes,  # type: ignore[arg-type]
    )


def batch_means(result: NetworkResult, skip: int) -> tuple[float, float, float, float]:
    """Service level and ASA over the intervals after ``skip``, with their standard errors
    from the spread of the interval means (batch means: intervals far longer than the
    queue's relaxation time are nearly independent)."""
    batches = result.intervals[skip:]
    sl = [b.service_level for b in batches]
    asa = [b.asa_s or 0.0 for b in batches]
    n = len(batches)
    arrivals = sum(b.arrivals for b in batches)
    answered = sum(b.answered for b in batches)
    sl_all = sum(b.within for b in batches) / arrivals
    asa_all = sum((b.asa_s or 0.0) * b.answered for b in batches) / answered
    return (
        sl_all,
        statistics.stdev(sl) / math.sqrt(n),
        asa_all,
        statistics.stdev(asa) / math.sqrt(n),
    )


def conserved(result: NetworkResult) -> None:
    t = result.total
    assert t.arrivals == t.answered + t.abandoned + t.failed_callbacks + t.still_waiting
    cb = result.callbacks
    assert cb.accepted == cb.answered + cb.failed + cb.pending
    assert cb.offered == cb.accepted + cb.declined


@pytest.mark.parametrize(
    ("group", "servers"),
    [
        (AgentGroup("voice", 10), 10),  # 10 agents, one call each
        (AgentGroup("chat", 4, capacity={"voice": 3}), 12),  # 4 agents, three at a time
    ],
    ids=["voice", "three-slot-agents"],
)
def test_dedicated_agents_without_abandonment_agree_with_erlang_c(
    group: AgentGroup, servers: int
) -> None:
    """Erlang C counts servers: an agent with three slots is three of them."""
    handle_s, load = 240.0, 0.8
    rate = load * servers / handle_s
    interval = 1000 / rate  # ~1,000 arrivals per batch, ~100 mean handle times
    network = Network(
        queues=[QueueDemand("general", mean_handle_s=handle_s)],
        groups=[group],
        arrival_rate_per_s=rate,
        horizon_s=42 * interval,
        interval_s=interval,
        warmup_s=2 * interval,
        seed=7,
    )
    result = simulate_network(network)
    expected = erlang.erlang_c(servers, load * servers, handle_s, 20.0)
    sl, sl_se, asa, asa_se = batch_means(result, skip=2)
    # the batch figures are the run's own, warm-up excluded
    assert sl == pytest.approx(result.total.service_level)
    assert asa == pytest.approx(result.total.asa_s)
    assert sl_se < 0.02 and asa_se < 0.1 * expected.asa_s  # long enough to mean something
    assert abs(sl - expected.service_level) < 3 * sl_se
    assert abs(asa - expected.asa_s) < 3 * asa_se
    assert result.total.p_wait == pytest.approx(expected.p_wait, abs=0.03)
    if servers == group.staffing:  # occupancy is per agent: busy with at least one contact
        assert result.occupancy == pytest.approx(expected.occupancy, abs=0.02)
    else:
        assert result.occupancy > expected.occupancy + 0.05
    assert result.total.abandoned == 0 and result.total.still_waiting == 0


def test_callbacks_reduce_abandonment_on_the_same_arrivals() -> None:
    for seed in (1, 2, 3):
        kwargs = {"load": 0.95, "patience_s": 180.0, "accept_share": 0.8, "seed": seed}
        off = simulate_network(one_queue(8, **kwargs))  # type: ignore[arg-type]
        on = simulate_network(one_queue(8, policy=callbacks_on(), **kwargs))  # type: ignore[arg-type]
        assert on.total.arrivals == off.total.arrivals  # common random numbers
        assert off.callbacks.offered == 0
        assert on.callbacks.accepted > 100
        assert on.total.p_abandon < off.total.p_abandon - 0.02
        conserved(off)
        conserved(on)


def test_every_callback_ends_answered_or_failed() -> None:
    result = simulate_network(
        one_queue(8, load=1.0, patience_s=300.0, policy=callbacks_on(), answer_p=0.6)
    )
    cb = result.callbacks
    conserved(result)
    assert cb.pending == 0 and result.total.still_waiting == 0  # drained after the horizon
    assert cb.failed > 0 and cb.answered > 0
    assert len(cb.answered_by_attempt) <= 3
    # a failed callback used every attempt; an answered one the attempts it took
    used = sum((i + 1) * n for i, n in enumerate(cb.answered_by_attempt))
    assert cb.calls == used + 3 * cb.failed


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_nobody_answers_so_every_callback_fails_after_max_attempts(attempts: int) -> None:
    policy = callbacks_on(max_attempts=attempts, retry_after_s=(60.0, 300.0))
    result = simulate_network(one_queue(6, load=1.0, patience_s=300.0, policy=policy, answer_p=0))
    cb = result.callbacks
    assert cb.accepted > 20
    assert cb.answered_by_attempt == ()
    assert cb.failed == cb.accepted
    assert cb.calls == attempts * cb.accepted
    conserved(result)


def test_the_run_can_stop_at_the_horizon_with_contacts_still_waiting() -> None:
    network = replace(
        one_queue(5, load=1.3, patience_s=900.0, policy=callbacks_on(), answer_p=0.5),
        drain_s=0.0,
    )
    result = simulate_network(network)
    assert result.total.still_waiting > 0
    assert result.callbacks.pending > 0
    conserved(result)


def test_routing_respects_skills_and_shares_agents_across_queues() -> None:
    network = Network(
        queues=[
            QueueDemand("general", 180.0, share=3.0),
            QueueDemand("cards", 180.0, required_skills=frozenset({"cards"})),
            QueueDemand("pt", 180.0, language="pt", mean_patience_s=120.0),  # nobody speaks it
        ],
        groups=[
            AgentGroup("generalists", 6),
            AgentGroup("cards", 3, skills={"general": 2, "cards": 4}),
        ],
        arrival_rate_per_s=0.8 * 9 / 180.0 * 5 / 4,
        horizon_s=4 * HOUR,
    )
    result = simulate_network(network)
    general, cards, pt = (result.queues[q] for q in ("general", "cards", "pt"))
    assert general.arrivals > 3 * cards.arrivals * 0.8
    assert general.answered == general.arrivals and cards.answered == cards.arrivals
    assert pt.answered == 0 and pt.abandoned == pt.arrivals > 0
    # the cards agents also take general contacts, so cards waits longer than general
    assert cards.asa_s > general.asa_s
    assert result.total.arrivals == sum(q.arrivals for q in result.queues.values())
    conserved(result)


def test_staffing_steps_change_who_is_on_shift() -> None:
    group = AgentGroup("agent", [(0.0, 0), (HOUR, 8), (2 * HOUR, 4)])
    network = Network(
        queues=[QueueDemand("general", 180.0, mean_patience_s=600.0)],
        groups=[group],
        arrival_rate_per_s=30 / HOUR,
        horizon_s=3 * HOUR,
        interval_s=HOUR,
    )
    result = simulate_network(network)
    first, second, third = result.intervals
    assert (first.agents, second.agents, third.agents) == (0, 8, 4)
    assert first.service_level < 0.2 < 0.9 < second.service_level
    assert first.mean_waiting > 2 and second.occupancy < 0.5
    assert first.occupancy == 0.0
    conserved(result)


def test_ewt_is_scored_for_the_blend_shown_and_each_predictor() -> None:
    # two days: the blend needs a few thousand answers to learn its weights
    result = simulate_network(one_queue(10, load=0.95, patience_s=600.0, hours=48))
    assert set(result.ewt) == {"blend", "ql", "les", "hol"}
    assert result.ewt_scored > 3000
    for score in result.ewt.values():
        assert 0.2 < score.rase < 2.0
    assert result.ewt["ql"].rase < result.ewt["les"].rase  # QL is best in a stationary queue
    assert result.ewt["blend"].rase < 1.1 * result.ewt["ql"].rase
    assert 0.5 < result.ewt_range_coverage <= 1.0
    waited = [i for i in result.intervals if i.ewt_actual_s is not None]
    assert waited and all(i.ewt_predicted_s is not None for i in waited)


def test_same_seed_same_result_and_progress_reaches_the_end() -> None:
    network = one_queue(8, load=0.9, patience_s=300.0, policy=callbacks_on(), hours=2)
    seen: list[tuple[int, int]] = []
    first = simulate_network(network, progress=lambda done, total: seen.append((done, total)))
    assert simulate_network(network) == first
    assert simulate_network(replace(network, seed=2)) != first
    assert seen[-1] == (7200, 7200)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert 50 <= len(seen) <= 110


def test_day_shaped_arrivals_follow_the_rate() -> None:
    from threadline.queueing.simulation import sinusoidal_rate

    mean = 100 / HOUR
    network = replace(
        one_queue(12, load=0.5, hours=8),
        arrival_rate_per_s=sinusoidal_rate(mean, 0.6, period_s=8 * HOUR),
        peak_arrival_rate_per_s=1.6 * mean,
        interval_s=HOUR,
    )
    counts = [i.arrivals for i in simulate_network(network).intervals]
    assert sum(counts) == pytest.approx(800, rel=0.1)
    assert counts[3] + counts[4] > 2.5 * (counts[0] + counts[7])  # peak mid-run


@pytest.mark.parametrize(
    "bad",
    [
        {"queues": []},
        {"horizon_s": 0.0},
        {"arrival_rate_per_s": 0.0},
        {"groups": [AgentGroup("a", 2), AgentGroup("a", 1)]},
        {"groups": [AgentGroup("a", [(HOUR, 2), (0.0, 1)])]},
    ],
)
def test_invalid_networks_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        simulate_network(replace(one_queue(2, load=0.5), **bad))  # type: ignore[arg-type]
