"""The fast engine against a reference written straight from the rules, on random worlds.

``Reference`` below is the routing rules of routing/engine.py's docstring in the plainest
code: every answer is a ``min`` over every agent or every waiting contact, no index, no
heap, no cache.  Hypothesis builds random organisations (skills with levels, languages,
tiers, capacities per channel, cross-channel caps, presences, loads, tied idle times and
arrival times, priorities, exclusions, stickiness, overflow) and random sequences of
arrivals, agents freeing up, presence changes and bulk matches; the engine must pick the
same agent (or contact) as the reference at every step, and hold the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadline.routing.engine import (
    AVAILABLE,
    AWAY,
    BUSY,
    OFFLINE,
    AgentSpec,
    Assignment,
    ContactSpec,
    Router,
)

SKILLS = ["billing", "tech", "sales"]
LANGUAGES = ["en", "pt"]
CHANNELS = ["chat", "voice"]
AGENT_IDS = [f"a{i}" for i in range(6)]


@dataclass
class RefAgent:
    spec: AgentSpec
    presence: str
    idle_since: float
    load: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.load.values())


@dataclass
class Reference:
    """The rules, literally; slow on purpose."""

    strategy: str
    agents: dict[str, RefAgent] = field(default_factory=dict)
    waiting: dict[str, ContactSpec] = field(default_factory=dict)

    @staticmethod
    def skills_at(c: ContactSpec, now: float) -> frozenset[str]:
        if c.overflow_at is not None and c.overflow_skills is not None and now >= c.overflow_at:
            return c.overflow_skills
        return c.required_skills

    def eligible(self, a: RefAgent, c: ContactSpec, now: float) -> bool:
        skills = self.skills_at(c, now)
        spec = a.spec
        return (
            a.presence == AVAILABLE
            and all(s in spec.skills for s in skills)
            and all(spec.skills[s] >= lv for s, lv in c.min_levels.items() if s in skills)
            and (c.language is None or c.language in spec.languages)
            and spec.tier >= c.min_tier
            and a.load.get(c.channel, 0) < spec.capacity.get(c.channel, 0)
            and (spec.max_total is None or a.total < spec.max_total)
            and spec.id not in c.excluded_agents
        )

    @staticmethod
    def in_window(c: ContactSpec, now: float) -> bool:
        return c.sticky_until is not None and now < c.sticky_until

    def agent_for(self, c: ContactSpec, now: float) -> RefAgent | None:
        fits = [a for a in self.agents.values() if self.eligible(a, c, now)]
        if self.in_window(c, now):
            for a in fits:
                if a.spec.id == c.last_agent_id:
                    return a
        skills = self.skills_at(c, now)

        def order(a: RefAgent) -> tuple[int, float, str]:
            level = sum(a.spec.skills[s] for s in skills) if self.strategy == "best_skill" else 0
            return (-level, a.idle_since, a.spec.id)

        return min(fits, key=order, default=None)

    def contact_for(self, a: RefAgent, now: float) -> ContactSpec | None:
        fits = [c for c in self.waiting.values() if self.eligible(a, c, now)]
        return min(fits, key=lambda c: (-c.priority, c.enqueued_at, c.id), default=None)

    def assign(self, c: ContactSpec, a: RefAgent, now: float) -> Assignment:
        del self.waiting[c.id]
        a.load[c.channel] = a.load.get(c.channel, 0) + 1
        return Assignment(c.id, a.spec.id, c.last_agent_id == a.spec.id and self.in_window(c, now))

    # ---- the engine's calls
    def route_contact(self, contact_id: str, now: float) -> Assignment | None:
        c = self.waiting.get(contact_id)
        a = None if c is None else self.agent_for(c, now)
        return None if c is None or a is None else self.assign(c, a, now)

    def route_agent(self, agent_id: str, now: float) -> Assignment | None:
        a = self.agents[agent_id]
        c = self.contact_for(a, now)
        return None if c is None else self.assign(c, a, now)

    def match(self, now: float) -> list[Assignment]:
        made = []
        for c in sorted(self.waiting.values(), key=lambda c: (-c.priority, c.enqueued_at, c.id)):
            a = self.agent_for(c, now)
            if a is not None:
                made.append(self.assign(c, a, now))
        return made

    def release(self, agent_id: str, channel: str, now: float) -> None:
        a = self.agents[agent_id]
        a.load[channel] -= 1
        if a.total == 0:
            a.idle_since = now

    def set_presence(self, agent_id: str, presence: str, now: float) -> None:
        a = self.agents[agent_id]
        if presence == AVAILABLE and a.presence != AVAILABLE and a.total == 0:
            a.idle_since = now
        a.presence = presence


# ------------------------------------------------------------------ random worlds
skill_sets = st.frozensets(st.sampled_from(SKILLS), min_size=1, max_size=2)  # often held


@st.composite
def agents(draw: Any) -> list[tuple[AgentSpec, str, float, dict[str, int]]]:
    made = []
    for agent_id in draw(st.lists(st.sampled_from(AGENT_IDS), min_size=1, max_size=6, unique=True)):
        skills = draw(
            st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), min_size=1, max_size=3)
        )
        capacity = draw(
            st.dictionaries(st.sampled_from(CHANNELS), st.sampled_from([0, 1, 2, 2]), min_size=1)
        )
        spec = AgentSpec(
            id=agent_id,
            skills=skills,
            languages=draw(st.frozensets(st.sampled_from(LANGUAGES), min_size=1)),
            tier=draw(st.integers(1, 2)),
            capacity=capacity,
            max_total=draw(st.one_of(st.none(), st.integers(1, 3))),
        )
        load = {ch: draw(st.integers(0, n)) for ch, n in capacity.items()}
        presence = draw(st.sampled_from([AVAILABLE, AVAILABLE, BUSY, AWAY, OFFLINE]))
        made.append((spec, presence, float(draw(st.integers(-5, 5))), load))
    return made


@st.composite
def contacts(draw: Any, serial: int) -> ContactSpec:
    required = draw(skill_sets)
    overflow_at = draw(st.one_of(st.none(), st.integers(0, 30).map(float)))
    sticky = draw(st.booleans())
    return ContactSpec(
        id=f"c{serial:03d}",
        queue_id=draw(st.sampled_from(["q1", "q2"])),
        channel=draw(st.sampled_from(CHANNELS)),
        required_skills=required,
        language=draw(st.one_of(st.none(), st.sampled_from(LANGUAGES))),
        priority=draw(st.integers(0, 2)),
        enqueued_at=float(draw(st.integers(0, 6))),  # ties: the id decides
        min_tier=draw(st.sampled_from([0, 0, 1, 2])),
        last_agent_id=draw(st.sampled_from(AGENT_IDS)) if sticky else None,
        sticky_until=float(draw(st.integers(0, 40))) if sticky else None,
        excluded_agents=draw(st.frozensets(st.sampled_from(AGENT_IDS), max_size=1)),
        min_levels=draw(st.dictionaries(st.sampled_from(sorted(required)), st.integers(1, 3))),
        overflow_at=overflow_at,
        overflow_skills=draw(st.frozensets(st.sampled_from(SKILLS), max_size=1))
        if overflow_at is not None
        else None,
    )


OPS = st.sampled_from(["arrive", "arrive", "free", "free", "presence", "match", "leave"])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    strategy=st.sampled_from(["longest_idle", "best_skill"]),
    world=agents(),
    backlog=st.integers(0, 12),
    steps=st.lists(st.tuples(OPS, st.integers(0, 3), st.integers(0, 10**6)), max_size=40),
    data=st.data(),
)
def test_the_engine_picks_what_the_rules_pick(
    strategy: str,
    world: list[tuple[AgentSpec, str, float, dict[str, int]]],
    backlog: int,
    steps: list[tuple[str, int, int]],
    data: st.DataObject,
) -> None:
    router = Router(strategy=strategy)  # type: ignore[arg-type]
    ref = Reference(strategy)
    for spec, presence, idle_since, load in world:
        router.upsert_agent(spec, presence=presence, idle_since=idle_since, load=load)
        ref.agents[spec.id] = RefAgent(spec, presence, idle_since, dict(load))
    serial = 0
    for _ in range(backlog):  # a queue already waiting, as after a restart
        serial += 1
        c = data.draw(contacts(serial))
        router.add_contact(c)
        ref.waiting[c.id] = c
    now = 0.0
    assert router.match(now) == ref.match(now)
    ids = sorted(ref.agents)
    for op, dt, pick in steps:
        now += dt
        agent_id = ids[pick % len(ids)]
        if op == "arrive":
            serial += 1
            c = data.draw(contacts(serial))
            router.add_contact(c)
            ref.waiting[c.id] = c
            assert router.route_contact(c.id, now) == ref.route_contact(c.id, now)
        elif op == "free":
            held = [ch for ch, n in sorted(ref.agents[agent_id].load.items()) if n > 0]
            if held:
                channel = held[pick % len(held)]
                router.release(agent_id, channel, now)
                ref.release(agent_id, channel, now)
            assert router.route_agent(agent_id, now) == ref.route_agent(agent_id, now)
        elif op == "presence":
            presence = [AVAILABLE, BUSY, AWAY, OFFLINE][pick % 4]
            router.set_presence(agent_id, presence, now)
            ref.set_presence(agent_id, presence, now)
            assert router.route_agent(agent_id, now) == ref.route_agent(agent_id, now)
        elif op == "leave" and ref.waiting:
            gone = sorted(ref.waiting)[pick % len(ref.waiting)]
            assert router.remove_contact(gone) == ref.waiting.pop(gone)
        elif op == "match":
            assert router.match(now) == ref.match(now)
        assert router.waiting() == len(ref.waiting)
        for a in ref.agents.values():
            assert router.agent_load(a.spec.id) == {ch: n for ch, n in a.load.items() if n}
    assert router.match(now) == ref.match(now)
    assert router.match(now) == []  # after a match, nothing is left matchable
