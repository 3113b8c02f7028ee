"""The pure routing engine: worked examples, then a model-checked state machine.

The state machine drives ``Router`` and a deliberately naive reference model side by
side; every routing answer must equal the model's, and the invariants named in
shared/DESIGN.md (capacity, eligibility, no starvation, nothing left matchable) are
asserted on their own so a failure says which rule broke.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from threadline.routing.engine import (
    AVAILABLE,
    AWAY,
    BUSY,
    OFFLINE,
    AgentSpec,
    Assignment,
    ContactSpec,
    Router,
    effective_skills,
)

# --------------------------------------------------------------------------- helpers


def agent(
    agent_id: str,
    skills: Mapping[str, int] | None = None,
    *,
    languages: tuple[str, ...] = ("en",),
    tier: int = 1,
    capacity: Mapping[str, int] | None = None,
    max_total: int | None = None,
) -> AgentSpec:
    return AgentSpec(
        id=agent_id,
        skills={"billing": 3} if skills is None else dict(skills),
        languages=frozenset(languages),
        tier=tier,
        capacity={"chat": 3, "voice": 1} if capacity is None else dict(capacity),
        max_total=max_total,
    )


def contact(contact_id: str, **changes: object) -> ContactSpec:
    base = ContactSpec(
        id=contact_id,
        queue_id="q1",
        channel="chat",
        required_skills=frozenset({"billing"}),
        language="en",
        priority=0,
        enqueued_at=0.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def router_with(*agents: tuple[AgentSpec, float], strategy: str = "longest_idle") -> Router:
    """A router whose agents are all available, idle since the given times."""
    router = Router(strategy=strategy)  # type: ignore[arg-type]
    for spec, idle_since in agents:
        router.upsert_agent(spec, presence=AVAILABLE, idle_since=idle_since)
    return router


# ---------------------------------------------------------- arrival path examples


def test_longest_idle_agent_gets_the_contact_ties_broken_by_id() -> None:
    router = router_with((agent("b"), 5.0), (agent("a"), 5.0), (agent("c"), 9.0))
    router.add_contact(contact("c1"))
    assert router.route_contact("c1", now=10.0) == Assignment("c1", "a", sticky=False)
    assert router.waiting() == 0
    assert router.agent_load("a") == {"chat": 1}


def test_sticky_last_agent_wins_inside_the_window_only() -> None:
    router = router_with((agent("old"), 1.0), (agent("last"), 8.0))
    router.add_contact(contact("in", last_agent_id="last", sticky_until=20.0))
    router.add_contact(contact("out", last_agent_id="last", sticky_until=20.0))
    assert router.route_contact("in", now=19.0) == Assignment("in", "last", sticky=True)
    assert router.route_contact("out", now=20.0) == Assignment("out", "old", sticky=False)


def test_sticky_agent_not_eligible_falls_back_to_longest_idle() -> None:
    router = router_with((agent("other"), 3.0), (agent("last", languages=("pt",)), 1.0))
    router.add_contact(contact("c1", last_agent_id="last", sticky_until=99.0))
    assert router.route_contact("c1", now=5.0) == Assignment("c1", "other", sticky=False)


def test_best_skill_prefers_the_higher_level_sum_then_longest_idle() -> None:
    router = router_with(
        (agent("idle", {"billing": 2, "fraud": 2}), 0.0),
        (agent("expert", {"billing": 5, "fraud": 4}), 50.0),
        (agent("twin", {"billing": 4, "fraud": 5}), 40.0),
        strategy="best_skill",
    )
    needs_both = frozenset({"billing", "fraud"})
    router.add_contact(contact("c1", required_skills=needs_both))
    router.add_contact(contact("c2", required_skills=needs_both))
    router.add_contact(contact("c3", required_skills=needs_both))
    assert router.route_contact("c1", now=60.0).agent_id == "twin"  # type: ignore[union-attr]
    assert router.route_contact("c2", now=60.0).agent_id == "twin"  # type: ignore[union-attr]
    assert router.route_contact("c3", now=60.0).agent_id == "twin"  # type: ignore[union-attr]
    router.add_contact(contact("c4", required_skills=needs_both))
    assert router.route_contact("c4", now=60.0).agent_id == "expert"  # type: ignore[union-attr]


def test_language_tier_and_minimum_level_must_all_fit() -> None:
    router = router_with(
        (agent("pt", languages=("pt",)), 0.0),
        (agent("junior", tier=1), 1.0),
        (agent("novice", {"billing": 1}, tier=3), 2.0),
        (agent("fit", {"billing": 4}, tier=2), 3.0),
    )
    router.add_contact(contact("c1", min_tier=2, min_levels={"billing": 3}))
    assert router.route_contact("c1", now=9.0).agent_id == "fit"  # type: ignore[union-attr]


def test_no_language_means_any_agent() -> None:
    router = router_with((agent("el", languages=("el",)), 0.0))
    router.add_contact(contact("c1", language=None))
    assert router.route_contact("c1", now=1.0).agent_id == "el"  # type: ignore[union-attr]


def test_excluded_agents_are_skipped_on_both_paths() -> None:
    router = router_with((agent("a"), 0.0), (agent("b"), 1.0))
    router.add_contact(contact("c1", excluded_agents=frozenset({"a"})))
    assert router.route_contact("c1", now=2.0).agent_id == "b"  # type: ignore[union-attr]
    router = router_with((agent("a", capacity={"chat": 1}), 0.0))
    router.set_presence("a", AWAY, now=0.0)
    router.add_contact(contact("first", enqueued_at=1.0, excluded_agents=frozenset({"a"})))
    router.add_contact(contact("second", enqueued_at=2.0))
    router.set_presence("a", AVAILABLE, now=3.0)
    assert router.route_agent("a", now=3.0) == Assignment("second", "a", sticky=False)
    assert router.waiting() == 1


def test_capacity_per_channel_and_max_total() -> None:
    router = router_with((agent("a", capacity={"chat": 2, "voice": 1}, max_total=2), 0.0))
    for i, channel in enumerate(["voice", "voice", "chat", "chat"]):
        router.add_contact(contact(f"c{i}", channel=channel, enqueued_at=float(i)))
    made = router.match(now=10.0)
    assert [m.contact_id for m in made] == ["c0", "c2"]  # second voice: no slot; then cap 2
    assert router.agent_load("a") == {"voice": 1, "chat": 1}
    router.release("a", "voice", now=11.0)
    assert router.route_agent("a", now=11.0) == Assignment("c1", "a", sticky=False)


def test_offer_rejection_cycle_puts_the_contact_back_excluding_the_agent() -> None:
    router = router_with((agent("a"), 0.0), (agent("b"), 5.0))
    router.add_contact(contact("c1"))
    offer = router.route_contact("c1", now=6.0)
    assert offer is not None and offer.agent_id == "a"
    router.release("a", "chat", now=7.0)
    router.add_contact(contact("c1", excluded_agents=frozenset({"a"})))
    assert router.route_contact("c1", now=7.0).agent_id == "b"  # type: ignore[union-attr]


# ------------------------------------------------------- agent-free path examples


def test_free_agent_takes_highest_priority_then_oldest() -> None:
    router = router_with((agent("a", capacity={"chat": 1}), 0.0))
    router.set_presence("a", BUSY, now=0.0)
    router.add_contact(contact("old-low", priority=0, enqueued_at=1.0))
    router.add_contact(contact("new-high", priority=2, enqueued_at=9.0))
    router.add_contact(contact("old-high", priority=2, enqueued_at=5.0))
    router.set_presence("a", AVAILABLE, now=10.0)
    assert router.route_agent("a", now=10.0).contact_id == "old-high"  # type: ignore[union-attr]
    assert router.route_agent("a", now=10.0) is None  # its one chat slot is taken


def test_agent_free_compares_heads_across_buckets_exactly_when_rank_keys_tie() -> None:
    # a priority-1 contact's rank key is enqueued_at - 2**40: at that magnitude two arrivals
    # 0.00001 s apart round to one float, so the scan must fall back to the exact rank (and
    # not the id, which here would pick the later one)
    router = router_with((agent("a", languages=("en", "pt"), capacity={"chat": 1}), 0.0))
    router.set_presence("a", BUSY, now=0.0)
    at = 1_780_000_000.0
    router.add_contact(contact("a-later", language="pt", priority=1, enqueued_at=at + 1e-5))
    router.add_contact(contact("b-earlier", language="en", priority=1, enqueued_at=at))
    router.add_contact(contact("a-low", language=None, priority=0, enqueued_at=at - 60))
    router.set_presence("a", AVAILABLE, now=at + 1)
    assert router.route_agent("a", now=at + 1).contact_id == "b-earlier"  # type: ignore[union-attr]


def test_agent_free_ties_on_rank_are_broken_by_contact_id_across_buckets() -> None:
    router = router_with((agent("a", languages=("en", "pt"), capacity={"chat": 1}), 0.0))
    router.set_presence("a", BUSY, now=0.0)
    router.add_contact(contact("c2", language="en", enqueued_at=5.0))
    router.add_contact(contact("c1", language="pt", enqueued_at=5.0))
    router.set_presence("a", AVAILABLE, now=6.0)
    assert router.route_agent("a", now=6.0).contact_id == "c1"  # type: ignore[union-attr]


@pytest.mark.parametrize("enqueued_at", [float("inf"), float("nan"), -(2.0**39)])
def test_an_arrival_time_outside_the_rankable_span_is_refused(enqueued_at: float) -> None:
    router = router_with((agent("a"), 0.0))
    with pytest.raises(ValueError, match="enqueued_at"):
        router.add_contact(contact("c1", enqueued_at=enqueued_at))
    assert router.waiting() == 0


def test_sticky_is_a_preference_not_a_reservation() -> None:
    router = router_with((agent("a", capacity={"chat": 2}), 0.0))
    router.set_presence("a", BUSY, now=0.0)
    router.add_contact(contact("theirs", last_agent_id="b", sticky_until=99.0, enqueued_at=1.0))
    router.add_contact(contact("mine", last_agent_id="a", sticky_until=99.0, enqueued_at=2.0))
    router.set_presence("a", AVAILABLE, now=3.0)
    assert router.route_agent("a", now=3.0) == Assignment("theirs", "a", sticky=False)
    assert router.route_agent("a", now=3.0) == Assignment("mine", "a", sticky=True)


def test_idle_clock_restarts_when_the_last_contact_ends_or_on_return() -> None:
    router = router_with((agent("a"), 0.0), (agent("b"), 1.0))
    router.add_contact(contact("c1"))
    router.route_contact("c1", now=2.0)  # to a
    router.release("a", "chat", now=3.0)  # a idle since 3 now: b is longer idle
    router.add_contact(contact("c2"))
    assert router.route_contact("c2", now=4.0).agent_id == "b"  # type: ignore[union-attr]
    router.set_presence("a", AWAY, now=5.0)
    router.set_presence("a", AVAILABLE, now=6.0)
    router.release("b", "chat", now=7.0)
    router.add_contact(contact("c3"))
    assert router.route_contact("c3", now=8.0).agent_id == "a"  # type: ignore[union-attr]


# ------------------------------------------------------------ overflow (bullseye)


def test_overflow_widens_skills_once_its_time_has_come() -> None:
    router = router_with((agent("generalist", {"general": 2}), 0.0))
    router.add_contact(
        contact(
            "c1",
            required_skills=frozenset({"general", "mortgages"}),
            min_levels={"mortgages": 4, "general": 1},
            overflow_at=30.0,
            overflow_skills=frozenset({"general"}),
        )
    )
    assert router.match(now=29.9) == []
    assert router.route_agent("generalist", now=29.9) is None
    assert router.match(now=30.0) == [Assignment("c1", "generalist", sticky=False)]


def test_overflow_applies_on_the_arrival_path_too() -> None:
    router = router_with((agent("generalist", {"general": 2}), 0.0))
    late = contact(
        "c1", required_skills=frozenset({"x"}), overflow_at=5.0, overflow_skills=frozenset()
    )
    assert effective_skills(late, 4.0) == {"x"} and effective_skills(late, 5.0) == frozenset()
    router.add_contact(late)
    assert router.route_contact("c1", now=4.0) is None
    assert router.route_contact("c1", now=6.0).agent_id == "generalist"  # type: ignore[union-attr]


# ------------------------------------------------------------- bookkeeping examples


def test_waiting_counts_duplicates_and_removal() -> None:
    router = Router()
    router.add_contact(contact("c1"))
    router.add_contact(contact("c2", queue_id="q2"))
    with pytest.raises(ValueError, match="already waiting"):
        router.add_contact(contact("c1"))
    assert (router.waiting(), router.waiting("q1"), router.waiting("q2")) == (2, 1, 1)
    assert router.remove_contact("c1") == contact("c1")
    assert router.remove_contact("c1") is None
    assert (router.waiting(), router.waiting("q1"), router.waiting("nope")) == (1, 0, 0)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Router(strategy="random")  # type: ignore[arg-type]
    router = router_with((agent("a"), 0.0))
    with pytest.raises(ValueError, match="presence"):
        router.set_presence("a", "lunch", now=1.0)
    with pytest.raises(ValueError, match="holds no"):
        router.release("a", "chat", now=1.0)
    with pytest.raises(KeyError):
        router.route_agent("ghost", now=1.0)
    router.remove_agent("ghost")  # forgetting an unknown agent is harmless


def test_profile_change_keeps_the_load_and_relinks_buckets() -> None:
    router = router_with((agent("a", {"billing": 1}), 0.0))
    router.add_contact(contact("c1", required_skills=frozenset({"fraud"})))
    router.add_contact(contact("c2", enqueued_at=1.0))
    assert router.route_contact("c2", now=1.0).agent_id == "a"  # type: ignore[union-attr]
    router.upsert_agent(agent("a", {"fraud": 3}), presence=AVAILABLE, idle_since=0.0)
    assert router.agent_load("a") == {"chat": 1}
    assert router.route_agent("a", now=2.0).contact_id == "c1"  # type: ignore[union-attr]


# ------------------------------------------------------------- the reference model


def rank(spec: ContactSpec) -> tuple[int, float, str]:
    return (-spec.priority, spec.enqueued_at, spec.id)


@dataclass
class ModelAgent:
    spec: AgentSpec
    presence: str
    idle_since: float
    load: dict[str, int] = field(default_factory=dict)
    # The load when the profile was last set: a new profile may shrink capacity under it.
    allowed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.load.values())


@dataclass
class Model:
    """Routing by the book, in the plainest code: the oracle for the state machine."""

    strategy: str
    agents: dict[str, ModelAgent] = field(default_factory=dict)
    waiting: dict[str, ContactSpec] = field(default_factory=dict)

    def eligible(self, a: ModelAgent, c: ContactSpec, now: float) -> bool:
        skills = effective_skills(c, now)
        return (
            a.presence == AVAILABLE
            and all(s in a.spec.skills for s in skills)
            and all(a.spec.skills[s] >= c.min_levels.get(s, 0) for s in skills)
            and (c.language is None or c.language in a.spec.languages)
            and a.spec.tier >= c.min_tier
            and a.load.get(c.channel, 0) < a.spec.capacity.get(c.channel, 0)
            and (a.spec.max_total is None or a.total < a.spec.max_total)
            and a.spec.id not in c.excluded_agents
        )

    def agent_for(self, c: ContactSpec, now: float) -> tuple[str, bool] | None:
        fits = [a for a in self.agents.values() if self.eligible(a, c, now)]
        sticky = c.sticky_until is not None and now < c.sticky_until
        if sticky and any(a.spec.id == c.last_agent_id for a in fits):
            return c.last_agent_id, True  # type: ignore[return-value]
        if not fits:
            return None
        skills = effective_skills(c, now)

        def order(a: ModelAgent) -> tuple[int, float, str]:
            level = sum(a.spec.skills[s] for s in skills) if self.strategy == "best_skill" else 0
            return (-level, a.idle_since, a.spec.id)

        chosen = min(fits, key=order).spec.id
        return chosen, sticky and chosen == c.last_agent_id

    def contact_for(self, agent_id: str, now: float) -> ContactSpec | None:
        a = self.agents[agent_id]
        fits = [c for c in self.waiting.values() if self.eligible(a, c, now)]
        return min(fits, key=rank, default=None)

    def assign(self, c: ContactSpec, agent_id: str, now: float) -> Assignment:
        del self.waiting[c.id]
        load = self.agents[agent_id].load
        load[c.channel] = load.get(c.channel, 0) + 1
        sticky = c.last_agent_id == agent_id and c.sticky_until is not None and now < c.sticky_until
        return Assignment(c.id, agent_id, sticky)


# --------------------------------------------------------------- the state machine

AGENT_IDS = ["a0", "a1", "a2", "a3", "a4"]
CONTACT_IDS = [f"c{i}" for i in range(12)]
SKILLS = ["x", "y", "z"]
CHANNELS = ["chat", "voice"]
skill_sets = st.frozensets(st.sampled_from(SKILLS), max_size=2)
needed_skills = st.frozensets(st.sampled_from(SKILLS), min_size=1, max_size=3)
presences = st.sampled_from([AVAILABLE, AVAILABLE, AVAILABLE, BUSY, AWAY, OFFLINE])


@st.composite
def agent_specs(draw: st.DrawFn, max_skills: int = 3) -> AgentSpec:
    skills = draw(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1, max_size=max_skills)
    )
    return AgentSpec(
        id=draw(st.sampled_from(AGENT_IDS)),
        skills=skills,
        languages=draw(st.frozensets(st.sampled_from(["en", "pt"]), min_size=1)),
        tier=draw(st.integers(0, 2)),
        capacity=draw(
            st.fixed_dictionaries({"chat": st.integers(0, 2), "voice": st.integers(0, 1)})
        ),
        max_total=draw(st.none() | st.integers(1, 2)),
    )


@st.composite
def contact_specs(draw: st.DrawFn) -> ContactSpec:
    """A contact with times relative to 0 (see ``at_time``); overflow drops one skill."""
    skills = draw(skill_sets)
    dropped = sorted(skills) or SKILLS  # overflow relaxes one of the required skills
    overflow_in = draw(st.none() | st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]))
    sticky_for = draw(st.none() | st.sampled_from([0.5, 1.0, 5.0]))
    return ContactSpec(
        id=draw(st.sampled_from(CONTACT_IDS)),
        queue_id=draw(st.sampled_from(["q1", "q2"])),
        channel=draw(st.sampled_from(CHANNELS)),
        required_skills=skills,
        language=draw(st.sampled_from([None, "en", "en", "pt"])),
        priority=draw(st.integers(0, 2)),
        enqueued_at=-draw(st.sampled_from([0.0, 0.0, 1.0, 2.5])),
        min_tier=draw(st.sampled_from([0, 0, 1, 2])),
        last_agent_id=draw(st.none() | st.sampled_from(AGENT_IDS)),
        sticky_until=sticky_for,
        excluded_agents=draw(st.frozensets(st.sampled_from(AGENT_IDS), max_size=2)),
        min_levels=draw(st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2)),
        overflow_at=overflow_in,
        overflow_skills=None if overflow_in is None else skills - {draw(st.sampled_from(dropped))},
    )


def at_time(spec: ContactSpec, now: float) -> ContactSpec:
    """The contact enqueued relative to ``now``: shift every time it carries."""

    def shift(t: float | None) -> float | None:
        return None if t is None else t + now

    return replace(
        spec,
        enqueued_at=spec.enqueued_at + now,
        sticky_until=shift(spec.sticky_until),
        overflow_at=shift(spec.overflow_at),
    )


@st.composite
def agent_pools(draw: st.DrawFn) -> Model:
    """A few agents with random presence, idle times and loads within capacity."""
    model = Model(draw(st.sampled_from(["longest_idle", "best_skill"])))
    for spec in draw(st.lists(agent_specs(max_skills=2), min_size=1, max_size=5)):
        load = {ch: draw(st.sampled_from([0, 0, cap])) for ch, cap in spec.capacity.items()}
        presence = draw(presences)
        model.agents[spec.id] = ModelAgent(spec, presence, draw(st.floats(0, 5)), load, load)
    return model


def router_for(model: Model) -> Router:
    router = Router(strategy=model.strategy)  # type: ignore[arg-type]
    for a in model.agents.values():
        router.upsert_agent(a.spec, presence=a.presence, idle_since=a.idle_since, load=a.load)
    return router


@settings(max_examples=200, deadline=None)
@given(model=agent_pools(), spec=contact_specs(), now=st.sampled_from([0.0, 0.7, 3.0, 6.0]))
def test_route_contact_chooses_like_the_model(model: Model, spec: ContactSpec, now: float) -> None:
    router = router_for(model)
    router.add_contact(spec)
    got = router.route_contact(spec.id, now)
    expected = model.agent_for(spec, now)
    assert (got and (got.agent_id, got.sticky)) == expected


@settings(max_examples=200, deadline=None)
@given(
    model=agent_pools(),
    specs=st.lists(contact_specs(), unique_by=lambda c: c.id, max_size=8),
    now=st.sampled_from([0.0, 0.7, 3.0, 6.0]),
)
def test_route_agent_chooses_like_the_model(
    model: Model, specs: list[ContactSpec], now: float
) -> None:
    router = router_for(model)
    for spec in specs:
        router.add_contact(spec)
        model.waiting[spec.id] = spec
    for agent_id in model.agents:
        expected = model.contact_for(agent_id, now)
        got = router.route_agent(agent_id, now)
        assert (got and got.contact_id) == (expected and expected.id)
        if expected is not None:
            model.assign(expected, agent_id, now)


@settings(max_examples=150, deadline=None)
@given(
    agent_skills=st.lists(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), min_size=1), min_size=1
    ),
    needs=st.lists(
        st.tuples(needed_skills, st.sampled_from([1.0, 3.0, 10.0]), st.randoms()),
        min_size=1,
        max_size=6,
    ),
    now=st.sampled_from([0.0, 2.0, 5.0]),
)
def test_overflow_relaxes_skills_like_the_model(
    agent_skills: list[dict[str, int]],
    needs: list[tuple[frozenset[str], float, Random]],
    now: float,
) -> None:
    """Bullseye alone: everyone fits but for skills, so only the overflow decides."""
    model = Model("longest_idle")
    for i, skills in enumerate(agent_skills):
        spec = agent(f"a{i}", skills, capacity={"chat": 1})
        model.agents[spec.id] = ModelAgent(spec, AVAILABLE, float(i))
    router = router_for(model)
    for i, (skills, overflow_at, rnd) in enumerate(needs):
        relaxed = frozenset(rnd.sample(sorted(skills), rnd.randint(0, len(skills) - 1)))
        spec = contact(
            f"c{i}",
            required_skills=skills,
            enqueued_at=float(i),
            overflow_at=overflow_at,
            overflow_skills=relaxed,
        )
        router.add_contact(spec)
        model.waiting[spec.id] = spec
    made = router.match(now)
    expected = []
    for c in sorted(model.waiting.values(), key=rank):
        chosen = model.agent_for(c, now)
        if chosen is not None:
            expected.append(model.assign(c, chosen[0], now))
    assert made == expected


class RouterMachine(RuleBasedStateMachine):
    """Random sequences of agent, contact and routing calls against the model."""

    strategy = "longest_idle"

    def __init__(self) -> None:
        super().__init__()
        self.router = Router(strategy=self.strategy)  # type: ignore[arg-type]
        self.model = Model(self.strategy)
        self.now = 0.0
        self.active: list[tuple[ContactSpec, str]] = []  # offers/contacts agents now hold

    @initialize(specs=st.lists(agent_specs(), min_size=2, max_size=5))
    def agents_log_in(self, specs: list[AgentSpec]) -> None:
        for spec in specs:
            self.upsert(spec, AVAILABLE, 0.0)

    # --- agents
    @rule(spec=agent_specs(), presence=presences, idle=st.floats(0, 5))
    def upsert(self, spec: AgentSpec, presence: str, idle: float) -> None:
        self.router.upsert_agent(spec, presence=presence, idle_since=idle)
        known = self.model.agents.get(spec.id)
        load = known.load if known else {}
        self.model.agents[spec.id] = ModelAgent(spec, presence, idle, load, dict(load))

    @rule(agent_id=st.sampled_from(AGENT_IDS))
    def remove_agent(self, agent_id: str) -> None:
        self.router.remove_agent(agent_id)
        self.model.agents.pop(agent_id, None)
        self.active = [(c, a) for c, a in self.active if a != agent_id]

    @rule(agent_id=st.sampled_from(AGENT_IDS), presence=presences)
    def set_presence(self, agent_id: str, presence: str) -> None:
        a = self.model.agents.get(agent_id)
        if a is None:
            return
        self.router.set_presence(agent_id, presence, self.now)
        if presence == AVAILABLE and a.presence != AVAILABLE and a.total == 0:
            a.idle_since = self.now
        a.presence = presence

    @precondition(lambda self: self.active)
    @rule(data=st.data(), reject=st.booleans())
    def end_contact(self, data: st.DataObject, reject: bool) -> None:
        """A handled contact ends, or an offer is rejected and the contact queued again."""
        spec, agent_id = self.active.pop(data.draw(st.integers(0, len(self.active) - 1)))
        self.router.release(agent_id, spec.channel, self.now)
        a = self.model.agents[agent_id]
        a.load[spec.channel] -= 1
        if a.total == 0:
            a.idle_since = self.now
        if reject and spec.id not in self.model.waiting:
            again = replace(spec, excluded_agents=spec.excluded_agents | {agent_id})
            self.router.add_contact(again)
            self.model.waiting[again.id] = again

    # --- contacts
    @rule(spec=contact_specs())
    def add_contact(self, spec: ContactSpec) -> None:
        spec = at_time(spec, self.now)
        contact_id = spec.id
        if contact_id in self.model.waiting:
            with pytest.raises(ValueError, match="already waiting"):
                self.router.add_contact(spec)
            return
        self.router.add_contact(spec)
        self.model.waiting[contact_id] = spec

    @rule(contact_id=st.sampled_from(CONTACT_IDS))
    def remove_contact(self, contact_id: str) -> None:
        assert self.router.remove_contact(contact_id) == self.model.waiting.pop(contact_id, None)

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    def tick(self, dt: float) -> None:
        self.now += dt

    # --- routing
    @rule(contact_id=st.sampled_from(CONTACT_IDS))
    def route_contact(self, contact_id: str) -> None:
        c = self.model.waiting.get(contact_id)
        expected = None if c is None else self.model.agent_for(c, self.now)
        got = self.router.route_contact(contact_id, self.now)
        if got is None:
            assert expected is None
            return
        assert c is not None and expected == (got.agent_id, got.sticky)
        self.take(got, c, agent_side=False)

    @rule(agent_id=st.sampled_from(AGENT_IDS))
    def route_agent(self, agent_id: str) -> None:
        if agent_id not in self.model.agents:
            with pytest.raises(KeyError):
                self.router.route_agent(agent_id, self.now)
            return
        expected = self.model.contact_for(agent_id, self.now)
        got = self.router.route_agent(agent_id, self.now)
        assert (got and got.contact_id) == (expected and expected.id)
        if got is not None:
            self.take(got, self.model.waiting[got.contact_id], agent_side=True)

    @rule()
    def match(self) -> None:
        made = self.router.match(self.now)
        for got in made:
            c = self.model.waiting[got.contact_id]
            # Rank order: nothing still waiting that could have been placed ranks before c.
            for w in self.model.waiting.values():
                if rank(w) < rank(c):
                    assert self.model.agent_for(w, self.now) is None
            assert self.model.agent_for(c, self.now) == (got.agent_id, got.sticky)
            self.take(got, c, agent_side=True)
        self.assert_nothing_matchable()

    def take(self, got: Assignment, c: ContactSpec, *, agent_side: bool) -> None:
        """Check one assignment's invariants, then apply it to the model.

        Eligibility covers capacity and ``max_total`` (a slot must be free before it is
        taken). No starvation holds where the engine chooses among contacts: route_agent
        and match; route_contact places the one contact it is asked about.
        """
        a = self.model.agents[got.agent_id]
        assert self.model.eligible(a, c, self.now), "assigned an ineligible agent"
        if agent_side:
            for w in self.model.waiting.values():
                if w.id != c.id and rank(w) < rank(c):
                    assert not self.model.eligible(a, w, self.now), f"{w.id} starved by {c.id}"
        assert self.model.assign(c, got.agent_id, self.now) == got
        self.active.append((c, got.agent_id))

    def assert_nothing_matchable(self) -> None:
        for c in self.model.waiting.values():
            for a in self.model.agents.values():
                assert not self.model.eligible(a, c, self.now), (c.id, a.spec.id)

    # --- invariants
    @invariant()
    def counts_and_loads_agree(self) -> None:
        assert self.router.waiting() == len(self.model.waiting)
        for queue_id in ("q1", "q2"):
            expected = sum(c.queue_id == queue_id for c in self.model.waiting.values())
            assert self.router.waiting(queue_id) == expected
        for agent_id, a in self.model.agents.items():
            assert self.router.agent_load(agent_id) == {k: v for k, v in a.load.items() if v}

    @invariant()
    def never_over_capacity(self) -> None:
        for a in self.model.agents.values():
            assert a.total == sum(who == a.spec.id for _, who in self.active)
            for channel, n in a.load.items():
                assert n <= max(a.spec.capacity.get(channel, 0), a.allowed.get(channel, 0))
            if a.spec.max_total is not None:
                assert a.total <= max(a.spec.max_total, sum(a.allowed.values()))


class BestSkillMachine(RouterMachine):
    strategy = "best_skill"


TestRouterMachine = RouterMachine.TestCase
TestBestSkillMachine = BestSkillMachine.TestCase
for _case in (TestRouterMachine, TestBestSkillMachine):
    _case.settings = settings(
        max_examples=100,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
del _case  # a module-level TestCase name would be collected a second time
