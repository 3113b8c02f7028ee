"""The outbox's retry schedule: exponential, capped, jittered into [50%, 100%)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from threadline.channels.outbox import backoff_delay


@given(
    attempt=st.integers(min_value=1, max_value=60),
    base=st.floats(min_value=0.01, max_value=60),
    cap=st.floats(min_value=0.01, max_value=3600),
    jitter=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_delay_is_within_half_and_all_of_the_capped_exponential(
    attempt: int, base: float, cap: float, jitter: float
) -> None:
    full = min(cap, base * 2 ** (attempt - 1))
    assert full / 2 <= backoff_delay(attempt, base, cap, jitter) < full + 1e-9


def test_delays_double_until_the_cap() -> None:
    assert [backoff_delay(n, 2.0, 30.0, 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 15, 15]
