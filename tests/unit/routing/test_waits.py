"""Live wait estimates: the engine's snapshot of a waiting contact, and the estimator
that turns it into a place and a range."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.routing.test_engine import agent, contact
from threadline.routing.engine import AVAILABLE, AWAY, Router, effective_skills
from threadline.routing.waits import WaitEstimator


def _router_with(n_agents: int, *, voice_capacity: int = 1) -> Router:
    router = Router()
    for i in range(n_agents):
        spec = agent(f"a{i}", capacity={"voice": voice_capacity})
        router.upsert_agent(spec, presence=AVAILABLE, idle_since=float(i))
    return router


def _fill(router: Router, n: int, *, start: float = 100.0) -> None:
    for i in range(n):
        router.add_contact(contact(f"c{i}", channel="voice", enqueued_at=start + i))
        router.route_contact(f"c{i}", start + i)


def test_snapshot_counts_who_is_ahead_and_the_busy_slots() -> None:
    router = _router_with(2)
    _fill(router, 5)  # two answered at once, three wait
    assert router.wait_snapshot("c0") is None  # offered, not waiting
    snap = router.wait_snapshot("c4")
    assert snap is not None
    assert (snap.ahead, snap.slots, snap.busy_slots, snap.agents) == (2, 2, 2, 2)
    assert snap.head_enqueued_at == 102.0
    first = router.wait_snapshot("c2")
    assert first is not None and first.ahead == 0


def test_snapshot_ranks_priority_before_age() -> None:
    router = _router_with(1)
    _fill(router, 3)
    router.add_contact(contact("vip", channel="voice", enqueued_at=500.0, priority=5))
    vip = router.wait_snapshot("vip")
    old = router.wait_snapshot("c1")
    assert vip is not None and old is not None
    assert vip.ahead == 0 and old.ahead == 1


def test_snapshot_ignores_agents_away_or_unqualified() -> None:
    router = _router_with(2)
    router.upsert_agent(agent("away", capacity={"voice": 1}), presence=AWAY, idle_since=0.0)
    router.upsert_agent(
        agent("chat-only", capacity={"chat": 3}), presence=AVAILABLE, idle_since=0.0
    )
    _fill(router, 3)
    snap = router.wait_snapshot("c2")
    assert snap is not None and (snap.agents, snap.slots) == (2, 2)


def test_estimate_is_queue_length_over_service_rate_until_delays_are_known() -> None:
    router = _router_with(2)
    _fill(router, 6)  # c2..c5 wait
    waits = WaitEstimator(default_handle_s=240.0)
    estimate = waits.estimate(router, "c5", "q1", now=110.0)
    assert estimate is not None
    assert estimate.position == 4
    # M/M/s with no hang-ups: (ahead + 1) / (s * mu) = 4 / (2 / 240 s) = 480 s
    assert math.isclose(estimate.ewt_s, 480.0)
    assert estimate.low_s <= 480.0 <= (estimate.high_s or math.inf)
    assert estimate.as_data()["position"] == 4


def test_handle_times_and_answered_delays_move_the_estimate() -> None:
    router = _router_with(1)
    _fill(router, 3)
    waits = WaitEstimator(default_handle_s=600.0)
    before = waits.estimate(router, "c2", "q1", now=103.0)
    for _ in range(200):
        waits.handled("q1", 60.0)
    after = waits.estimate(router, "c2", "q1", now=103.0)
    assert before is not None and after is not None
    assert after.ewt_s < before.ewt_s / 3


def test_no_agent_staffed_says_more_than_the_ladder_top() -> None:
    router = Router()
    router.add_contact(contact("alone", channel="voice", enqueued_at=1.0))
    estimate = WaitEstimator(300.0).estimate(router, "alone", "q1", now=50.0)
    assert estimate is not None
    assert estimate.high_s is None and math.isinf(estimate.ewt_s)
    assert estimate.as_data()["ewt_s"] is None


@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "free", "drop", "away"]),
            st.integers(0, 3),  # priority, or which agent/contact
            st.sampled_from(["billing", "cards"]),
        ),
        max_size=60,
    )
)
def test_the_place_in_line_matches_counting_by_hand(
    ops: list[tuple[str, int, str]],
) -> None:
    router = Router()
    for i in range(3):
        spec = agent(f"a{i}", skills={"billing": 2, "cards": 2}, capacity={"voice": 1})
        router.upsert_agent(spec, presence=AWAY, idle_since=0.0)
    now, added, specs = 0.0, 0, {}
    for op, n, skill in ops:
        now += 1.0
        if op == "add":
            spec = contact(
                f"c{added}",
                channel="voice",
                required_skills=frozenset({skill}),
                priority=n,
                enqueued_at=now - (added % 3) * 10,  # not always in arrival order
                overflow_at=now + 5 if skill == "cards" else None,
                overflow_skills=frozenset({"billing"}) if skill == "cards" else None,
            )
            router.add_contact(spec)
            specs[spec.id] = spec
            added += 1
        elif op == "free":
            router.set_presence(f"a{n % 3}", AVAILABLE, now)
            router.route_agent(f"a{n % 3}", now)
        elif op == "drop":
            router.remove_contact(f"c{n}")
        else:
            router.set_presence(f"a{n % 3}", AWAY, now)
        router.match(now)  # applies overflow re-keying too
    waiting = {cid: s for cid, s in specs.items() if router.waiting_contact(cid) is not None}
    for cid, spec in waiting.items():
        snap = router.wait_snapshot(cid)
        assert snap is not None
        skills = effective_skills(spec, now)
        same = [o for o in waiting.values() if effective_skills(o, now) == skills]
        rank = (-spec.priority, spec.enqueued_at, spec.id)
        by_hand = sum(1 for o in same if (-o.priority, o.enqueued_at, o.id) < rank)
        assert snap.ahead == by_hand
        assert snap.head_enqueued_at == min((-o.priority, o.enqueued_at, o.id) for o in same)[1]
