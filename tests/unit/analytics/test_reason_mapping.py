"""A contact's reason from the taxonomy (reasons/services.py), and the spike check's
windows across a daylight-saving change; no database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from threadline.reasons.models import ReasonCode
from threadline.reasons.services import Taxonomy, given_reason, windows
from threadline.routing.models import Contact

TAXONOMY = Taxonomy.of(
    [
        ReasonCode(code="cards", parent=None, intents=[], ivr=["1"], wrapup=[]),
        ReasonCode(
            code="card_lost", parent="cards", intents=["lost_card"], ivr=[], wrapup=["lost"]
        ),
        ReasonCode(code="balance", parent=None, intents=["balance"], ivr=["2"], wrapup=[]),
    ]
)


def contact(**fields: object) -> Contact:
    return Contact(**{"channel": "chat", "context": {}, **fields})


def test_the_wrapup_wins_then_the_recorded_reason_by_where_it_came_from() -> None:
    assert given_reason(TAXONOMY, contact(reason="2", wrapup_reason="lost")) == (
        "card_lost",
        "wrapup",
    )
    assert given_reason(TAXONOMY, contact(wrapup_reason="balance")) == ("balance", "wrapup")
    bot = contact(reason="lost_card", wrapup_reason="other", context={"bot": {"intent": "x"}})
    assert given_reason(TAXONOMY, bot) == ("card_lost", "bot")
    assert given_reason(TAXONOMY, contact(reason="1", channel="voice")) == ("cards", "ivr")
    assert given_reason(TAXONOMY, contact(reason="2", channel="app")) == ("balance", "app")
    assert given_reason(TAXONOMY, contact(reason="nothing", wrapup_reason="other")) is None
    assert given_reason(TAXONOMY, contact()) is None


def test_windows_keep_the_wall_clock_across_a_dst_change() -> None:
    lisbon = ZoneInfo("Europe/Lisbon")
    # Monday 6 April 2026, 10:30 in Lisbon (summer time, UTC+1)
    now = datetime(2026, 4, 6, 9, 30, tzinfo=UTC)
    found = windows(now, lisbon, 8)
    assert len(found) == 9
    assert found[0] == (datetime(2026, 4, 5, 23, 0, tzinfo=UTC), now)
    # four weeks earlier (9 March) Lisbon was on UTC+0: the same local 00:00-10:30
    assert found[4] == (
        datetime(2026, 3, 9, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 9, 10, 30, tzinfo=UTC),
    )
    for start, end in found:  # every week: Monday, local midnight to 10:30
        local_start, local_end = start.astimezone(lisbon), end.astimezone(lisbon)
        assert local_start.weekday() == 0 and (local_start.hour, local_start.minute) == (0, 0)
        assert local_end.date() == local_start.date()
        assert (local_end.hour, local_end.minute) == (10, 30)
