"""Routing engine benchmark: decisions per second and latency with a long queue.

Builds 2,000 agents and 20,000 waiting contacts (50 queues, 20 skills, 5 languages,
chat/sms/email/voice), matches them at start-up, then times routing decisions in the
steady state of a busy centre: most agents at capacity and the queue kept ~20,000 long.

* agent-free decision: an agent ends a contact (``release``) and ``route_agent`` picks
  its next one; a few are agents back from away (``set_presence`` + ``route_agent``);
* arrival decision: a new contact (``add_contact`` + ``route_contact``); a few are
  rejected offers queued again with the agent excluded.

Arrivals top the queue up when it falls under 20,000, otherwise an agent frees up: in a
steady state every served contact is replaced by an arrival, so the mix is close to
half and half.  Customers out of patience hang up (``remove_contact``, untimed), which
keeps the queue from silting up with contacts nobody can serve.  Each decision is timed
whole with ``time.perf_counter_ns``, so on a shared machine the figures include time
the process spent descheduled: the table prints the CPU share it actually got.
Simulated time advances 5 ms per decision, so overflow (bullseye) times pass during the
run; ``match`` is timed on its own every 1,000 decisions.

The baseline, measured in the same run on the same agents and the same kind of stream:
a bare longest-idle heap per skill in pure Python (``BareHeap``: free agents in one heap
per skill keyed by idle time, lazily deleted; waiting contacts in one heap per skill by
priority then arrival; an arrival pops the longest-idle free agent of its skill, a freed
agent takes the best-ranked head among its skills' contact heaps).  It knows nothing of
levels, languages, tiers, channels, overflow, stickiness or exclusions, so it is the
ceiling of what a Python router can do per decision; ``ratio_vs_bare_heap`` is the
engine's decisions/s over it.  Last line: one JSON object.

On a shared machine a decision that was descheduled mid-way counts the other process's
time too, and a slower router is descheduled more often: both loops therefore also note,
per decision, whether the thread was switched out meanwhile (``getrusage``, read outside
the timed span), and the ``on_cpu_`` figures (``ratio_vs_bare_heap_on_cpu``) count only
the decisions that ran undisturbed, for the engine and the bare heap alike.  Both loops
also read the thread's CPU time around each decision (outside the timed span): the
``cpu_`` figures (``ratio_vs_bare_heap_cpu``) are CPU time per decision, the cost of the
clock reads themselves (measured in the same run) taken off both.

Run: ``python bench/routing.py [--decisions N]``.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import random
import resource
import sys
import time
from array import array
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

try:
    from threadline.routing import engine
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from threadline.routing import engine

AVAILABLE, AWAY = engine.AVAILABLE, engine.AWAY
AgentSpec, Assignment, ContactSpec, Router = (
    engine.AgentSpec,
    engine.Assignment,
    engine.ContactSpec,
    engine.Router,
)

AGENTS = 2_000
WAITING = 20_000
QUEUES = 50
SKILLS = [f"skill{i:02d}" for i in range(20)]
LANGUAGES = ["en", "pt", "es", "ru", "el"]
LANGUAGE_WEIGHTS = [50, 15, 20, 10, 5]
CHANNELS = ["chat", "sms", "email", "voice"]
CHANNEL_WEIGHTS = [40, 15, 30, 15]  # demand roughly in line with the slots below
PRIORITY_WEIGHTS = [60, 25, 10, 5]  # priorities 0..3
PROFILES = [  # (capacity per channel, max_total)
    ({"chat": 3, "sms": 3, "email": 5, "voice": 1}, 6),
    ({"chat": 3, "sms": 2}, None),
    ({"voice": 1}, None),
    ({"email": 5, "chat": 2}, 5),
]
QUEUE_WEIGHTS = [1 / (i + 1) ** 0.7 for i in range(QUEUES)]  # demand, and staffing to match
PATIENCE_S = (300.0, 900.0)  # customers hang up after waiting this long
STEP_S = 0.005  # simulated seconds per decision
MATCH_EVERY = 1_000


@dataclass(frozen=True)
class Queue:
    id: str
    skills: frozenset[str]
    min_tier: int
    min_levels: dict[str, int]
    overflow_after: float | None
    overflow_skills: frozenset[str] | None


@dataclass
class World:
    """The benchmark's own view: queues, waiting contacts, what each agent holds."""

    rng: random.Random
    queues: list[Queue]
    agent_ids: list[str]
    specs: list[AgentSpec]
    waiting: dict[str, ContactSpec] = field(default_factory=dict)
    held: dict[str, list[ContactSpec]] = field(default_factory=dict)
    busy: list[str] = field(default_factory=list)  # one entry per held contact
    away: list[str] = field(default_factory=list)
    patience: deque[tuple[float, str]] = field(default_factory=deque)  # (abandon at, id)
    serial: int = 0

    def took(self, assignment: Assignment | None) -> bool:
        """Record an assignment the router made (and applied); whether there was one."""
        if assignment is None:
            return False
        contact = self.waiting.pop(assignment.contact_id)
        self.held.setdefault(assignment.agent_id, []).append(contact)
        self.busy.append(assignment.agent_id)
        return True

    def pop_held(self) -> tuple[str, ContactSpec]:
        """A random held contact that ends now, with its agent."""
        i = self.rng.randrange(len(self.busy))
        self.busy[i], self.busy[-1] = self.busy[-1], self.busy[i]
        agent_id = self.busy.pop()
        held = self.held[agent_id]
        j = self.rng.randrange(len(held))
        held[j], held[-1] = held[-1], held[j]
        return agent_id, held.pop()


def make_queues(rng: random.Random) -> list[Queue]:
    queues = []
    for i in range(QUEUES):
        skills = frozenset(rng.sample(SKILLS, rng.choice([1, 1, 2])))
        overflow = len(skills) == 2 and rng.random() < 0.6
        first = min(skills)
        queues.append(
            Queue(
                id=f"q{i:02d}",
                skills=skills,
                min_tier=2 if rng.random() < 0.15 else 0,
                min_levels={first: 3} if rng.random() < 0.3 else {},
                overflow_after=rng.choice([60.0, 120.0, 300.0]) if overflow else None,
                overflow_skills=frozenset({first}) if overflow else None,
            )
        )
    return queues


def make_agent(rng: random.Random, i: int, queues: list[Queue]) -> AgentSpec:
    """Skills of one or two queues, staffed like their demand (plus maybe one), at most four."""
    skills: set[str] = set()
    for queue in rng.choices(queues, QUEUE_WEIGHTS, k=rng.choice([1, 2])):
        skills |= queue.skills
    if rng.random() < 0.3:
        skills.add(rng.choice(SKILLS))
    languages = {"en"} if rng.random() < 0.8 else set()
    languages |= set(rng.sample(LANGUAGES, rng.choice([0, 1, 1, 2])))
    capacity, max_total = rng.choice(PROFILES)
    return AgentSpec(
        id=f"agent{i:04d}",
        skills={s: rng.randint(1, 5) for s in sorted(skills)[:4]},
        languages=frozenset(languages or {"en"}),
        tier=rng.randint(1, 3),
        capacity=capacity,
        max_total=max_total,
    )


def make_contact(world: World, now: float, enqueued_at: float) -> ContactSpec:
    """A contact of a random queue (a few queues are much busier than the rest)."""
    rng = world.rng
    queue = rng.choices(world.queues, QUEUE_WEIGHTS)[0]
    world.serial += 1
    sticky = rng.random() < 0.1
    contact = ContactSpec(
        id=f"contact{world.serial:07d}",
        queue_id=queue.id,
        channel=rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0],
        required_skills=queue.skills,
        language=rng.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0] if rng.random() < 0.95 else None,
        priority=rng.choices(range(4), PRIORITY_WEIGHTS)[0],
        enqueued_at=enqueued_at,
        min_tier=queue.min_tier,
        last_agent_id=rng.choice(world.agent_ids) if sticky else None,
        sticky_until=now + 300.0 if sticky else None,
        excluded_agents=frozenset({rng.choice(world.agent_ids)} if rng.random() < 0.03 else ()),
        min_levels=queue.min_levels,
        overflow_at=None if queue.overflow_after is None else enqueued_at + queue.overflow_after,
        overflow_skills=queue.overflow_skills,
    )
    world.waiting[contact.id] = contact
    world.patience.append((now + rng.uniform(*PATIENCE_S), contact.id))
    return contact


def build(rng: random.Random) -> tuple[Router, World, dict[str, float]]:
    """The start-up state: every agent available, the full queue, then one match."""
    queues = make_queues(rng)
    specs = [make_agent(rng, i, queues) for i in range(AGENTS)]
    world = World(rng, queues, [s.id for s in specs], specs)
    contacts = [make_contact(world, 0.0, -rng.uniform(0, 600)) for _ in range(WAITING)]
    router = Router()
    started = time.perf_counter()
    for spec in specs:
        router.upsert_agent(spec, presence=AVAILABLE, idle_since=-rng.uniform(0, 3600))
    for contact in contacts:
        router.add_contact(contact)
    loaded = time.perf_counter()
    made = router.match(0.0)
    matched = time.perf_counter()
    for assignment in made:
        world.took(assignment)
    while router.waiting() < WAITING:  # the centre is behind: the queue is full again
        router.add_contact(make_contact(world, 0.0, -rng.uniform(0, 600)))
    figures = {
        "build_ms": (loaded - started) * 1e3,
        "startup_match_ms": (matched - loaded) * 1e3,
        "offers": len(made),
    }
    return router, world, figures


def agent_free(router: Router, world: World, now: float) -> tuple[str, int, int, bool]:
    """An agent ends a contact (or is back from away) and is given its next one."""
    rng = world.rng
    if world.away and rng.random() < 0.05:
        agent_id = world.away.pop(rng.randrange(len(world.away)))
        c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
        router.set_presence(agent_id, AVAILABLE, now)
        got = router.route_agent(agent_id, now)
        elapsed = time.perf_counter_ns() - t0
        return "back from away", elapsed, thread_cpu_ns() - c0, world.took(got)
    agent_id, ended = world.pop_held()
    c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
    router.release(agent_id, ended.channel, now)
    got = router.route_agent(agent_id, now)
    elapsed = time.perf_counter_ns() - t0
    spent = thread_cpu_ns() - c0
    if got is None and rng.random() < 0.05:
        router.set_presence(agent_id, AWAY, now)  # a break: untimed, not a decision
        world.away.append(agent_id)
    return "agent free", elapsed, spent, world.took(got)


def arrival(router: Router, world: World, now: float) -> tuple[str, int, int, bool]:
    """A new contact (or a rejected offer queued again) is routed at once if it can be."""
    rng = world.rng
    if world.busy and rng.random() < 0.02:
        agent_id, offered = world.pop_held()
        again = replace(offered, excluded_agents=offered.excluded_agents | {agent_id})
        world.waiting[again.id] = again
        c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
        router.release(agent_id, offered.channel, now)
        router.add_contact(again)
        got = router.route_contact(again.id, now)
        elapsed = time.perf_counter_ns() - t0
        return "offer rejected", elapsed, thread_cpu_ns() - c0, world.took(got)
    contact = make_contact(world, now, now)
    c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
    router.add_contact(contact)
    got = router.route_contact(contact.id, now)
    elapsed = time.perf_counter_ns() - t0
    return "arrival", elapsed, thread_cpu_ns() - c0, world.took(got)


def abandon(router: Router, world: World, now: float) -> int:
    """Customers out of patience hang up (untimed: not a routing decision)."""
    gone = 0
    while world.patience and world.patience[0][0] <= now:
        _, contact_id = world.patience.popleft()
        if world.waiting.pop(contact_id, None) is not None:
            router.remove_contact(contact_id)
            gone += 1
    return gone


class BareHeap:
    """The baseline: one longest-idle heap of free agents and one contact heap per skill."""

    def __init__(self, specs: list[AgentSpec], rng: random.Random) -> None:
        self.skills = {s.id: list(s.skills) for s in specs}
        self.slots = {s.id: min(sum(s.capacity.values()), s.max_total or AGENTS) for s in specs}
        self.load = dict.fromkeys(self.skills, 0)
        self.token = dict.fromkeys(self.skills, 0)
        self.free: dict[str, list[tuple[float, str, int]]] = {s: [] for s in SKILLS}
        self.waiting: dict[str, list[tuple[int, float, str]]] = {s: [] for s in SKILLS}
        self.queued = 0
        for agent_id in self.skills:
            self._enter(agent_id, -rng.uniform(0, 3600))

    def _enter(self, agent_id: str, idle_since: float) -> None:
        self.token[agent_id] += 1
        entry = (idle_since, agent_id, self.token[agent_id])
        for skill in self.skills[agent_id]:
            heapq.heappush(self.free[skill], entry)

    def arrival(self, contact_id: str, skill: str, priority: int, now: float) -> str | None:
        """Give the contact the longest-idle free agent of its skill, or queue it."""
        heap, token = self.free[skill], self.token
        while heap:
            _, agent_id, tok = heapq.heappop(heap)
            if token[agent_id] == tok:
                self.load[agent_id] += 1
                token[agent_id] += 1
                if self.load[agent_id] < self.slots[agent_id]:
                    self._enter(agent_id, now)
                return agent_id
        heapq.heappush(self.waiting[skill], (-priority, now, contact_id))
        self.queued += 1
        return None

    def agent_free(self, agent_id: str, now: float) -> str | None:
        """A slot frees up: the oldest waiting head among the agent's skills, if any."""
        best: list[tuple[int, float, str]] | None = None
        for skill in self.skills[agent_id]:
            line = self.waiting[skill]
            if line and (best is None or line[0] < best[0]):
                best = line
        if best is not None:
            self.queued -= 1
            return heapq.heappop(best)[2]
        self.load[agent_id] -= 1
        self._enter(agent_id, now)
        return None


def bare_heap(specs: list[AgentSpec], decisions: int, seed: int) -> tuple[float, float, float]:
    """Decisions/s of the bare heap on the same agents, timed like the engine's: over
    every decision, and over the decisions that ran undisturbed; and its mean CPU time
    per decision (ns)."""
    rng = random.Random(seed)
    bare = BareHeap(specs, rng)
    weights = [1 / (i + 1) ** 0.7 for i in range(len(SKILLS))]
    busy: list[str] = []
    serial = 0
    for _ in range(WAITING):  # the start-up queue, and the agents it fills
        serial += 1
        skill, priority = (
            rng.choices(SKILLS, weights)[0],
            rng.choices(range(4), PRIORITY_WEIGHTS)[0],
        )
        got = bare.arrival(f"c{serial}", skill, priority, -rng.uniform(0, 600))
        if got is not None:
            busy.append(got)
    gc.collect()
    gc.freeze()  # as for the engine
    timings, undisturbed, cpu = array("q"), array("q"), 0
    now = 0.0
    for _ in range(decisions):
        now += STEP_S
        before = switches()
        if bare.queued < WAITING or not busy:
            serial += 1
            contact_id, skill = f"c{serial}", rng.choices(SKILLS, weights)[0]
            priority = rng.choices(range(4), PRIORITY_WEIGHTS)[0]
            c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
            got = bare.arrival(contact_id, skill, priority, now)
            timings.append(time.perf_counter_ns() - t0)
            cpu += thread_cpu_ns() - c0
            if got is not None:
                busy.append(got)
        else:
            i = rng.randrange(len(busy))
            busy[i], busy[-1] = busy[-1], busy[i]
            agent_id = busy.pop()
            c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
            took = bare.agent_free(agent_id, now)
            timings.append(time.perf_counter_ns() - t0)
            cpu += thread_cpu_ns() - c0
            if took is not None:
                busy.append(agent_id)
        if switches() == before:
            undisturbed.append(timings[-1])
    per_s = len(timings) / (sum(timings) / 1e9)
    return per_s, len(undisturbed) / (sum(undisturbed) / 1e9), cpu / len(timings)


def thread_cpu_ns() -> int:
    """CPU time of this thread (ns): read around each decision, outside its timed span."""
    return time.thread_time_ns()


def clock_cost_ns(rounds: int = 20_000) -> float:
    """Mean CPU time (ns) of an empty decision: the clock reads alone, as in the loops."""
    spent = 0
    for _ in range(rounds):
        c0, t0 = thread_cpu_ns(), time.perf_counter_ns()
        time.perf_counter_ns() - t0
        spent += thread_cpu_ns() - c0
    return spent / rounds


def switches() -> int:
    """Context switches of this thread so far (voluntary or not)."""
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_nvcsw + usage.ru_nivcsw


def percentile(sorted_ns: array[int] | list[int], p: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    if not sorted_ns:
        return 0.0
    rank = min(len(sorted_ns) - 1, max(0, round(p / 100 * len(sorted_ns)) - 1))
    return sorted_ns[rank] / 1e6


def run(decisions: int, seed: int) -> dict[str, float | int]:
    rng = random.Random(seed)
    router, world, startup = build(rng)
    gc.collect()
    gc.freeze()  # the long-lived start-up state leaves the collector's young generations
    timings, undisturbed = array("q"), array("q")
    cpu = 0
    kinds: dict[str, list[int]] = {}
    matches = array("q")
    abandoned = 0
    now = 0.0
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for i in range(decisions):
        now += STEP_S
        abandoned += abandon(router, world, now)
        step = arrival if router.waiting() < WAITING else agent_free
        before = switches()
        kind, elapsed, spent, placed = step(router, world, now)
        timings.append(elapsed)
        cpu += spent
        if switches() == before:
            undisturbed.append(elapsed)
        tally = kinds.setdefault(kind, [0, 0])
        tally[0] += 1
        tally[1] += placed
        if i % MATCH_EVERY == MATCH_EVERY - 1:
            t0 = time.perf_counter_ns()
            for assignment in router.match(now):
                world.took(assignment)
            matches.append(time.perf_counter_ns() - t0)
    cpu_share = (time.process_time() - cpu_started) / (time.perf_counter() - wall_started)
    ordered = sorted(timings)
    total_s = sum(timings) / 1e9
    bare_per_s, bare_on_cpu_per_s, bare_cpu_ns = bare_heap(world.specs, decisions, seed)
    clock_ns = clock_cost_ns()
    # CPU per decision, the clock reads' own cost (measured in this run) taken off both
    cpu_ns, bare_cpu_ns = cpu / len(timings) - clock_ns, bare_cpu_ns - clock_ns
    per_s = len(ordered) / total_s
    quiet = sorted(undisturbed)
    on_cpu_per_s = len(quiet) / (sum(quiet) / 1e9)
    slots = sum(min(sum(a.capacity.values()), a.max_total or AGENTS) for a in world.specs)
    rows = [
        ("agents / queues / skills", f"{AGENTS:,} / {QUEUES} / {len(SKILLS)}"),
        ("build (agents + 20,000 contacts)", f"{startup['build_ms']:.0f} ms"),
        ("start-up match", f"{startup['startup_match_ms']:.0f} ms, {startup['offers']} offers"),
        ("decisions", f"{len(ordered):,} in {total_s:.2f} s of routing time"),
        *(
            (f"  {kind}", f"{n:,} ({placed / n:.0%} placed at once)")
            for kind, (n, placed) in sorted(kinds.items())
        ),
        ("decisions/s", f"{per_s:,.0f}"),
        ("bare longest-idle heap per skill", f"{bare_per_s:,.0f}/s"),
        ("ratio vs the bare heap", f"{per_s / bare_per_s:.3f}"),
        ("p50 / p99 / p99.9 / max", _spread(ordered)),
        ("undisturbed decisions", f"{len(quiet):,} (not switched out while deciding)"),
        ("  their decisions/s", f"{on_cpu_per_s:,.0f}"),
        ("  the bare heap's, likewise", f"{bare_on_cpu_per_s:,.0f}/s"),
        ("  ratio vs the bare heap", f"{on_cpu_per_s / bare_on_cpu_per_s:.3f}"),
        ("  p50 / p99 / p99.9 / max", _spread(quiet)),
        ("CPU time per decision (thread)", f"{cpu_ns / 1e3:.2f} us, clocks' {clock_ns:.0f} ns off"),
        ("  the bare heap's, likewise", f"{bare_cpu_ns / 1e3:.2f} us"),
        ("  ratio vs the bare heap", f"{bare_cpu_ns / cpu_ns:.3f}"),
        ("match() every 1,000 decisions", _spread(sorted(matches))),
        ("waiting at the end", f"{router.waiting():,} after {now:.0f} simulated s"),
        ("slots in use at the end", f"{len(world.busy):,} of {slots:,}, {len(world.away)} away"),
        ("abandoned while waiting", f"{abandoned:,}"),
        (
            "CPU share this process got",
            f"{cpu_share:.0%} (load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)",
        ),
    ]
    print_table(rows)
    return {
        "decisions_per_s": round(per_s),
        "bare_heap_per_s": round(bare_per_s),
        "ratio_vs_bare_heap": round(per_s / bare_per_s, 3),
        "p50_ms": round(percentile(ordered, 50), 4),
        "p99_ms": round(percentile(ordered, 99), 4),
        "p999_ms": round(percentile(ordered, 99.9), 4),
        "max_ms": round(ordered[-1] / 1e6, 3),
        "on_cpu_decisions": len(quiet),
        "on_cpu_decisions_per_s": round(on_cpu_per_s),
        "on_cpu_bare_heap_per_s": round(bare_on_cpu_per_s),
        "ratio_vs_bare_heap_on_cpu": round(on_cpu_per_s / bare_on_cpu_per_s, 3),
        "on_cpu_p999_ms": round(percentile(quiet, 99.9), 4),
        "on_cpu_max_ms": round(quiet[-1] / 1e6, 3),
        "cpu_us_per_decision": round(cpu_ns / 1e3, 3),
        "bare_heap_cpu_us_per_decision": round(bare_cpu_ns / 1e3, 3),
        "ratio_vs_bare_heap_cpu": round(bare_cpu_ns / cpu_ns, 3),
        "decisions": len(ordered),
        "build_ms": round(startup["build_ms"], 1),
        "startup_match_ms": round(startup["startup_match_ms"], 1),
        "periodic_match_p50_ms": round(percentile(sorted(matches), 50), 3),
        "agents": AGENTS,
        "waiting_contacts": router.waiting(),
        "queues": QUEUES,
        "skills": len(SKILLS),
        "cpu_share": round(cpu_share, 2),
    }


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print("routing engine benchmark")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _spread(ordered: list[int]) -> str:
    """p50 / p99 / p99.9 / max of sorted nanoseconds, in milliseconds."""
    if not ordered:
        return "-"
    figures = [*(percentile(ordered, p) for p in (50, 99, 99.9)), ordered[-1] / 1e6]
    return " / ".join(f"{x:.4f}" for x in figures) + " ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(json.dumps(run(args.decisions, args.seed)))  # the last line: the figures


if __name__ == "__main__":
    main()
