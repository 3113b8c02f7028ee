"""The KPI formulas against hand-computed cases (analytics/kpi.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.analytics import kpi
from threadline.analytics.kpi import ContactFacts, ContactRow, Counters, Entry, Options, Segment

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def answered(
    wait_s: float, *, agent: str = "a1", talk_s: float = 60, queue: str = "q"
) -> ContactFacts:
    start = at(seconds=wait_s)
    return ContactFacts(
        queue_id=queue,
        channel="chat",
        reason="card",
        enqueued_at=T0,
        ended_at=start + timedelta(seconds=talk_s),
        outcome="resolved",
        target_s=20,
        last_agent_id=agent,
        first_answer_at=start,
        first_agent_id=agent,
        segments=(Segment(agent, start, start + timedelta(seconds=talk_s)),),
    )


def abandoned(wait_s: float, queue: str = "q") -> ContactFacts:
    return ContactFacts(
        queue_id=queue,
        channel="chat",
        reason="card",
        enqueued_at=T0,
        ended_at=at(seconds=wait_s),
        outcome="abandoned",
        target_s=20,
    )


def counted(*contacts: ContactFacts) -> Counters:
    deltas: kpi.Deltas = {}
    for facts in contacts:
        kpi.fold_contact(deltas, facts)
    return kpi.total(deltas.values())


def test_short_abandons_around_the_threshold() -> None:
    # 4 s and exactly 5 s are short (at most the threshold); 5.5 s and 30 s are abandons
    c = counted(abandoned(4), abandoned(5), abandoned(5.5), abandoned(30), answered(12))
    figures = kpi.kpis(c)
    assert figures["short_abandoned"] == 2
    assert figures["abandoned"] == 2
    assert figures["offered"] == 3  # 5 offered less the 2 short
    assert figures["abandon_rate"] == pytest.approx(2 / 3)
    # the threshold is configurable: at 0 every abandon counts, at 10 the 5.5 s one is short
    assert kpi.kpis(c, Options(short_abandon_s=0))["abandoned"] == 4
    assert kpi.kpis(c, Options(short_abandon_s=10))["abandoned"] == 1
    with pytest.raises(ValueError, match="wait bins"):
        Options(short_abandon_s=7)


def test_service_level_and_its_variants() -> None:
    # queue target 20 s; answered after 10, 20, 25, 40 s; abandoned after 3 (short), 15, 60 s
    c = counted(
        answered(10), answered(20), answered(25), answered(40),
        abandoned(3), abandoned(15), abandoned(60),
    )  # fmt: skip
    # 2 answered within 20 s / (4 answered + 2 abandoned that were not short)
    assert kpi.kpis(c)["service_level"] == pytest.approx(2 / 6)
    # answered only: 2 / 4
    assert kpi.kpis(c, Options(sl_variant="answered_only"))["service_level"] == 0.5
    # abandons within T neutral: 2 / (4 + 3 - 2 abandoned within 20 s)
    neutral = Options(sl_variant="abandons_within_t_neutral")
    assert kpi.kpis(c, neutral)["service_level"] == pytest.approx(2 / 5)
    # another threshold from the histogram: within 30 s are 10, 20, 25 -> 3 / 6
    assert kpi.kpis(c, Options(sl_threshold_s=30))["service_level"] == 0.5
    assert kpi.kpis(c)["asa_s"] == pytest.approx((10 + 20 + 25 + 40) / 4)
    assert kpi.kpis(c)["answered"] == 4


def test_each_contact_is_held_to_its_own_queues_target() -> None:
    strict = ContactFacts(**{**answered(15).__dict__, "target_s": 10, "queue_id": "fast"})
    c = counted(strict, answered(15))  # 15 s: late for the 10 s queue, on time for 20 s
    assert kpi.kpis(c)["service_level"] == 0.5


def _entry(seq: int, kind: str, agent: str | None, when: datetime, author: str = "agent") -> Entry:
    return Entry(seq, kind, author, agent, when)


def test_a_transfer_splits_handling_between_the_two_agents() -> None:
    row = ContactRow(
        id="c1",
        customer_id="cu",
        queue_id="q2",
        channel="voice",
        status="resolved",
        reason=None,
        wrapup_reason="billing",
        agent_id="b",
        enqueued_at=T0,
        ended_at=at(10, 10),
    )
    entries = [
        _entry(1, "queued", None, T0, "system"),
        _entry(2, "assigned", "a", at(0, 10)),
        _entry(3, "transferred", "a", at(5, 10)),
        _entry(4, "assigned", "b", at(6, 10)),
        _entry(5, "resolved", "b", at(10, 10)),
    ]
    facts = kpi.build_facts(row, entries, target_s=20)
    assert facts is not None and facts.outcome == "resolved" and facts.reason == "billing"
    deltas: kpi.Deltas = {}
    kpi.fold_contact(deltas, facts)
    by_agent = {key[3]: kpi.kpis(Counters.of(values)) for key, values in deltas.items()}
    assert by_agent["a"]["answered"] == 1 and by_agent["a"]["transfers"] == 1
    assert by_agent["a"]["aht_s"] == 300 and by_agent["a"]["transfer_rate"] == 1.0
    assert by_agent["b"]["answered"] == 0 and by_agent["b"]["aht_s"] == 240
    assert by_agent["b"]["resolved"] == 1 and by_agent["b"]["transfer_rate"] is None
    whole = kpi.kpis(kpi.total(deltas.values()))
    assert whole["offered"] == 1 and whole["handled"] == 2
    assert whole["aht_s"] == 270 and whole["transfer_rate"] == 1.0 and whole["asa_s"] == 10


def test_a_contact_that_spans_intervals_loads_each_with_its_share() -> None:
    # in at 09:10, answered at 09:14, resolved at 09:31; the agent staffed 09:00-10:00
    contact = ContactFacts(
        queue_id="q",
        channel="chat",
        reason="card",
        enqueued_at=at(10),
        ended_at=at(31),
        outcome="resolved",
        target_s=20,
        last_agent_id="a",
        first_answer_at=at(14),
        first_agent_id="a",
        segments=(Segment("a", at(14), at(31)),),
    )
    deltas: kpi.Deltas = {}
    kpi.fold_contact(deltas, contact)
    kpi.fold_presence(deltas, "a", "available", T0, at(60))
    busy = {key[0]: values["busy_s"] for key, values in deltas.items() if "busy_s" in values}
    assert busy == {at(0): 60, at(15): 900, at(30): 60}
    # the contact itself (offered, talk) is counted in its arrival interval, 09:00
    arrival = [v for k, v in deltas.items() if v.get("offered")]
    assert len(arrival) == 1 and arrival[0]["talk_s"] == 17 * 60

    def occupancy(minutes: int) -> dict[datetime, float | None]:
        groups: dict[datetime, Counters] = {}
        for key, values in deltas.items():
            start = kpi.interval_start(key[0], minutes, UTC)
            groups.setdefault(start, Counters()).__iadd__(values)
        return {k: kpi.kpis(c)["occupancy"] for k, c in sorted(groups.items())}

    assert occupancy(15) == {at(0): 60 / 900, at(15): 1.0, at(30): 60 / 900, at(45): 0.0}
    assert occupancy(30) == {at(0): 960 / 1800, at(30): 60 / 1800}
    assert occupancy(60) == {at(0): 1020 / 3600}


def test_intervals_in_the_callers_time_zone() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: an hour there starts at :30 UTC
    bucket = datetime(2026, 12, 7, 3, 45, tzinfo=UTC)  # 09:15 in Kolkata
    assert kpi.interval_start(bucket, 60, kolkata) == datetime(2026, 12, 7, 9, 0, tzinfo=kolkata)
    assert kpi.interval_start(bucket, 30, kolkata).minute == 0
    lisbon = ZoneInfo("Europe/Lisbon")
    late = datetime(2026, 7, 7, 23, 30, tzinfo=UTC)  # 00:30 on the 8th in Lisbon (summer)
    assert kpi.interval_start(late, 1440, lisbon) == datetime(2026, 7, 8, tzinfo=lisbon)
    assert kpi.bucket_of(datetime(2026, 12, 7, 9, 29, 59, tzinfo=UTC)) == at(15)


def test_first_contact_resolution_looks_seven_days_ahead() -> None:
    first = answered(10)  # resolved 09:01:10 for "card"
    again = ContactFacts(
        **{**answered(10).__dict__, "enqueued_at": first.ended_at + timedelta(days=7)}
    )
    later = ContactFacts(
        **{**again.__dict__, "enqueued_at": again.enqueued_at + timedelta(seconds=1)}
    )
    other = ContactFacts(**{**again.__dict__, "reason": "loan"})
    unknown = ContactFacts(**{**first.__dict__, "reason": ""})
    assert kpi.is_repeat(first, again)  # exactly 7 days later: still a repeat
    assert not kpi.is_repeat(first, later)
    assert not kpi.is_repeat(first, other)
    assert not kpi.is_repeat(unknown, ContactFacts(**{**again.__dict__, "reason": ""}))
    assert not kpi.is_repeat(abandoned(30), again)  # not resolved: nothing to repeat
    deltas: kpi.Deltas = {}
    for facts in (first, answered(10, agent="a2")):
        kpi.fold_contact(deltas, facts)
    kpi.fold_repeat(deltas, first)
    whole = kpi.kpis(kpi.total(deltas.values()))
    assert whole["resolved"] == 2 and whole["fcr"] == 0.5


def test_a_contact_the_system_ended_is_not_resolved() -> None:
    row = ContactRow(
        id="c",
        customer_id="cu",
        queue_id="q",
        channel="voice",
        status="resolved",
        reason=None,
        wrapup_reason="callback no-answer",
        agent_id="a",
        enqueued_at=T0,
        ended_at=at(2),
    )
    entries = [_entry(1, "assigned", "a", at(1)), _entry(2, "resolved", None, at(2), "system")]
    facts = kpi.build_facts(row, entries, 20)
    assert facts is not None and facts.outcome == "ended"
    whole = kpi.kpis(counted(facts))
    assert whole["resolved"] == 0 and whole["answered"] == 1 and whole["aht_s"] == 60
    waiting = ContactRow(**{**row.__dict__, "status": "queued", "ended_at": None})
    assert kpi.build_facts(waiting, [], 20) is None


def test_callbacks_bot_and_surveys() -> None:
    deltas: kpi.Deltas = {}
    for action in ("requested", "booked", "dialing", "answered", "completed", "not_answered"):
        kpi.fold_callback(deltas, T0, "q", action)
    kpi.fold_callback(deltas, T0, "q", "failed")
    for deflected in (True, True, True, False):
        kpi.fold_bot(deltas, T0, "chat", "card_arrival", deflected)
    key: kpi.Key = (T0, "q", "chat", "a", "card")
    for score in (5, 4, 3, 1, 9):  # 9 is off the scale: not counted
        kpi.fold_survey(deltas, T0, key, "csat", score)
    for score in (7, 5, 4, 2):
        kpi.fold_survey(deltas, T0, key, "ces", score)
    f = kpi.kpis(kpi.total(deltas.values()))
    assert (f["callbacks_requested"], f["callbacks_answered"]) == (2, 1)
    assert (f["callbacks_kept"], f["callbacks_failed"], f["callbacks_kept_rate"]) == (1, 1, 0.5)
    assert f["deflection"] == 0.75
    assert f["csat"] == 0.5 and f["csat_answers"] == 4
    assert f["ces"] == 4.5 and f["ces_easy"] == 0.5


def test_no_denominator_no_figure() -> None:
    figures = kpi.kpis(Counters())
    assert figures["service_level"] is None and figures["aht_s"] is None
    assert figures["occupancy"] is None and figures["fcr"] is None


waits = st.floats(min_value=0, max_value=2000, allow_nan=False)


@given(st.lists(st.tuples(st.booleans(), waits), min_size=1, max_size=40), st.booleans())
def test_counters_add_up_in_any_grouping(contacts: list[tuple[bool, float]], split: bool) -> None:
    """Summing rows in any order or grouping gives the same KPIs as counting all at once,
    and the figures stay within their bounds."""
    facts = [answered(w) if ok else abandoned(w) for ok, w in contacts]
    whole = counted(*facts)
    halves = counted(*facts[::2])
    halves += counted(*facts[1::2])
    assert kpi.kpis(whole) == pytest.approx(kpi.kpis(halves), nan_ok=True)
    for variant in kpi.SL_VARIANTS:
        level = kpi.kpis(whole, Options(sl_threshold_s=30, sl_variant=variant))["service_level"]
        assert level is None or 0 <= level <= 1
    assert whole.waited_le("answered", 600) <= whole["answered"]


@given(
    st.datetimes(
        min_value=datetime(2026, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(2027, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.floats(min_value=0, max_value=20_000, allow_nan=False),
)
def test_time_cut_at_bucket_edges_adds_up(start: datetime, seconds: float) -> None:
    pieces = list(kpi.split_by_bucket(start, start + timedelta(seconds=seconds)))
    assert sum(s for _, s in pieces) == pytest.approx(seconds, abs=1e-3)
    assert all(0 <= s <= 900 for _, s in pieces)
    assert [b for b, _ in pieces] == sorted({b for b, _ in pieces})


def test_rollups_sum_each_dimension_alone() -> None:
    deltas: kpi.Deltas = {}
    kpi.fold_contact(deltas, answered(10, agent="a", queue="q1"))
    kpi.fold_contact(deltas, answered(30, agent="b", queue="q2"))
    kpi.fold_presence(deltas, "a", "available", T0, at(60))
    rolled = kpi.rollup(deltas)
    day = kpi.grain_start(T0, "day")
    assert rolled[("day", day, "queue", "q1")]["answered"] == 1
    assert rolled[("day", day, "agent", "a")]["staffed_s"] == 3600
    assert ("day", day, "queue", "") not in rolled  # staffed time is no queue's
    assert rolled[("day", day, "all", "")]["answered"] == 2
    for grain in ("hour", "quarter"):
        rows = [v for k, v in rolled.items() if k[0] == grain]
        assert sum(v.get("staffed_s", 0) for v in rows) == 3600
        assert kpi.total(rows).values == kpi.total(deltas.values()).values


def _row(**wrapup: datetime | None) -> ContactRow:
    return ContactRow(
        id="c1",
        customer_id="cu",
        queue_id="q",
        channel="chat",
        status="resolved",
        reason="card",
        wrapup_reason=None,
        agent_id="a1",
        enqueued_at=T0,
        ended_at=at(minutes=5),
        **wrapup,  # type: ignore[arg-type]
    )


ANSWERED_AND_RESOLVED = (
    Entry(1, "assigned", "agent", "a1", at(seconds=30)),
    Entry(2, "resolved", "agent", "a1", at(minutes=5)),
)


def test_aht_includes_the_wrap_up_by_hand() -> None:
    # contact 1: talk 09:00:30-09:05:00 (270 s), wrap-up 09:05:00-09:06:30 (90 s);
    # contact 2: answered after 10 s, talk 60 s, no wrap-up.
    # AHT = (270 + 90 + 60) / 2 = 210 s; busy = talk + wrap-up = 420 s
    with_wrapup = kpi.build_facts(
        _row(wrapup_started_at=at(minutes=5), wrapup_ended_at=at(minutes=6, seconds=30)),
        ANSWERED_AND_RESOLVED,
        20,
    )
    assert with_wrapup is not None and with_wrapup.wrapup_s == 90
    c = counted(with_wrapup, answered(10))
    figures = kpi.kpis(c)
    assert c["talk_s"] == 330 and c["wrapup_s"] == 90 and c["busy_s"] == 420
    assert figures["handled"] == 2
    assert figures["aht_s"] == pytest.approx(210)


def test_a_contact_is_counted_once_its_wrap_up_ends() -> None:
    open_wrapup = _row(wrapup_started_at=at(minutes=5), wrapup_ended_at=None)
    assert kpi.build_facts(open_wrapup, ANSWERED_AND_RESOLVED, 20) is None
    assert kpi.build_facts(_row(), ANSWERED_AND_RESOLVED, 20) is not None


def test_a_wrap_up_across_a_bucket_edge_loads_both_intervals() -> None:
    # wrap-up 09:14:00-09:16:00: 60 s of busy time in the 09:00 bucket, 60 s in 09:15;
    # the wrap-up seconds themselves go to the contact's arrival interval (09:00)
    facts = kpi.build_facts(
        _row(wrapup_started_at=at(minutes=14), wrapup_ended_at=at(minutes=16)),
        ANSWERED_AND_RESOLVED,
        20,
    )
    assert facts is not None
    deltas: kpi.Deltas = {}
    kpi.fold_contact(deltas, facts)
    busy = {key[0]: row.get("busy_s", 0.0) for key, row in deltas.items()}
    wrapup = {key[0]: row.get("wrapup_s", 0.0) for key, row in deltas.items()}
    assert busy[at(minutes=0)] == 270 + 60 and busy[at(minutes=15)] == 60
    assert wrapup[at(minutes=0)] == 120 and wrapup.get(at(minutes=15), 0.0) == 0


def test_hold_is_its_own_term_of_aht_and_a_call_ended_on_hold_holds_to_its_end() -> None:
    row = ContactRow(
        id="c",
        customer_id="cu",
        queue_id="q",
        channel="voice",
        status="resolved",
        reason="card",
        wrapup_reason=None,
        agent_id="a",
        enqueued_at=T0,
        ended_at=at(9),
    )
    entries = [
        _entry(1, "assigned", "a", at(1)),
        _entry(2, "call_held", None, at(2), "system"),
        _entry(3, "call_held", None, at(2, 30), "system"),  # a repeat: still held since 2:00
        _entry(4, "call_resumed", None, at(3), "system"),
        _entry(5, "call_resumed", None, at(4), "system"),  # not held: nothing
        _entry(6, "call_held", None, at(8), "system"),
        _entry(7, "resolved", "a", at(9)),
    ]
    facts = kpi.build_facts(row, entries, 20)
    assert facts is not None and facts.hold_s == 60 + 60  # 2:00-3:00, then 8:00 to the end
    whole = kpi.kpis(counted(facts))
    c = counted(facts)
    assert c["talk_s"] == 8 * 60 - 120 and c["hold_s"] == 120
    assert whole["aht_s"] == 8 * 60  # talk + hold: the agent's whole segment, once
