"""What a waiting customer is told about their wait, from the one estimate routing makes
(routing/waits.py: a range snapped to a ladder of minutes). Pure.

Every text derives from the same three cases, so no page says "shortly" beside "more than
30 min": a short wait (the range's top at most SHORT_WAIT_S) may be promised as "shortly";
a longer one is told as its range; no estimate means no promise at all. The widget mirrors
SHORT_WAIT_S and the same rules (web/static/widget/threadline-widget.js)."""

from __future__ import annotations

from typing import Final, Literal

from threadline.web.i18n import translate

SHORT_WAIT_S: Final = 120

Promise = Literal["soon", "range", "unknown"]


def promise(low_s: float | None, high_s: float | None) -> Promise:
    """Which of the three a wait estimate is: ``low_s`` None means there is no estimate."""
    if low_s is None:
        return "unknown"
    if high_s is not None and high_s <= SHORT_WAIT_S:
        return "soon"
    return "range"


def wait_phrase(language: str, low_s: float, high_s: float | None) -> str:
    """The range in whole minutes, as the widget shows it: "more than 30 min", "less than
    2 min", "about 5-7 min" (with an en dash)."""
    low = round(low_s / 60)
    if high_s is None:
        return translate(language, "wait_more", low=str(max(low, 1)))
    high = max(round(high_s / 60), 1)
    if low <= 0:
        return translate(language, "wait_less", high=str(high))
    return translate(language, "wait_about", low=str(low), high=str(high))
