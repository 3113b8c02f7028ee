"""The inbox's pure rules: when a snooze ends (in the agent's time zone), how canned
variables are filled and checked, how a search is turned into terms, and that every desktop
of the organisation hears that a thread moved."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from threadline.auth.roles import Principal
from threadline.customers.models import Customer
from threadline.errors import Invalid
from threadline.events.domain import ThreadChanged
from threadline.inbox.search import terms
from threadline.inbox.services import check_variables, fill, snooze_until
from threadline.realtime.http import desktop_keys, visible

LISBON = ZoneInfo("Europe/Lisbon")
ATHENS = ZoneInfo("Europe/Athens")
# Wednesday 2026-12-02, 23:30 UTC: already Thursday in Athens
NOW = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)


def test_presets_are_the_agents_wall_clock() -> None:
    assert snooze_until(NOW, LISBON, preset="1h") == datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    assert snooze_until(NOW, LISBON, preset="tomorrow") == datetime(
        2026, 12, 3, 9, 0, tzinfo=LISBON
    )
    # in Athens it is Thursday already: tomorrow is Friday, 09:00 Athens = 07:00 UTC
    tomorrow = snooze_until(NOW, ATHENS, preset="tomorrow")
    assert tomorrow == datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
    assert snooze_until(NOW, LISBON, preset="next_week") == datetime(
        2026, 12, 7, 9, 0, tzinfo=LISBON
    )  # Monday


def test_a_custom_time_is_read_in_the_agents_zone() -> None:
    until = snooze_until(NOW, ATHENS, local="2026-12-05T10:15")
    assert until == datetime(2026, 12, 5, 8, 15, tzinfo=UTC)
    given = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert snooze_until(NOW, ATHENS, until=given) == given


def test_variables_are_filled_and_unknown_ones_refused() -> None:
    marta = Customer(name="Marta Silva", email="marta@example.com", phone=None)
    body = "Hi {customer.first_name} ({customer.email}{customer.phone}), {agent.name} here."
    assert fill(body, marta, "Rui Costa") == "Hi Marta (marta@example.com), Rui Costa here."
    assert fill("{customer.name}!", None, "Rui") == "!"
    check_variables(body)
    with pytest.raises(Invalid, match=r"customer\.pin"):
        check_variables("Your PIN is {customer.pin}")


def test_search_terms_are_stemmed_prefixes_and_keep_the_words_typed() -> None:
    query = terms("en", "Cards  arriving, late!")
    assert query.raw == ("cards", "arriving", "late")
    assert query.fts5() == '"card"* "arriv"* "late"*'
    assert query.tsquery() == "cards:* & arriving:* & late:*"
    assert terms("pt", "Cartão").stems == ("carta",)  # folded as FTS5 folds it
    assert terms("en", "  ¿?  ").empty


def test_every_desktop_of_the_organisation_hears_a_thread_move() -> None:
    moved = ThreadChanged(
        org_id="o1", thread_id="t1", status="queued", assigned_agent_id=None, updated_at="x"
    )
    olga = Principal("a2", "o1", "agent", "Olga")
    stranger = Principal("a9", "o2", "agent", "Eve")
    assert visible(olga, set(), moved)
    assert not visible(stranger, set(), moved)
    assert ("org", "o1", "thread.changed") in desktop_keys(olga, set())
