"""What a waiting customer is promised (i18n/waits.py): "shortly" only for a short estimate,
the range for a long one, nothing without one; the SMS words the range as the widget does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.i18n.waits import SHORT_WAIT_S, promise, wait_phrase
from threadline.journey.schemas import CustomerWaitOut
from threadline.queueing.ewt import wait_range


@pytest.mark.parametrize(
    ("low_s", "high_s", "expected"),
    [
        (0, 60, "soon"),
        (60, 120, "soon"),
        (60, 180, "range"),
        (1800, None, "range"),  # "more than 30 min" is never "shortly"
        (0, None, "range"),
        (None, None, "unknown"),
    ],
)
def test_promise(low_s: float | None, high_s: float | None, expected: str) -> None:
    assert promise(low_s, high_s) == expected


@given(st.floats(min_value=0, max_value=24 * 3600))
def test_shortly_only_when_the_shown_range_ends_soon(estimate_s: float) -> None:
    shown = wait_range(estimate_s)
    if promise(shown.low_s, shown.high_s) == "soon":
        assert shown.high_s is not None and shown.high_s <= SHORT_WAIT_S
        assert "more than" not in wait_phrase("en", shown.low_s, shown.high_s)


@pytest.mark.parametrize(
    ("low_s", "high_s", "english", "spanish"),
    [
        (1800, None, "more than 30 min", "más de 30 min"),
        (0, 120, "less than 2 min", "menos de 2 min"),
        (300, 420, "about 5–7 min", "unos 5–7 min"),
    ],
)
def test_the_sms_words_the_range_as_the_widget(
    low_s: float, high_s: float | None, english: str, spanish: str
) -> None:
    assert wait_phrase("en", low_s, high_s) == english
    assert wait_phrase("es", low_s, high_s) == spanish


def test_the_wait_view_carries_the_promise_the_widget_shows() -> None:
    assert CustomerWaitOut(status="queued", low_s=0, high_s=60).promise == "soon"
    assert CustomerWaitOut(status="queued", low_s=1800, high_s=None).promise == "range"
    assert CustomerWaitOut(status="queued").promise == "unknown"
    assert CustomerWaitOut(status="offered").promise == "soon"  # an agent is being asked
    assert CustomerWaitOut(status="abandoned", low_s=0, high_s=60).promise == "unknown"
    assert CustomerWaitOut(status="queued", low_s=0, high_s=60).model_dump()["promise"] == "soon"
