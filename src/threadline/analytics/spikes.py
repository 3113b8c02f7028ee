"""Is a contact reason spiking today? Pure arithmetic, no I/O (docs/reasons.md).

Today's count of a reason so far (from local midnight to now) is compared with the same
window (same weekday, midnight to the same time of day) of each of the last N weeks. The
expected count is the baseline mean, floored (`floor`) so that a reason nobody called about
does not turn its first few contacts into an alarm. The control limit is quasi-Poisson:

    variance = max(expected, sample variance of the baseline)   (never below Poisson)
    limit    = expected + z * sqrt(variance)                     (z = 3 by default)

A spike is a count above the limit that is also at least `min_count` contacts (few-contact
noise is not flagged however quiet the history).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WEEKS = 8  # the baseline: the same weekday of the last 8 weeks
Z = 3.0
FLOOR = 1.0  # the smallest expected count
MIN_COUNT = 5  # fewer contacts than this is never a spike


@dataclass(frozen=True)
class Verdict:
    count: int
    expected: float
    limit: float
    spiked: bool


def control_limit(
    baseline: Sequence[int], *, z: float = Z, floor: float = FLOOR
) -> tuple[float, float]:
    """The expected count and the upper control limit of a baseline (counts per week)."""
    if any(b < 0 for b in baseline):
        raise ValueError("counts cannot be negative")
    if z <= 0 or floor <= 0:
        raise ValueError("z and floor must be positive")
    n = len(baseline)
    mean = sum(baseline) / n if n else 0.0
    expected = max(mean, floor)
    variance = sum((b - mean) ** 2 for b in baseline) / (n - 1) if n > 1 else 0.0
    return expected, expected + z * math.sqrt(max(expected, variance))


def judge(
    count: int,
    baseline: Sequence[int],
    *,
    z: float = Z,
    floor: float = FLOOR,
    min_count: int = MIN_COUNT,
) -> Verdict:
    """Today's `count` against the `baseline` counts of the same window in earlier weeks."""
    if count < 0:
        raise ValueError("counts cannot be negative")
    expected, limit = control_limit(baseline, z=z, floor=floor)
    return Verdict(count, expected, limit, count > limit and count >= min_count)
