"""How a callback is shown to its customer: the number masked, a window in their zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from threadline.callbacks.models import Callback
from threadline.callbacks.texts import when
from threadline.callbacks.transitions import aware, mask


@pytest.mark.parametrize(
    ("phone", "shown"),
    [("+351912345678", "+35191234\u2022\u202278"), ("+12345", "+12345")],
)
def test_the_number_shows_only_its_last_two_digits(phone: str, shown: str) -> None:
    assert mask(phone) == shown


def test_a_naive_stored_moment_is_read_as_utc() -> None:
    naive = datetime(2026, 6, 9, 10, 0)  # noqa: DTZ001 - what SQLite returns
    assert aware(naive) == datetime(2026, 6, 9, 10, 0, tzinfo=UTC)
    moment = datetime(2026, 6, 9, 10, 0, tzinfo=UTC)
    assert aware(moment) is moment


def test_a_window_is_worded_in_the_customers_zone() -> None:
    callback = Callback(
        window_start=datetime(2026, 6, 9, 9, 0),  # noqa: DTZ001 - as stored by SQLite
        window_end=datetime(2026, 6, 9, 9, 30, tzinfo=UTC),
    )
    assert when(callback, "Europe/Lisbon") == "Tue 09 Jun 10:00\u201310:30"
    assert when(callback, "UTC") == "Tue 09 Jun 09:00\u201309:30"


def test_a_callback_without_a_window_has_no_wording() -> None:
    assert when(Callback(), "UTC") == ""
