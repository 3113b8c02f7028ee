"""Estimated wait time (EWT) of an arriving contact, from the queue's live state.

Pure: live state comes in as plain data, elapsed times included (no clock is read).
Three classical predictors (Ibrahim & Whitt, "Real-time delay estimation based on
delay history", MSOM 2009; "Wait-time predictors for customer service systems with
time-varying demand and capacity", Operations Research 2011):

* ``ql``  queue length: the mean time for the contacts ahead to be answered or to hang
  up, ``sum_{j=0..n} 1/(s*mu + j*theta)``; with ``theta = 0`` that is ``(n+1)/(s*mu)``.
  With known parameters it is the best possible predictor of an M/M/s(+M) queue.
* ``les`` last to enter service: the delay of the contact that was answered last.
* ``hol`` head of line: how long the contact at the head has been waiting so far.

``BlendedPredictor`` learns, per queue, from the real delays of past contacts which
mix of these to trust (see its docstring), and ``wait_range`` turns the point
estimate into the range a customer is shown.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

QL: Final = "ql"
LES: Final = "les"
HOL: Final = "hol"
BLEND: Final = "blend"


@dataclass(frozen=True, slots=True)
class QueueState:
    """What the queue looks like to a contact arriving now, for its skills.

    ``ahead`` counts contacts waiting in front of it; ``agents_busy`` may exceed
    ``agents_staffed`` while agents whose shift ended finish their last contact.
    """

    ahead: int
    agents_staffed: int
    agents_busy: int
    mean_handle_s: float
    abandon_rate_per_s: float = 0.0
    last_delay_s: float | None = None
    head_wait_s: float | None = None

    @property
    def answered_now(self) -> bool:
        """A free agent is left for this contact once those ahead are answered."""
        return self.agents_staffed - self.agents_busy > self.ahead


def ql_wait_s(
    ahead: int,
    agents: int,
    mean_handle_s: float,
    abandon_rate_per_s: float = 0.0,
) -> float:
    """Mean wait with ``ahead`` contacts in front and ``agents`` all busy (M/M/s+M).

    Each answer or hang-up ahead moves the contact up one place; with ``j`` still ahead
    the next move comes at rate ``s*mu + j*theta``.
    """
    if agents <= 0:
        return math.inf
    service_rate = agents / mean_handle_s
    if abandon_rate_per_s <= 0.0:
        return (ahead + 1) / service_rate
    return math.fsum(1.0 / (service_rate + j * abandon_rate_per_s) for j in range(ahead + 1))


def ql(state: QueueState) -> float:
    """Queue-length predictor; agents over the staffed number must first finish."""
    if state.answered_now:
        return 0.0
    ahead = state.ahead - max(state.agents_staffed - state.agents_busy, 0)
    drain = sum(
        1.0 / (busy / state.mean_handle_s + ahead * state.abandon_rate_per_s)
        for busy in range(state.agents_busy, state.agents_staffed, -1)
    )
    return drain + ql_wait_s(
        ahead, state.agents_staffed, state.mean_handle_s, state.abandon_rate_per_s
    )


def les(state: QueueState) -> float:
    """Last-to-enter-service predictor: the delay of the last contact answered."""
    if state.answered_now:
        return 0.0
    return state.last_delay_s or 0.0


def hol(state: QueueState) -> float:
    """Head-of-line predictor: the elapsed wait of the contact at the head.

    With nobody waiting the arriving contact will itself be the head: the last delay
    (LES) is the delay history left to go on.
    """
    if state.answered_now:
        return 0.0
    if state.head_wait_s is None:
        return les(state)
    return state.head_wait_s


PREDICTORS: Final[Mapping[str, Callable[[QueueState], float]]] = {QL: ql, LES: les, HOL: hol}


def predict_each(state: QueueState) -> dict[str, float]:
    """Every single predictor's estimate, by name."""
    return {name: predictor(state) for name, predictor in PREDICTORS.items()}


class Ewma:
    """Exponentially weighted mean; the first sample seeds it (or a prior, if given)."""

    __slots__ = ("alpha", "value")

    def __init__(self, alpha: float, prior: float | None = None) -> None:
        self.alpha = alpha
        self.value = prior

    def add(self, sample: float) -> float:
        self.value = (
            sample if self.value is None else self.value + self.alpha * (sample - self.value)
        )
        return self.value


class HandleTimeEstimator:
    """Recent mean handle time, fed with the handle time of every completed contact."""

    __slots__ = ("_mean",)

    def __init__(self, prior_s: float, *, alpha: float = 0.002) -> None:
        self._mean = Ewma(alpha, prior_s)

    def add(self, handle_s: float) -> None:
        self._mean.add(handle_s)

    @property
    def mean_s(self) -> float:
        assert self._mean.value is not None  # seeded by the prior
        return self._mean.value


class AbandonmentEstimator:
    """Recent hang-up rate ``theta`` of waiting contacts (1 / mean patience).

    The maximum-likelihood estimate for exponential patience: hang-ups divided by the
    total time contacts spent waiting, answered ones included (their patience outlasted
    their wait).  Both sums decay by ``1 - alpha`` per contact, so the rate is recent.
    """

    __slots__ = ("_alpha", "_exposure_s", "_hangups")

    def __init__(self, *, alpha: float = 0.002) -> None:
        self._alpha = alpha
        self._hangups = 0.0
        self._exposure_s = 0.0

    def add(self, waited_s: float, *, abandoned: bool) -> None:
        keep = 1.0 - self._alpha
        self._hangups = self._hangups * keep + (1.0 if abandoned else 0.0)
        self._exposure_s = self._exposure_s * keep + waited_s

    @property
    def rate_per_s(self) -> float:
        return self._hangups / self._exposure_s if self._exposure_s > 0.0 else 0.0


class BlendedPredictor:
    """Per-queue blend of the single predictors, weighted by how well they did lately.

    The weights are the least-squares fit of recent real delays on the predictors'
    estimates (QL, LES, HOL), each past contact's weight decaying by ``forgetting`` per
    newer one, with a ridge towards QL alone priced at ``ridge`` times QL's own recent
    squared error.  One fit both picks the most accurate mix and rescales it: when QL is
    biased (agents shared with other queues, staffing or handle times that moved) its
    weight shrinks and the delay-history predictors, which see how fast the queue really
    moves, take over; when QL is right, as in a stationary M/M/s queue, leaving it buys
    no accuracy and the ridge keeps the blend at QL.  Call ``observe`` when a contact is
    answered (the real delay of abandoned contacts is never known).
    """

    __slots__ = (
        "_every",
        "_forgetting",
        "_gram",
        "_moments",
        "_ratios",
        "_ridge",
        "_seen",
        "_squared_errors",
        "_w",
    )

    NAMES: Final = (QL, LES, HOL)

    def __init__(
        self,
        *,
        forgetting: float = 0.9995,
        ridge: float = 0.5,
        refit_every: int = 10,
        ratio_memory: int = 500,
    ) -> None:
        self._forgetting = forgetting
        self._ridge = ridge
        self._every = refit_every
        self._gram = [[0.0] * 3 for _ in range(3)]  # decayed sum of x x^T
        self._moments = [0.0] * 3  # decayed sum of x * actual
        self._squared_errors = [0.0] * 3  # decayed sum of (x - actual)^2
        self._w = [1.0, 0.0, 0.0]  # QL alone until delays are known
        self._seen = 0
        self._ratios: deque[float] = deque(maxlen=ratio_memory)

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(self.NAMES, self._w, strict=True))

    def recent_rmse_s(self) -> dict[str, float]:
        """Each single predictor's recent root mean squared error (decayed like the fit)."""
        weight = (1.0 - self._forgetting**self._seen) / (1.0 - self._forgetting)
        return {
            name: math.sqrt(sq / weight) if self._seen else math.nan
            for name, sq in zip(self.NAMES, self._squared_errors, strict=True)
        }

    def predict(self, estimates: Mapping[str, float]) -> float:
        """The blended EWT in seconds, from each single predictor's estimate."""
        w = self._w
        return max(0.0, w[0] * estimates[QL] + w[1] * estimates[LES] + w[2] * estimates[HOL])

    def observe(self, estimates: Mapping[str, float], actual_s: float) -> None:
        """Learn from a contact answered after ``actual_s`` (its estimates when it arrived)."""
        x = (estimates[QL], estimates[LES], estimates[HOL])
        keep = self._forgetting
        for i, xi in enumerate(x):
            self._moments[i] = keep * self._moments[i] + xi * actual_s
            self._squared_errors[i] = keep * self._squared_errors[i] + (xi - actual_s) ** 2
            row = self._gram[i]
            for j, xj in enumerate(x):
                row[j] = keep * row[j] + xi * xj
        predicted = self.predict(estimates)
        if predicted >= 1.0:
            self._ratios.append(actual_s / predicted)
        self._seen += 1
        if self._seen % self._every == 0:
            self._refit()

    def ratio_band(self, coverage: float = 0.8) -> tuple[float, float]:
        """Quantiles of recent actual/predicted delays holding ``coverage`` of them."""
        if len(self._ratios) < 50:
            return (0.5, 1.6)  # until there is history: an Erlang spread for a short queue
        ordered = sorted(self._ratios)
        tail = (1.0 - coverage) / 2.0
        last = len(ordered) - 1
        return ordered[round(tail * last)], ordered[round((1.0 - tail) * last)]

    def _refit(self) -> None:
        # Ridge towards QL alone, priced in QL's own recent squared error: leaving QL
        # must buy a real gain in accuracy, not chase noise.
        g, penalty = self._gram, self._ridge * self._squared_errors[0]
        a = [[g[i][j] + (penalty if i == j else 0.0) for j in range(3)] for i in range(3)]
        b = [self._moments[0] + penalty, self._moments[1], self._moments[2]]
        solved = _solve3(a, b)
        if solved is not None:
            self._w = solved


def _solve3(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Solve the 3x3 system ``a w = b`` by Cramer's rule; None when singular."""
    det = _det3(a)
    if not det or not math.isfinite(det):
        return None
    return [
        _det3([[b[r] if c == k else a[r][c] for c in range(3)] for r in range(3)]) / det
        for k in range(3)
    ]


def _det3(m: list[list[float]]) -> float:
    return (
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    )


# Bounds, in minutes, that a range shown to customers snaps to.
_LADDER_MIN: Final = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30)


@dataclass(frozen=True, slots=True)
class WaitRange:
    """The wait shown to a customer: bounds in seconds (no upper one past 30 minutes)."""

    low_s: float
    high_s: float | None
    label: str


def wait_range(estimate_s: float, band: tuple[float, float] = (0.5, 1.6)) -> WaitRange:
    """Turn an EWT into a range customers can trust, not a falsely precise number.

    ``band`` scales the estimate to the low and high ends the real wait recently fell
    within (``BlendedPredictor.ratio_band``); both ends snap outwards to the ladder
    1, 2, 3, 4, 5, 7, 10, 15, 20, 30 minutes.
    """
    low_min = estimate_s * band[0] / 60.0
    high_min = estimate_s * band[1] / 60.0
    top = _LADDER_MIN[-1]
    if high_min <= 1.0:
        return WaitRange(0.0, 60.0, "less than 1 minute")
    if low_min >= top:
        return WaitRange(top * 60.0, None, f"more than {top} minutes")
    low = _LADDER_MIN[bisect_right(_LADDER_MIN, low_min) - 1]
    if high_min > top:
        low = max(low, 1)
        return WaitRange(low * 60.0, None, f"more than {low} minute{'s' if low > 1 else ''}")
    high = _LADDER_MIN[bisect_left(_LADDER_MIN, high_min)]
    if low == 0:
        return WaitRange(0.0, high * 60.0, f"less than {high} minutes")
    return WaitRange(low * 60.0, high * 60.0, f"{low}\u2013{high} minutes")
