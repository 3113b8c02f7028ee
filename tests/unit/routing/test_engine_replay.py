"""The engine replays a recorded, seeded workload and makes exactly the recorded decisions.

The workload is a small busy centre in the shape of bench/routing.py: agents with
levels, languages, tiers and per-channel capacities, a long queue with priorities,
stickiness, exclusions, overflow and hang-ups, agents freeing up, going away and
coming back, rejected offers queued again, profile changes and a periodic ``match``.
Every routing answer (and every ``None``) goes into a running digest, checkpointed
every ``CHECKPOINT`` steps.  The checkpoints in ``fixtures/engine_replay.json`` were
recorded from the engine as it was before its hot paths were rewritten for speed
(main at f097687), so the rewrite cannot change a single decision unnoticed; a failure
names the first window of steps that differs.

To record them again (only when the routing rules themselves change on purpose):
``PYTHONPATH=src python tests/unit/routing/test_engine_replay.py > .../engine_replay.json``.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from threadline.routing.engine import AVAILABLE, AWAY, AgentSpec, ContactSpec, Router

FIXTURE = Path(__file__).parent / "fixtures" / "engine_replay.json"
CHECKPOINT = 1_000
STEPS = 12_000
AGENTS = 160
WAITING = 1_200
SKILLS = [f"s{i}" for i in range(8)]
LANGUAGES = ["en", "pt", "es", "ru", "el"]
CHANNELS = ["chat", "sms", "email", "voice"]
PROFILES = [
    ({"chat": 3, "sms": 3, "email": 5, "voice": 1}, 6),
    ({"chat": 3, "sms": 2}, None),
    ({"voice": 1}, None),
    ({"email": 5, "chat": 2}, 5),
]
STEP_S = 0.05


class Replay:
    """One seeded run: the workload's own view of who waits and who holds what."""

    def __init__(self, seed: int, strategy: str) -> None:
        self.rng = rng = random.Random(seed)
        self.router = Router(strategy=strategy)  # type: ignore[arg-type]
        self.queues = [self._queue(i) for i in range(12)]
        self.specs = [self._agent(i) for i in range(AGENTS)]
        self.ids = [s.id for s in self.specs]
        self.waiting: dict[str, ContactSpec] = {}
        self.held: dict[str, list[ContactSpec]] = {}
        self.busy: list[str] = []
        self.away: list[str] = []
        self.serial = 0
        self.digest = hashlib.sha256()
        for spec in self.specs:
            self.router.upsert_agent(spec, presence=AVAILABLE, idle_since=-rng.uniform(0, 3600))
        for _ in range(WAITING):
            self.router.add_contact(self._contact(0.0, -rng.uniform(0, 600)))
        self._took_all(self.router.match(0.0))

    def _queue(self, i: int) -> dict[str, Any]:
        rng = self.rng
        skills = frozenset(rng.sample(SKILLS, rng.choice([1, 1, 2])))
        overflow = len(skills) == 2 and rng.random() < 0.6
        first = min(skills)
        return {
            "id": f"q{i}",
            "skills": skills,
            "min_tier": 2 if rng.random() < 0.15 else 0,
            "min_levels": {first: 3} if rng.random() < 0.3 else {},
            "overflow_after": rng.choice([6.0, 12.0, 30.0]) if overflow else None,
            "overflow_skills": frozenset({first}) if overflow else None,
        }

    def _agent(self, i: int) -> AgentSpec:
        rng = self.rng
        skills: set[str] = set()
        for queue in rng.sample(self.queues, rng.choice([1, 2])):
            skills |= queue["skills"]
        if rng.random() < 0.3:
            skills.add(rng.choice(SKILLS))
        languages = {"en"} if rng.random() < 0.8 else set()
        languages |= set(rng.sample(LANGUAGES, rng.choice([0, 1, 1, 2])))
        capacity, max_total = rng.choice(PROFILES)
        return AgentSpec(
            id=f"a{i:03d}",
            skills={s: rng.randint(1, 5) for s in sorted(skills)[:4]},
            languages=frozenset(languages or {"en"}),
            tier=rng.randint(1, 3),
            capacity=capacity,
            max_total=max_total,
        )

    def _contact(self, now: float, enqueued_at: float) -> ContactSpec:
        rng = self.rng
        queue = rng.choice(self.queues)
        self.serial += 1
        sticky = rng.random() < 0.15
        after = queue["overflow_after"]
        contact = ContactSpec(
            id=f"c{self.serial:06d}",
            queue_id=queue["id"],
            channel=rng.choice(CHANNELS),
            required_skills=queue["skills"],
            language=rng.choice(LANGUAGES) if rng.random() < 0.9 else None,
            priority=rng.choice([0, 0, 0, 1, 1, 2, 3]),
            # whole seconds, so that ranks tie (across channels too) and ids break the ties
            enqueued_at=float(round(enqueued_at)),
            min_tier=queue["min_tier"],
            last_agent_id=rng.choice(self.ids) if sticky else None,
            sticky_until=now + 20.0 if sticky else None,
            excluded_agents=frozenset(rng.sample(self.ids, 2) if rng.random() < 0.05 else ()),
            min_levels=queue["min_levels"],
            overflow_at=None if after is None else round(enqueued_at) + after,
            overflow_skills=queue["overflow_skills"],
        )
        self.waiting[contact.id] = contact
        return contact

    def _note(self, step: int, what: str, answer: object) -> None:
        self.digest.update(f"{step} {what} {answer!r}\n".encode())

    def _took(self, step: int, what: str, got: Any) -> None:
        self._note(step, what, None if got is None else tuple(got))
        if got is not None:
            contact = self.waiting.pop(got.contact_id)
            self.held.setdefault(got.agent_id, []).append(contact)
            self.busy.append(got.agent_id)

    def _took_all(self, made: list[Any], step: int = -1) -> None:
        for got in made:
            self._took(step, "match", got)

    def _pop_held(self) -> tuple[str, ContactSpec]:
        rng = self.rng
        i = rng.randrange(len(self.busy))
        self.busy[i], self.busy[-1] = self.busy[-1], self.busy[i]
        agent_id = self.busy.pop()
        held = self.held[agent_id]
        j = rng.randrange(len(held))
        held[j], held[-1] = held[-1], held[j]
        return agent_id, held.pop()

    def step(self, step: int, now: float) -> None:
        rng, router = self.rng, self.router
        roll = rng.random()
        if roll < 0.02 and self.waiting:  # a hang-up
            contact_id = rng.choice(sorted(self.waiting))
            del self.waiting[contact_id]
            self._note(step, "remove", router.remove_contact(contact_id) is not None)
        elif roll < 0.04 and self.away:  # back from away
            agent_id = self.away.pop(rng.randrange(len(self.away)))
            router.set_presence(agent_id, AVAILABLE, now)
            self._took(step, "back", router.route_agent(agent_id, now))
        elif roll < 0.05:  # a profile change (skills and levels), load kept
            i = rng.randrange(AGENTS)
            spec = self.specs[i]
            skills = dict(spec.skills)
            skills[rng.choice(SKILLS)] = rng.randint(1, 5)
            self.specs[i] = spec = replace(spec, skills=skills)
            router.upsert_agent(
                spec, presence=AVAILABLE if spec.id not in self.away else AWAY, idle_since=now
            )
            self._took(step, "upsert", router.route_agent(spec.id, now))
        elif roll < 0.07 and self.busy:  # an offer rejected, queued again without the agent
            agent_id, offered = self._pop_held()
            again = replace(offered, excluded_agents=offered.excluded_agents | {agent_id})
            self.waiting[again.id] = again
            router.release(agent_id, offered.channel, now)
            router.add_contact(again)
            self._took(step, "again", router.route_contact(again.id, now))
        elif len(self.waiting) < WAITING or not self.busy:  # an arrival: the queue stays long
            contact = self._contact(now, now)
            router.add_contact(contact)
            self._took(step, "arrival", router.route_contact(contact.id, now))
        else:  # an agent frees a slot
            agent_id, ended = self._pop_held()
            router.release(agent_id, ended.channel, now)
            got = router.route_agent(agent_id, now)
            self._took(step, "free", got)
            if got is None and rng.random() < 0.05 and agent_id not in self.away:
                router.set_presence(agent_id, AWAY, now)
                self.away.append(agent_id)
        if step % 250 == 249:
            self._took_all(router.match(now), step)
        if step % 500 == 0 and self.waiting:
            contact_id = rng.choice(sorted(self.waiting))
            snapshot = router.wait_snapshot(contact_id)
            self._note(step, "snapshot", snapshot)
            self._note(step, "waiting", (router.waiting(), router.waiting("q3")))

    def checkpoints(self) -> list[str]:
        marks = []
        now = 0.0
        for step in range(STEPS):
            now += STEP_S
            self.step(step, now)
            if step % CHECKPOINT == CHECKPOINT - 1:
                marks.append(self.digest.hexdigest()[:16])
        return marks


def record() -> dict[str, list[str]]:
    return {
        f"{strategy}/{seed}": Replay(seed, strategy).checkpoints()
        for strategy in ("longest_idle", "best_skill")
        for seed in (1, 2)
    }


@pytest.mark.parametrize(
    "run", ["longest_idle/1", "longest_idle/2", "best_skill/1", "best_skill/2"]
)
def test_engine_makes_the_recorded_decisions(run: str) -> None:
    strategy, seed = run.split("/")
    expected = json.loads(FIXTURE.read_text())[run]
    got = Replay(int(seed), strategy).checkpoints()
    first_off = next(
        (i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b), None
    )
    assert first_off is None, (
        f"decisions differ from the recording in steps "
        f"{first_off * CHECKPOINT}..{(first_off + 1) * CHECKPOINT - 1}"
    )


if __name__ == "__main__":
    json.dump(record(), sys.stdout, indent=1)
    sys.stdout.write("\n")
