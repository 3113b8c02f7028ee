"""Erlang C (M/M/s) and Erlang A (M/M/s+M) performance and staffing, pure and stdlib-only.

Notation: ``load`` is the offered load A = λ·AHT in Erlangs, ``agents`` is s, ``aht_s`` the
mean handle time 1/μ, ``patience_s`` the mean patience 1/θ and ``answer_within_s`` the
service-level threshold t. Every function takes seconds and returns seconds.

Numerical stability (1 to 5,000 agents and beyond): no factorial is ever formed. Erlang B
comes from the recursion B(k) = A·B(k-1) / (k + A·B(k-1)), which stays in [0, 1]; Erlang C
is C = s·B / (s - A·(1 - B)). Erlang A needs M&Z's function
A(x, y) = 1 + Σ_{j≥1} y^j / ((x+1)(x+2)...(x+j)) = x·e^y·y^(-x)·g(x, y),
g(x, y) the lower incomplete gamma function; it is summed here in log space, outward from its
largest term (:func:`_series`), so it neither overflows when the queue is overloaded
(A > s, where it grows like e^y) nor loses digits near A = s.

References:
- A. K. Erlang (1917); the B recursion and C from B: e.g. G. Koole, *Call Center
  Optimization* (MG books, 2013), ch. 5.
- O. Garnett, A. Mandelbaum, M. Reiman, "Designing a call center with impatient
  customers", M&SOM 4(3), 2002, pp. 208-227.
- A. Mandelbaum, S. Zeltyn, "The Palm/Erlang-A queue, with applications to call centers"
  (Technion, 2005), §3-§4: P{W>0} = A(nμ/θ, λ/θ)·E_{1,n} / (1 + (A(nμ/θ, λ/θ) - 1)·E_{1,n}),
  P{Ab | W>0} = 1/(rho·A(nμ/θ, λ/θ)) + 1 - 1/rho, rho = λ/(nμ).
- For M/M/n+G the offered (virtual) wait V has density λ·exp(λH(v) - nμv)/Z for v > 0,
  H(v) = ∫₀ᵛ P(τ > u) du (Baccelli & Hébuterne 1981; Zeltyn's thesis 2005); with exponential
  patience this gives the service level and ASA below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Performance",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_p_wait",
    "fewest_agents",
    "offered_load",
    "performance",
]

_EPS = 1e-17  # relative truncation of the series: below double precision
_MAX_AGENTS = 1_000_000  # staffing gives up beyond this (a target that cannot be met)


@dataclass(frozen=True, slots=True)
class Performance:
    """Steady-state figures for one number of agents.

    ``service_level`` is the fraction of *all* arrivals answered within the threshold;
    ``asa_s`` the mean wait of answered contacts (``inf`` for an unstable Erlang C queue);
    ``p_abandon`` is ``None`` under Erlang C, which has no abandonment; ``occupancy`` is
    the carried load per agent (served traffic / agents).
    """

    agents: int
    p_wait: float
    service_level: float
    asa_s: float
    p_abandon: float | None
    occupancy: float


def offered_load(arrivals: float, interval_s: float, aht_s: float) -> float:
    """A = λ·AHT in Erlangs, from ``arrivals`` per ``interval_s`` seconds."""
    _check_positive(interval_s=interval_s, aht_s=aht_s)
    _check_non_negative(arrivals=arrivals)
    return arrivals / interval_s * aht_s


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of M/M/s/s, by the recursion B(k) = A·B(k-1)/(k + A·B(k-1))."""
    _check_agents(agents)
    _check_non_negative(load=load)
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c_p_wait(agents: int, load: float) -> float:
    """P(W > 0) in M/M/s: C = s·B / (s - A·(1 - B)); 1.0 when A >= s (the queue grows)."""
    if load >= agents:
        _check_agents(agents)
        return 1.0
    b = erlang_b(agents, load)
    return agents * b / (agents - load * (1.0 - b))


def erlang_c(agents: int, load: float, aht_s: float, answer_within_s: float) -> Performance:
    """Erlang C (M/M/s, nobody abandons).

    P(W > t) = C·exp(-(s - A)·t/AHT), so SL = 1 - C·exp(-(s - A)·t/AHT) (all arrivals) and
    ASA = C·AHT/(s - A); occupancy = A/s. With A >= s the queue grows without bound: the
    defined answer is P(wait) = 1, SL = 0, ASA = inf, occupancy = 1 (no exception), so a
    planner sees "not enough agents" rather than a crash.
    """
    _check_positive(aht_s=aht_s)
    _check_non_negative(answer_within_s=answer_within_s)
    c = erlang_c_p_wait(agents, load)
    if load >= agents:
        return Performance(agents, 1.0, 0.0, math.inf, None, 1.0)
    gap = agents - load
    return Performance(
        agents=agents,
        p_wait=c,
        service_level=1.0 - c * math.exp(-gap * answer_within_s / aht_s),
        asa_s=c * aht_s / gap,
        p_abandon=None,
        occupancy=load / agents,
    )


def erlang_a(
    agents: int, load: float, aht_s: float, patience_s: float, answer_within_s: float
) -> Performance:
    """Erlang A (M/M/s+M: exponential patience with mean ``patience_s``); stable for any load.

    With r = patience/AHT, a = s·r, x = A·r, S = A(a, x) (M&Z's function) and B = Erlang B:
      P(wait)        w = S·B / (1 - B + S·B)
      P(ab | wait)     = E[M]/x, M ~ t_m/S, t_m = x^m / ((a+1)...(a+m))   (= θ·E[Q|wait]/λ)
      SL             = (1 - w) + w·F,
      F = P(served within t | wait)
        = a/(a+1) · [A(a+1, x) - e^(x - y - (a+1)θt)·A(a+1, y)] / S,   y = x·e^(-θt)
      ASA (answered) = w·patience·(s/A)·E[ψ(a+M+1) - ψ(a+1)] / (1 - P(ab))
    The last two follow from the offered-wait density λ·exp(λH(v) - sμv)/Z integrated
    against P(τ > v) = e^(-θv) (see the module docstring); the digamma difference is the
    sum 1/(a+1) + ... + 1/(a+m), accumulated term by term. Infinite patience is Erlang C.
    """
    _check_agents(agents)
    _check_positive(aht_s=aht_s, patience_s=patience_s)
    _check_non_negative(load=load, answer_within_s=answer_within_s)
    if math.isinf(patience_s):
        return erlang_c(agents, load, aht_s, answer_within_s)
    if load == 0.0:
        return Performance(agents, 0.0, 1.0, 0.0, 0.0, 0.0)
    b = erlang_b(agents, load)
    r = patience_s / aht_s
    a, x = agents * r, load * r
    log_s, mean_m, mean_harmonic, tail_share = _series(a, x)
    w = 0.0 if b == 0.0 else 1.0 / (1.0 + math.exp(math.log1p(-b) - math.log(b) - log_s))
    p_abandon = w * min(1.0, mean_m / x)
    theta_t = answer_within_s / patience_s
    y = x * math.exp(-theta_t)
    # F = served eventually (a/(a+1)·A(a+1, x)/S = (a/x)·(S - 1)/S) minus served after t
    served_eventually = (a / x) * tail_share
    log_after_t = _log_series(a + 1.0, y) + (x - y) - (a + 1.0) * theta_t - log_s
    served_after_t = a / (a + 1.0) * math.exp(log_after_t) if log_after_t > -745 else 0.0
    served = 1.0 - p_abandon
    asa = w * patience_s * (agents / load) * mean_harmonic / served
    return Performance(
        agents=agents,
        p_wait=w,
        service_level=_clamp((1.0 - w) + w * max(0.0, served_eventually - served_after_t)),
        asa_s=asa,
        p_abandon=p_abandon,
        occupancy=min(1.0, load * served / agents),
    )


def performance(
    agents: int,
    load: float,
    aht_s: float,
    answer_within_s: float,
    patience_s: float | None = None,
) -> Performance:
    """Erlang A when a mean patience is given, Erlang C otherwise."""
    if patience_s is None:
        return erlang_c(agents, load, aht_s, answer_within_s)
    return erlang_a(agents, load, aht_s, patience_s, answer_within_s)


def fewest_agents(
    load: float,
    aht_s: float,
    answer_within_s: float,
    target: float,
    *,
    patience_s: float | None = None,
    max_abandon: float | None = None,
    max_asa_s: float | None = None,
) -> Performance:
    """The fewest agents whose service level is at least ``target`` (a fraction in (0, 1)).

    Optional extra limits: ``max_abandon`` (Erlang A only) and ``max_asa_s``. Service level
    and abandonment are monotone in the agents, so the search gallops then bisects from a
    floor that no solution can be under: A for Erlang C (stability), target·A for Erlang A
    (served traffic A·(1 - P(ab)) cannot exceed s, and SL <= P(served)). It then steps up
    until every limit holds. Raises ValueError for a target outside (0, 1) or limits that
    no staffing can meet.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be a fraction in (0, 1), got {target!r}")
    if max_abandon is not None and patience_s is None:
        raise ValueError("max_abandon needs a patience: Erlang C has no abandonment")
    if max_abandon is not None and not 0.0 < max_abandon <= 1.0:
        raise ValueError(f"max_abandon must be a fraction in (0, 1], got {max_abandon!r}")
    if max_asa_s is not None and not max_asa_s > 0.0:
        raise ValueError(f"max_asa_s must be positive, got {max_asa_s!r}")

    def evaluate(agents: int) -> Performance:
        return performance(agents, load, aht_s, answer_within_s, patience_s)

    def monotone_ok(p: Performance) -> bool:
        abandon_ok = max_abandon is None or (p.p_abandon or 0.0) <= max_abandon
        return p.service_level >= target and abandon_ok

    floor = math.floor(load) + 1 if patience_s is None else math.floor(target * load)
    agents = _first_true(max(1, floor), lambda s: monotone_ok(evaluate(s)))
    while agents <= _MAX_AGENTS:
        result = evaluate(agents)
        if monotone_ok(result) and (max_asa_s is None or result.asa_s <= max_asa_s):
            return result
        agents += 1
    raise ValueError(f"no staffing up to {_MAX_AGENTS} agents meets these targets")


def _first_true(low: int, ok: Callable[[int], bool]) -> int:
    """The smallest s >= low with ok(s), for a monotone ok: gallop, then bisect."""
    step, high = 1, low
    while not ok(high):
        low, step = high + 1, step * 2
        high = low + step
        if high > _MAX_AGENTS:
            raise ValueError(f"no staffing up to {_MAX_AGENTS} agents meets these targets")
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if ok(middle) else (middle + 1, high)
    return high


def _series(a: float, x: float) -> tuple[float, float, float, float]:
    """Moments of t_m = x^m / ((a+1)...(a+m)), m >= 0, summed outward from the largest term.

    Returns log S (S = Σ t_m = A(a, x)), E[M], E[h_M] with h_m = Σ_{i<=m} 1/(a+i), and
    (S - 1)/S, where expectations weigh m by t_m/S. Terms are scaled by the largest one, so
    nothing overflows; each side stops when the geometric bound on its tail (the term ratio
    only shrinks moving away from the mode: t is log-concave) is below double precision.
    """
    mode = max(0, math.floor(x - a))
    log_peak = (
        0.0 if mode == 0 else mode * math.log(x) - (math.lgamma(a + mode + 1) - math.lgamma(a + 1))
    )
    h_mode = _harmonic(a, mode)
    total = m_sum = h_sum = 0.0
    tail = 0.0  # Σ over m >= 1, kept apart so that (S - 1)/S loses nothing when S ≈ 1
    # upward from the mode, mode included
    term, m, h = 1.0, mode, h_mode
    while True:
        total += term
        m_sum += m * term
        h_sum += h * term
        if m >= 1:
            tail += term
        ratio = x / (a + m + 1)
        if ratio < 1.0 and term * (m + 2) <= _EPS * total * (1.0 - ratio) ** 2:
            break
        m += 1
        h += 1.0 / (a + m)
        term *= ratio
    # downward from the mode
    term, m, h = 1.0, mode, h_mode
    while m > 0:
        term *= (a + m) / x
        h -= 1.0 / (a + m)
        m -= 1
        total += term
        m_sum += m * term
        h_sum += max(h, 0.0) * term
        if m >= 1:
            tail += term
        if term <= _EPS * total * (1.0 - (a + m) / x):
            break
    return log_peak + math.log(total), m_sum / total, h_sum / total, tail / total


def _log_series(a: float, x: float) -> float:
    """log A(a, x) = log Σ_m x^m / ((a+1)...(a+m)), by :func:`_series` (0 when x = 0)."""
    if x <= 0.0:
        return 0.0
    return _series(a, x)[0]


def _harmonic(a: float, m: int) -> float:
    """h_m = 1/(a+1) + ... + 1/(a+m) = ψ(a+m+1) - ψ(a+1), summed directly or via digamma."""
    if m <= 64:
        return math.fsum(1.0 / (a + i) for i in range(1, m + 1))
    return _digamma(a + m + 1) - _digamma(a + 1)


def _digamma(z: float) -> float:
    """ψ(z) for z > 0: recurrence up to z >= 10, then the asymptotic (Stirling) series."""
    shift = 0.0
    while z < 10.0:
        shift -= 1.0 / z
        z += 1.0
    inv2 = 1.0 / (z * z)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240))))
    return shift + math.log(z) - 0.5 / z - series


def _clamp(p: float) -> float:
    return min(1.0, max(0.0, p))


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents must be a whole number >= 1, got {agents!r}")


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0.0:  # also rejects NaN
            raise ValueError(f"{name} must be positive, got {value!r}")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not (value >= 0.0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
