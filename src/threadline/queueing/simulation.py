"""Discrete-event simulation of one FCFS queue, scoring the EWT predictors live.

Pure and reproducible: ``heapq`` and ``random.Random(seed)``, no clock.  Poisson
arrivals with a rate that may vary over time (thinning), exponential or lognormal handle
times, exponential patience, staffing that may change per interval.  Every contact that
finds no free agent asks each predictor for its EWT with exactly the state the live
system would hold (handle times and hang-up rate estimated from completed contacts, the
last delay, the head's elapsed wait); when it is answered, its real delay scores the
predictors and is fed back to the blend, as ``observe`` would be live.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from threadline.queueing import ewt

RateFunction = Callable[[float], float]
Progress = Callable[[int, int], None]

_DEPART, _ABANDON, _RESTAFF = 0, 1, 2


class Blend(Protocol):
    """What the simulation needs from a blended predictor (``ewt.BlendedPredictor``)."""

    def predict(self, estimates: Mapping[str, float]) -> float: ...

    def observe(self, estimates: Mapping[str, float], actual_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Scenario:
    """One queue and its demand.

    ``agents`` is a constant or one number per ``interval_s`` (repeating); the arrival
    rate is a constant or a function of time bounded by ``peak_arrival_rate_per_s``.
    ``handle_cv`` None means exponential handle times, else lognormal with that CV;
    ``mean_patience_s`` None means nobody hangs up.  ``shared_arrival_rate_per_s`` adds
    contacts of other queues served by the same agents, longest-waiting first, as skills
    shared across queues do: this queue's predictors see them only as busy agents.
    The first ``warmup`` arrivals are simulated but not counted.
    """

    agents: int | Sequence[int]
    mean_handle_s: float
    arrival_rate_per_s: float | RateFunction
    arrivals: int = 100_000
    peak_arrival_rate_per_s: float | None = None
    handle_cv: float | None = None
    mean_patience_s: float | None = None
    shared_arrival_rate_per_s: float | RateFunction | None = None
    shared_peak_arrival_rate_per_s: float | None = None
    interval_s: float = 1800.0
    answer_within_s: float = 20.0
    warmup: int = 2_000
    seed: int = 1


@dataclass(frozen=True, slots=True)
class PredictorScore:
    """Accuracy over answered contacts that had to wait (Ibrahim & Whitt's metric)."""

    rase: float  # sqrt(mean squared error) / mean delay
    rmse_s: float
    bias_s: float  # mean(predicted - actual)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    arrivals: int
    answered: int
    abandoned: int
    waited: int  # found no free agent
    p_wait: float
    service_level: float  # answered within answer_within_s, over all arrivals
    asa_s: float  # mean delay of answered contacts
    p_abandon: float
    mean_delay_of_waiting_s: float  # over answered contacts that waited (RASE's denominator)
    scores: Mapping[str, PredictorScore] = field(default_factory=dict)


@dataclass(slots=True)
class _Tally:
    count: int = 0
    delay_sum: float = 0.0
    errors: dict[str, list[float]] = field(default_factory=dict)  # [sum err, sum err^2]

    def add(self, estimates: Mapping[str, float], actual: float) -> None:
        self.count += 1
        self.delay_sum += actual
        for name, value in estimates.items():
            sums = self.errors.setdefault(name, [0.0, 0.0])
            error = value - actual
            sums[0] += error
            sums[1] += error * error

    def scores(self) -> dict[str, PredictorScore]:
        if not self.count:
            return {}
        mean_delay = self.delay_sum / self.count
        result = {}
        for name, (total, squares) in self.errors.items():
            rmse = math.sqrt(squares / self.count)
            rase = rmse / mean_delay if mean_delay > 0 else math.nan
            result[name] = PredictorScore(rase, rmse, total / self.count)
        return result


def sinusoidal_rate(
    mean_per_s: float, amplitude: float, *, period_s: float = 86_400.0, lag_s: float = 0.0
) -> RateFunction:
    """A day-shaped arrival rate: ``mean * (1 - amplitude * cos(2 pi (t - lag) / period))``.

    At the trough (night) at ``lag_s``, peaking half a period later.
    """
    omega = 2.0 * math.pi / period_s
    return lambda t: mean_per_s * (1.0 - amplitude * math.cos(omega * (t - lag_s)))


def staffing_plan(
    rate: RateFunction,
    mean_handle_s: float,
    load: float,
    *,
    interval_s: float = 1800.0,
    period_s: float = 86_400.0,
    samples: int = 30,
) -> list[int]:
    """Agents per interval for a target load, from the mean forecast rate of the interval."""
    plan = []
    for start in range(round(period_s / interval_s)):
        t0 = start * interval_s
        mean_rate = sum(rate(t0 + (k + 0.5) * interval_s / samples) for k in range(samples))
        offered = mean_rate / samples * mean_handle_s
        plan.append(max(1, math.ceil(offered / load)))
    return plan


def _rate(rate: float | RateFunction | None, peak: float | None) -> tuple[RateFunction, float]:
    """The rate as a function of time and its upper bound, for thinning."""
    if rate is None:
        return (lambda _t: 0.0), 0.0
    if not callable(rate):
        return (lambda _t: rate), rate
    if peak is None:
        raise ValueError("a time-varying arrival rate needs its peak rate")
    return rate, peak


def _handle_sampler(rng: random.Random, mean_s: float, cv: float | None) -> Callable[[], float]:
    if cv is None:
        rate = 1.0 / mean_s
        return lambda: rng.expovariate(rate)
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean_s) - sigma * sigma / 2.0
    return lambda: rng.lognormvariate(mu, sigma)


def simulate(  # one event loop, kept whole for speed
    scenario: Scenario,
    *,
    blend: Blend | None = None,
    progress: Progress | None = None,
    progress_every: int = 10_000,
) -> SimulationResult:
    """Run ``scenario`` and score each predictor of ``ewt`` plus the blend.

    ``progress(done, total)`` is called every ``progress_every`` arrivals and at the end.
    """
    sc = scenario
    rng = random.Random(sc.seed)  # noqa: S311 - a reproducible simulation, not secrets
    blend = ewt.BlendedPredictor() if blend is None else blend
    handle = _handle_sampler(rng, sc.mean_handle_s, sc.handle_cv)
    plan = [sc.agents] if isinstance(sc.agents, int) else list(sc.agents)
    rate_at, peak = _rate(sc.arrival_rate_per_s, sc.peak_arrival_rate_per_s)
    shared_at, shared_peak = _rate(sc.shared_arrival_rate_per_s, sc.shared_peak_arrival_rate_per_s)
    patience_rate = 1.0 / sc.mean_patience_s if sc.mean_patience_s else 0.0

    handle_est = ewt.HandleTimeEstimator(sc.mean_handle_s)
    abandon_est = ewt.AbandonmentEstimator()
    predictors = tuple(ewt.PREDICTORS.items())
    events: list[tuple[float, int, int, float]] = []
    if len(plan) > 1:
        heapq.heappush(events, (sc.interval_s, _RESTAFF, 1, 0.0))
    staffed, busy = plan[0], 0
    queue: deque[int] = deque()
    shared: deque[float] = deque()  # arrival times of the other queues' waiting contacts
    waiting = 0
    arrived_at: list[float] = []
    waiting_now: list[bool] = []
    estimates_of: dict[int, dict[str, float]] = {}
    last_delay: float | None = None
    tally = _Tally()
    answered = abandoned = waited = within = 0
    delay_sum = 0.0

    def answer(cid: int, now: float) -> None:
        nonlocal busy, last_delay, answered, within, delay_sum
        busy += 1
        delay = now - arrived_at[cid]
        handle_s = handle()
        heapq.heappush(events, (now + handle_s, _DEPART, cid, handle_s))
        last_delay = delay
        estimates = estimates_of.pop(cid, None)
        if estimates is not None:
            abandon_est.add(delay, abandoned=False)
            blend.observe(estimates, delay)
            if cid >= sc.warmup:
                tally.add(estimates, delay)
        if cid >= sc.warmup:
            answered += 1
            delay_sum += delay
            within += delay <= sc.answer_within_s

    def answer_shared(now: float) -> None:
        nonlocal busy
        busy += 1
        heapq.heappush(events, (now + handle(), _DEPART, -1, 0.0))

    def serve_queue(now: float) -> None:
        nonlocal waiting
        while (waiting or shared) and busy < staffed:
            if waiting:
                while not waiting_now[queue[0]]:
                    queue.popleft()
            if not waiting or (shared and shared[0] < arrived_at[queue[0]]):
                shared.popleft()
                answer_shared(now)
                continue
            cid = queue.popleft()
            waiting_now[cid] = False
            waiting -= 1
            answer(cid, now)

    now = 0.0
    next_arrival = rng.expovariate(peak)
    next_shared = rng.expovariate(shared_peak) if shared_peak else math.inf
    total = sc.arrivals
    count = 0
    while count < total or waiting:
        next_event = events[0][0] if events else math.inf
        if count < total and next_shared < min(next_arrival, next_event):
            now = next_shared
            next_shared = now + rng.expovariate(shared_peak)
            if rng.random() * shared_peak > shared_at(now):
                continue
            if busy < staffed and not waiting and not shared:
                answer_shared(now)
            else:
                shared.append(now)
            continue
        if count < total and next_arrival <= next_event:
            now = next_arrival
            next_arrival = now + rng.expovariate(peak)
            if rng.random() * peak > rate_at(now):
                continue
            cid = count
            count += 1
            arrived_at.append(now)
            if busy < staffed and not waiting and not shared:
                waiting_now.append(False)
                answer(cid, now)
            else:
                head_wait = None
                if waiting:
                    while not waiting_now[queue[0]]:
                        queue.popleft()
                    head_wait = now - arrived_at[queue[0]]
                state = ewt.QueueState(
                    ahead=waiting,
                    agents_staffed=staffed,
                    agents_busy=busy,
                    mean_handle_s=handle_est.mean_s,
                    abandon_rate_per_s=abandon_est.rate_per_s,
                    last_delay_s=last_delay,
                    head_wait_s=head_wait,
                )
                estimates = {name: predict(state) for name, predict in predictors}
                estimates[ewt.BLEND] = blend.predict(estimates)
                estimates_of[cid] = estimates
                waiting_now.append(True)
                queue.append(cid)
                waiting += 1
                if cid >= sc.warmup:
                    waited += 1
                if patience_rate:
                    heapq.heappush(
                        events, (now + rng.expovariate(patience_rate), _ABANDON, cid, 0.0)
                    )
            if progress is not None and count % progress_every == 0:
                progress(count, total)
            continue
        now, kind, ref, value = heapq.heappop(events)
        if kind == _DEPART:
            busy -= 1
            if ref >= 0:
                handle_est.add(value)
            serve_queue(now)
        elif kind == _ABANDON:
            if waiting_now[ref]:
                waiting_now[ref] = False
                waiting -= 1
                estimates_of.pop(ref, None)
                abandon_est.add(now - arrived_at[ref], abandoned=True)
                if ref >= sc.warmup:
                    abandoned += 1
        else:
            staffed = plan[ref % len(plan)]
            heapq.heappush(events, (now + sc.interval_s, _RESTAFF, ref + 1, 0.0))
            serve_queue(now)
    if progress is not None and total % progress_every:
        progress(total, total)
    counted = max(total - sc.warmup, 0)
    return SimulationResult(
        arrivals=counted,
        answered=answered,
        abandoned=abandoned,
        waited=waited,
        p_wait=waited / counted if counted else 0.0,
        service_level=within / counted if counted else 0.0,
        asa_s=delay_sum / answered if answered else 0.0,
        p_abandon=abandoned / counted if counted else 0.0,
        mean_delay_of_waiting_s=tally.delay_sum / tally.count if tally.count else 0.0,
        scores=tally.scores(),
    )
