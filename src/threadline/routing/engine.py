"""The pure routing engine: matches waiting contacts to eligible agents.

Standard library only, no clock (every ``now`` is a float of seconds passed in by the
caller, assumed non-decreasing), no randomness: the same calls give the same answers.

Rules (shared/DESIGN.md, "Routing, in short"):

* An agent is *eligible* for a contact when it is available, has every effective
  required skill at the contact's minimum level, speaks the contact's language, has
  at least the contact's tier, has a free slot on the contact's channel and under its
  ``max_total``, and is not in the contact's ``excluded_agents``.
* The *effective* required skills are ``overflow_skills`` once ``now >= overflow_at``
  (bullseye), else ``required_skills``; ``min_levels`` only apply to effective skills.
* Agent for a contact (arrival path, ``route_contact``, ``match``): the customer's last
  agent while ``now < sticky_until`` if eligible, else the longest idle (smallest
  ``idle_since``, then id) or, with ``strategy="best_skill"``, the highest sum of levels
  over the effective skills, then longest idle, then id.
* Contact for an agent (agent-free path, ``route_agent``): the highest priority, then
  the oldest ``enqueued_at``, then the smallest id, among the contacts it is eligible
  for.  Stickiness is a preference, never a reservation: a contact sticky to another
  agent may be taken by this one, and a contact sticky to this agent does not jump
  ahead of better-ranked ones (``Assignment.sticky`` still says when it matches).
* ``match`` walks the waiting contacts in that same rank order and gives each its agent
  by the arrival-path rule, until no waiting contact has an eligible agent left.

Indexes (why routing stays fast with thousands of agents and tens of thousands of
contacts):

* Waiting contacts live in *buckets*, one per routing key (effective skills, minimum
  levels, language, channel, minimum tier): a list sorted by rank, so its head is always
  a live contact (an arrival usually appends, an assignment usually takes the head).
  Every eligibility rule except exclusion depends only on the key and the agent.
* Each agent caches the buckets it qualifies for, by channel; a new key is checked only
  against the agents holding its first skill.  The agent-free path compares the heads
  of those buckets by their rank keys (one float per bucket head, kept in one list and
  read for an agent's channel by one itemgetter call), looks at the entries only when
  keys tie, and walks past heads that exclude the agent.
* A waiting contact is one tuple, its entry in its bucket's ranks; a contact's *shape*
  (what its keys are made of) names its bucket and its overflow bucket in one lookup.
* Each bucket also holds a heap of the qualifying agents that have a free slot on its
  channel, ordered by idle time (or level sum, then idle time), lazily deleted through
  a per-(agent, channel) token.  Agents changed since the last arrival-path lookup are
  re-entered only then, and only if their free channels or idle time really changed:
  an agent that frees a slot and refills it at once costs the index nothing.
* Overflow times wait in a heap (events, made stale by the contact leaving); every
  routing call first moves the contacts whose overflow time has passed.
"""

from __future__ import annotations

import heapq
import sys
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from operator import itemgetter
from typing import Any, Literal, NamedTuple, TypeAlias, TypeVar

AVAILABLE = "available"
BUSY = "busy"
AWAY = "away"
OFFLINE = "offline"
PRESENCES = frozenset({AVAILABLE, BUSY, AWAY, OFFLINE})

Strategy: TypeAlias = Literal["longest_idle", "best_skill"]
STRATEGIES: frozenset[str] = frozenset({"longest_idle", "best_skill"})

_MIN_HEAP_LIMIT = 64  # a heap is compacted when its stale entries outgrow this floor
_RANK_SCALE = 2.0**40  # a priority step in a rank key outweighs any span of enqueued_at
_TIME_LIMIT = 2.0**38  # |enqueued_at| stays under this (8,700 years of seconds)


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent's routing profile; languages are kept apart from skills."""

    id: str
    skills: Mapping[str, int]
    languages: frozenset[str]
    tier: int = 1
    capacity: Mapping[str, int] = field(default_factory=dict)
    max_total: int | None = None


@dataclass(frozen=True, slots=True)
class ContactSpec:
    """A contact waiting for an agent, with everything routing needs to place it."""

    id: str
    queue_id: str
    channel: str
    required_skills: frozenset[str]
    language: str | None
    priority: int
    enqueued_at: float
    min_tier: int = 0
    last_agent_id: str | None = None
    sticky_until: float | None = None
    excluded_agents: frozenset[str] = frozenset()
    min_levels: Mapping[str, int] = field(default_factory=dict)
    overflow_at: float | None = None
    overflow_skills: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class WaitSnapshot:
    """What a waiting contact's wait depends on, for the EWT predictors (queueing/ewt.py).

    ``ahead`` counts the contacts of its bucket (same effective skills, language, channel
    and tier) that rank before it; ``slots`` and ``busy_slots`` count the slots on its
    channel of the available agents who qualify for that bucket, and the ones they fill;
    ``head_enqueued_at`` is the oldest waiting contact of the bucket.
    """

    ahead: int
    slots: int
    busy_slots: int
    agents: int
    head_enqueued_at: float


class Assignment(NamedTuple):
    """An offer the engine made and already applied (contact left, agent slot taken).

    A named tuple, not a frozen dataclass: as immutable, and made three times faster
    (one is made per placed contact, on the hot path).
    """

    contact_id: str
    agent_id: str
    sticky: bool


RoutingKey: TypeAlias = tuple[frozenset[str], tuple[tuple[str, int], ...], str | None, str, int]
"""(effective skills, minimum levels over them, language, channel, minimum tier)."""


def effective_skills(contact: ContactSpec, now: float) -> frozenset[str]:
    """The skills a contact requires at ``now``: the overflow set once it applies."""
    at, relaxed = contact.overflow_at, contact.overflow_skills
    if at is not None and relaxed is not None and now >= at:
        return relaxed
    return contact.required_skills


def routing_key(contact: ContactSpec, *, overflowed: bool = False) -> RoutingKey:
    """The key of the bucket a contact waits in, before or after its overflow time."""
    skills = contact.required_skills
    if overflowed and contact.overflow_skills is not None:
        skills = contact.overflow_skills
    levels: tuple[tuple[str, int], ...] = ()
    if contact.min_levels:
        levels = tuple(sorted((s, lv) for s, lv in contact.min_levels.items() if s in skills))
    return (skills, levels, contact.language, contact.channel, contact.min_tier)


def qualifies(spec: AgentSpec, key: RoutingKey) -> bool:
    """Whether an agent's profile (not its presence or load) fits a routing key."""
    skills, levels, language, channel, min_tier = key
    return (
        spec.capacity.get(channel, 0) > 0
        and spec.tier >= min_tier
        and (language is None or language in spec.languages)
        and all(s in spec.skills for s in skills)
        and all(spec.skills[s] >= lv for s, lv in levels)
    )


class _Agent:
    """An agent's live state, the buckets it qualifies for and its index tokens."""

    __slots__ = (
        "buckets",
        "capacity",
        "heaps",
        "idle_since",
        "indexed",
        "indexed_idle",
        "lanes",
        "limit",
        "linked",
        "load",
        "presence",
        "seen_load",
        "seen_presence",
        "spec",
        "total",
    )

    def __init__(self, spec: AgentSpec, presence: str, idle_since: float) -> None:
        self.spec = spec
        self.capacity: dict[str, int] = dict(spec.capacity)
        self.presence = presence
        self.idle_since = idle_since
        self.load: dict[str, int] = dict.fromkeys(self.capacity, 0)
        self.total = 0
        # max_total, or a bound no total reaches: one comparison on the agent-free path
        self.limit = sys.maxsize if spec.max_total is None else spec.max_total
        self.buckets: dict[str, list[_Bucket]] = {}  # channel -> buckets it qualifies for
        self.linked: set[_Bucket] = set()  # the same buckets, for membership tests
        self.heaps: dict[str, list[list[_ContactEntry]]] = {}  # their sorted contacts
        # the same, with each channel's capacity and a getter of the rank keys of those
        # buckets' heads from the router's head keys (one C call, the dummy slot 0 first):
        # (channel, capacity, getter, ranks of those buckets), rebuilt when a bucket is
        # linked.  Tuples, not lists: a tuple holds its items inline, so the scan of heads
        # reads one object per lane where a list is two (itself and its array of items).
        self.lanes: tuple[_Lane, ...] = ()
        self.indexed: dict[str, int] = {}  # channel -> token of its live agent entries
        self.indexed_idle = idle_since
        # the load and presence the index was last refreshed from (None: never)
        self.seen_load: dict[str, int] | None = None
        self.seen_presence = presence

    def has_room(self, channel: str) -> bool:
        """Available, a free slot on ``channel`` and under the cross-channel cap."""
        return (
            self.presence == AVAILABLE
            and self.load.get(channel, 0) < self.capacity.get(channel, 0)
            and (self.spec.max_total is None or self.total < self.spec.max_total)
        )

    def free_channels(self) -> list[str]:
        """The channels on which the agent could take one more contact now."""
        cap = self.spec.max_total
        if self.presence != AVAILABLE or (cap is not None and self.total >= cap):
            return []
        load = self.load
        return [ch for ch, n in self.capacity.items() if load.get(ch, 0) < n]


class _Bucket:
    """Waiting contacts of one routing key, and the free agents who qualify for it."""

    __slots__ = (
        "agent_limit",
        "agents",
        "channel",
        "index",
        "key",
        "keys",
        "members",
        "ranked",
    )

    def __init__(self, key: RoutingKey, keys: list[float]) -> None:
        self.key = key
        self.channel = key[3]
        # the router's rank keys of every bucket's head, and this bucket's place in them
        self.index = _index(len(keys))
        self.keys = keys
        keys.append(_INF)
        self.agents: list[_AgentEntry] = []
        # the waiting contacts' entries, sorted (ids are unique, so entries compare by
        # rank alone), then _END: the head is always live, a place in line is a bisection
        self.ranked: list[_ContactEntry] = [_END]
        self.members: dict[str, _Agent] = {}  # every agent who qualifies for the key
        self.agent_limit = _MIN_HEAP_LIMIT

    def rank(self, entry: _ContactEntry) -> None:
        """File a contact's entry in rank order; the usual arrival is last of its bucket."""
        ranked = self.ranked
        if len(ranked) == 1 or ranked[-2] < entry:
            ranked.insert(-1, entry)
        else:
            insort(ranked, entry)
        if ranked[0] is entry:
            self.keys[self.index] = entry[5]

    def push_agent(self, entry: _AgentEntry) -> None:
        """Push; compact in place once lazily deleted entries make the heap double."""
        heap, channel = self.agents, self.channel
        heapq.heappush(heap, entry)
        if len(heap) > self.agent_limit:
            heap[:] = [e for e in heap if e[4].indexed.get(channel) == e[3]]
            heapq.heapify(heap)
            self.agent_limit = max(_MIN_HEAP_LIMIT, 2 * len(heap))


# A waiting contact is this entry, one tuple: (-priority, enqueued_at, contact id,
# excluded agents, spec, rank key, bucket, sticky until); overflow replaces it with a new
# one for the wider bucket.  Unique ids keep the last five uncompared; the exclusions and
# the end of the sticky window (None without a last agent) ride along so that placing a
# contact reads the spec only when the contact may be sticky: the spec is one more object
# elsewhere in memory, a cache miss on the hot path.  The rank key is one float that never
# orders two entries against their rank (rounding is monotonic and enqueued_at spans less
# than _RANK_SCALE), though it may tie them: see Router._best_contact_for.
_ContactEntry: TypeAlias = tuple[
    int, float, str, frozenset[str], ContactSpec, float, _Bucket, float | None
]
# (-level sum or 0, idle_since, agent id, token, agent): live while the token is current.
_AgentEntry: TypeAlias = tuple[int, float, str, int, _Agent]

_E = TypeVar("_E", bound=tuple[Any, ...])
# Ends every bucket's ranks and ranks after every entry (-priority is finite), so a
# bucket's first entry always exists: the scan of heads is one ``min`` in C.
_INF = float("inf")
_END: _ContactEntry = (_INF, _INF, "", frozenset(), None, _INF, None, None)  # type: ignore[assignment]
_head = itemgetter(0)
# The exclusions of an entry that has none: one shared object, so that checking a head's
# exclusions reads memory that is already in cache, not an empty set made per contact.
_NO_EXCLUSIONS: frozenset[str] = frozenset()
# Bucket indexes, as int objects made together: a lane's getter holds its buckets' indexes,
# and ints over 256 are objects of their own, so ints made one by one as buckets appear
# would lie scattered over the heap, each a cache miss when the scan of heads reads it.
_INDEXES: list[int] = list(range(4096))
_NO_KEYS: tuple[float, ...] = ()
_NO_LINES: tuple[list[_ContactEntry], ...] = ()
# Assignment(contact_id, agent_id, sticky) without the Python-level __new__ of a named tuple
_assignment: Callable[[type[Assignment], tuple[str, str, bool]], Assignment] = tuple.__new__
# an agent's buckets on one channel: (channel, capacity, getter of their head keys (the
# dummy slot first), their ranks)
_Lane: TypeAlias = tuple[
    str, int, Callable[[list[float]], tuple[float, ...]], tuple[list[Any], ...]
]


def _index(n: int) -> int:
    """The int ``n`` from the table of bucket indexes (extended, in one go, as needed)."""
    if n >= len(_INDEXES):
        _INDEXES.extend(range(len(_INDEXES), 2 * n))
    return _INDEXES[n]


def _iter_sorted(heap: list[_E]) -> Iterator[_E]:
    """Yield a heap's entries in order without changing it (to peek past a few)."""
    if not heap:
        return
    size = len(heap)
    frontier: list[tuple[_E, int]] = [(heap[0], 0)]
    while frontier:
        entry, i = heapq.heappop(frontier)
        yield entry
        for child in (2 * i + 1, 2 * i + 2):
            if child < size:
                heapq.heappush(frontier, (heap[child], child))


class Router:
    """In-memory matcher of waiting contacts and agents; returned assignments are applied.

    Not thread-safe: the caller serialises calls (one router per organisation).
    Unknown agent ids raise ``KeyError``; presences outside ``PRESENCES`` ``ValueError``.
    """

    def __init__(self, *, strategy: Strategy = "longest_idle") -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown routing strategy {strategy!r}")
        self._best_skill = strategy == "best_skill"
        self._agents: dict[str, _Agent] = {}
        self._agents_by_skill: dict[str, dict[str, _Agent]] = {}
        self._waiting: dict[str, _ContactEntry] = {}
        self._buckets: dict[RoutingKey, _Bucket] = {}
        self._buckets_by_skill: dict[str | None, list[_Bucket]] = {}
        # by bucket index: its head's rank key; slot 0 is a dummy (_INF), so that a lane's
        # getter always returns a tuple, even for one bucket
        self._head_keys: list[float] = [_INF]
        # a contact's shape (what its routing keys are made of) -> its bucket, and whether
        # its overflow moves it to another one: most arrivals share a queue's shape
        self._filings: dict[tuple[Any, ...], tuple[_Bucket, _Bucket | None]] = {}
        # (overflow at, sequence, entry, the wider bucket it moves to)
        self._overflow: list[tuple[float, int, _ContactEntry, _Bucket]] = []
        # the time of its first event (_INF: none), so a routing call checks one float
        self._due = _INF
        self._dirty: dict[str, _Agent] = {}
        self._seq = count(1)

    # ---------------------------------------------------------------- agents

    def upsert_agent(
        self,
        spec: AgentSpec,
        *,
        presence: str,
        idle_since: float,
        load: Mapping[str, int] | None = None,
    ) -> None:
        """Add or replace an agent; ``load=None`` keeps a known agent's current load."""
        _check_presence(presence)
        agent = self._agents.get(spec.id)
        if agent is None or agent.spec != spec:
            kept = dict(agent.load) if agent is not None else {}
            if agent is not None:
                self._forget_agent(agent)
            agent = _Agent(spec, presence, idle_since)
            agent.load.update(kept)
            self._adopt_agent(agent)
        agent.presence = presence
        agent.idle_since = idle_since
        if load is not None:
            agent.load = dict.fromkeys(agent.capacity, 0) | dict(load)
        agent.total = sum(agent.load.values())
        self._dirty[spec.id] = agent

    def remove_agent(self, agent_id: str) -> None:
        """Forget an agent (logged out, deleted); unknown ids are ignored."""
        agent = self._agents.get(agent_id)
        if agent is not None:
            self._forget_agent(agent)

    def set_presence(self, agent_id: str, presence: str, now: float) -> None:
        """Change presence; becoming available with no contact restarts the idle clock."""
        _check_presence(presence)
        agent = self._agents[agent_id]
        if presence == AVAILABLE and agent.presence != AVAILABLE and agent.total == 0:
            agent.idle_since = now
        agent.presence = presence
        self._dirty[agent_id] = agent

    def release(self, agent_id: str, channel: str, now: float) -> None:
        """A contact or offer on ``channel`` ended: free its slot; idle from now if empty."""
        agent = self._agents[agent_id]
        load = agent.load
        try:
            held = load[channel]
        except KeyError:  # a channel the agent has no slot on
            held = 0
        if held <= 0:
            raise ValueError(f"agent {agent_id!r} holds no {channel!r} contact")
        load[channel] = held - 1
        agent.total = total = agent.total - 1
        if not total:
            agent.idle_since = now
        self._dirty[agent_id] = agent

    def agent_load(self, agent_id: str) -> Mapping[str, int]:
        """Contacts (and pending offers) the agent holds, per channel (non-zero only)."""
        return {ch: n for ch, n in self._agents[agent_id].load.items() if n}

    # -------------------------------------------------------------- contacts

    def add_contact(self, contact: ContactSpec) -> None:
        """Put a contact in the waiting set; its overflow applies from the next routing call."""
        contact_id = contact.id
        waiting = self._waiting
        if contact_id in waiting:
            raise ValueError(f"contact {contact_id!r} is already waiting")
        at = contact.enqueued_at
        if not -_TIME_LIMIT < at < _TIME_LIMIT:
            raise ValueError(f"contact {contact_id!r}: enqueued_at out of range")
        levels = contact.min_levels
        shape = (
            contact.required_skills,
            tuple(levels.items()) if levels else (),
            contact.language,
            contact.channel,
            contact.min_tier,
            contact.overflow_skills,
        )
        bucket, wide = self._filings.get(shape) or self._filing(contact, shape)
        priority = contact.priority
        entry = (
            -priority,
            at,
            contact_id,
            contact.excluded_agents or _NO_EXCLUSIONS,
            contact,
            at - priority * _RANK_SCALE,
            bucket,
            None if contact.last_agent_id is None else contact.sticky_until,
        )
        waiting[contact_id] = entry
        ranked = bucket.ranked  # bucket.rank(entry), written out:
        if len(ranked) == 1 or ranked[-2] < entry:
            ranked.insert(-1, entry)  # the usual arrival: last of its bucket
        else:
            insort(ranked, entry)
        if ranked[0] is entry:
            bucket.keys[bucket.index] = entry[5]
        if wide is not None and contact.overflow_at is not None:
            due = contact.overflow_at
            heapq.heappush(self._overflow, (due, next(self._seq), entry, wide))
            if due < self._due:
                self._due = due

    def remove_contact(self, contact_id: str) -> ContactSpec | None:
        """Take a contact out of the waiting set (abandoned, cancelled, transferred away)."""
        entry = self._waiting.get(contact_id)
        if entry is None:
            return None
        self._unwait(entry)
        return entry[4]

    def waiting(self, queue_id: str | None = None) -> int:
        """How many contacts wait, in one queue or in all.

        One queue's count is a pass over the waiting contacts (a millisecond for 20,000):
        kept off the routing path, which would otherwise pay for it on every contact.
        """
        if queue_id is None:
            return len(self._waiting)
        return sum(1 for entry in self._waiting.values() if entry[4].queue_id == queue_id)

    def waiting_contact(self, contact_id: str) -> ContactSpec | None:
        """The waiting contact with this id, or None if it is not waiting."""
        entry = self._waiting.get(contact_id)
        return None if entry is None else entry[4]

    def wait_snapshot(self, contact_id: str) -> WaitSnapshot | None:
        """The live state a waiting contact's EWT is predicted from; None if not waiting.

        A bisection for its place, and a pass over the agents who qualify for its bucket.
        """
        entry = self._waiting.get(contact_id)
        if entry is None:
            return None
        bucket = entry[6]
        ahead = bisect_left(bucket.ranked, entry)
        head = bucket.ranked[0][1]  # the bucket holds at least this contact
        channel = bucket.channel
        slots = busy = agents = 0
        for agent in bucket.members.values():
            if agent.presence != AVAILABLE:
                continue
            agents += 1
            capacity = agent.capacity.get(channel, 0)
            load = agent.load.get(channel, 0)
            if agent.spec.max_total is not None:  # the cross-channel cap also binds
                capacity = min(capacity, load + max(agent.spec.max_total - agent.total, 0))
            slots += capacity
            busy += min(load, capacity)
        return WaitSnapshot(ahead, slots, busy, agents, head)

    # -------------------------------------------------------------- matching

    def route_contact(self, contact_id: str, now: float) -> Assignment | None:
        """Arrival path: place one waiting contact now, or None (not waiting, no agent)."""
        if self._due <= now:
            self._advance(now)
        try:
            entry = self._waiting[contact_id]
        except KeyError:
            return None  # not waiting (any more)
        bucket = entry[6]
        if entry[7] is None and not bucket.agents:  # no sticky window to honour
            if self._dirty:
                self._refresh_index()
            if not bucket.agents:
                return None  # the usual case in a busy centre: nobody free for this key
        agent = self._choose_agent(entry, bucket, now)
        return None if agent is None else self._assign(entry, agent, now)

    def route_agent(self, agent_id: str, now: float) -> Assignment | None:
        """Agent-free path: give the agent the best-ranked contact it may take, if any.

        The hot path of routing, written out in one function (the scan of heads, then
        ``_assign``): the heads of the agent's buckets on a free channel are compared by
        their rank keys, floats read from one list by one itemgetter call per channel (no
        bucket, list or entry touched); the best channel's entry is looked up once the scan
        is over, and entries are compared only when keys tie.  Every bucket's ranks end
        with _END, so each has a head.  Only when the best head has excluded the agent
        does a slower walk run.
        """
        if self._due <= now:
            self._advance(now)
        agent = self._agents[agent_id]
        if agent.presence != AVAILABLE or agent.total >= agent.limit:
            return None
        load, head_keys = agent.load, self._head_keys
        best_key, best, best_keys, best_lines = _INF, _END, _NO_KEYS, _NO_LINES
        for lane in agent.lanes:
            # (channel, capacity, getter, ranks): read by index, not unpacked, so that the
            # ranks of a lane that holds no better head are never touched
            if load[lane[0]] < lane[1]:
                keys = lane[2](head_keys)
                key = min(keys)
                # a smaller rank key is a better entry, a larger one a worse entry: entries
                # are compared only when keys tie (_INF, in the dummy slot at least: no
                # contact in this lane, which can never beat the best so far)
                if key < best_key:
                    best_key, best_keys, best_lines = key, keys, lane[3]
                    best = _END  # its entry is looked up once the scan is over
                elif key == best_key != _INF:
                    if best is _END:
                        best = _head_entry(best_key, best_keys, best_lines)
                    head = min(map(_head, lane[3]))
                    if head < best:
                        best = head
        if best is _END:  # _head_entry written out
            if best_key == _INF:
                return None
            if best_keys.count(best_key) == 1:
                best = best_lines[best_keys.index(best_key) - 1][0]
            else:
                best = min(map(_head, best_lines))
        if best[3] and agent_id in best[3]:
            best = self._best_not_excluding(agent)
            if best is _END:
                return None
        # self._assign(best, agent, now), written out: the agent is available, and the
        # contact's channel is one the scan read the load of
        contact_id, spec, bucket = best[2], best[4], best[6]
        del self._waiting[contact_id]
        ranked = bucket.ranked
        if ranked[0] is best:
            del ranked[0]
            head_keys[bucket.index] = ranked[0][5]
        else:
            _unrank(best, bucket)
        load[bucket.channel] += 1
        agent.total = total = agent.total + 1
        if total >= agent.limit and not agent.indexed:
            # at its cross-channel cap, free on no channel, as its index already says (it
            # has no live entries): whatever mix of channels it now holds, the next arrival
            # need not look at it.  The usual agent-free decision in a busy centre, where
            # the slot freed and the slot refilled are often on different channels.
            self._dirty.pop(agent_id, None)
        elif (
            load == agent.seen_load
            and agent.indexed_idle == agent.idle_since
            and agent.seen_presence == AVAILABLE
        ):
            # the slot it freed is refilled, so its index entries are right again and the
            # next arrival need not look at it
            self._dirty.pop(agent_id, None)
        else:
            self._dirty[agent_id] = agent
        until = best[7]
        sticky = until is not None and now < until and spec.last_agent_id == agent_id
        return _assignment(Assignment, (contact_id, agent_id, sticky))

    def match(self, now: float) -> list[Assignment]:
        """Match everything matchable now, contacts in rank order (start-up, overflow, bulk).

        Only buckets holding both a waiting contact and a free agent take part; a bucket
        drops out once a contact without exclusions finds no agent in it.
        """
        self._advance(now)
        self._refresh_index()
        # (next entry, its index in the bucket's ranks, bucket): contacts an exclusion
        # keeps waiting stay in the ranks, so a bucket's walk moves past them by index
        frontier = [
            (b.ranked[0], 0, b)
            for b in self._buckets.values()
            if b.ranked[0] is not _END and _live_agent_on_top(b)
        ]
        heapq.heapify(frontier)
        made: list[Assignment] = []
        while frontier:
            entry, at, bucket = heapq.heappop(frontier)
            agent = self._choose_agent(entry, bucket, now)
            if agent is None:
                if not entry[3]:
                    continue  # nobody left for this key: the whole bucket is done
                at += 1  # only its exclusions stop it: it keeps its place
            else:
                made.append(self._assign(entry, agent, now))  # leaves the ranks at ``at``
            ranked = bucket.ranked
            if ranked[at] is not _END:
                heapq.heappush(frontier, (ranked[at], at, bucket))
        return made

    # ------------------------------------------------------------ agent-free path

    @staticmethod
    def _best_not_excluding(agent: _Agent) -> _ContactEntry:
        """The best contact over the agent's free channels, walking past exclusions."""
        agent_id, best = agent.spec.id, _END
        load, capacity = agent.load, agent.capacity
        for channel, lines in agent.heaps.items():
            if load[channel] < capacity[channel]:
                for ranked in lines:
                    if ranked[0] < best:
                        found = _first_not_excluding(ranked, agent_id)
                        if found < best:
                            best = found
        return best

    # ----------------------------------------------------------- arrival path

    def _choose_agent(self, contact: _ContactEntry, bucket: _Bucket, now: float) -> _Agent | None:
        """The agent for a contact (waiting in ``bucket``): sticky last agent, else the
        head of its bucket's agents."""
        until, excluded = contact[7], contact[3]
        if until is not None and now < until:  # a last agent, in its sticky window
            last = self._agents.get(contact[4].last_agent_id)  # type: ignore[arg-type]
            if last is not None and _eligible(last, bucket, excluded):
                return last
        if self._dirty:
            self._refresh_index()
        if not bucket.agents or not _live_agent_on_top(bucket):
            return None  # the usual case in a busy centre: nobody free for this key
        top = bucket.agents[0][4]
        if not excluded or top.spec.id not in excluded:
            return top
        # the top is excluded: walk the heap in order, compacted first, so that the walk
        # (a heap operation per entry) meets live entries only
        channel, heap = bucket.channel, bucket.agents
        live = [e for e in heap if e[4].indexed.get(channel) == e[3]]
        if len(live) < len(heap):
            heap[:] = live
            heapq.heapify(heap)
            bucket.agent_limit = max(_MIN_HEAP_LIMIT, 2 * len(heap))
        for entry in _iter_sorted(heap):
            agent = entry[4]
            if agent.spec.id not in excluded:
                return agent
        return None

    def _refresh_index(self) -> None:
        """Re-enter the agents changed since the last lookup, where anything changed."""
        for agent in self._dirty.values():
            if (
                agent.load == agent.seen_load
                and agent.presence == agent.seen_presence
                and agent.indexed_idle == agent.idle_since
            ):
                continue  # the usual case: a slot freed and refilled at once
            agent.seen_load = dict(agent.load)
            agent.seen_presence = agent.presence
            indexed = agent.indexed
            if agent.indexed_idle != agent.idle_since:
                indexed.clear()
                agent.indexed_idle = agent.idle_since
            free = agent.free_channels()
            if free == list(indexed):
                continue  # free on the same channels (in the same order)
            for channel in [ch for ch in indexed if ch not in free]:
                del indexed[channel]
            for channel in free:
                if channel not in indexed:
                    indexed[channel] = next(self._seq)
                    self._enter(agent, agent.buckets.get(channel, ()))
        self._dirty.clear()

    def _enter(self, agent: _Agent, buckets: Iterable[_Bucket]) -> None:
        """Push the agent's current index entry into the agent heap of each bucket."""
        spec, idle, indexed = agent.spec, agent.indexed_idle, agent.indexed
        if self._best_skill:
            skills = spec.skills
            for bucket in buckets:
                rank = -sum(skills[s] for s in bucket.key[0])
                bucket.push_agent((rank, idle, spec.id, indexed[bucket.channel], agent))
            return
        # longest idle: every bucket gets the same entry (one per channel), made once
        entry: _AgentEntry | None = None
        for bucket in buckets:
            token = indexed[bucket.channel]
            if entry is None or entry[3] != token:
                entry = (0, idle, spec.id, token, agent)
            bucket.push_agent(entry)

    # ------------------------------------------------------- buckets, contacts

    def _bucket(self, key: RoutingKey) -> _Bucket:
        """The bucket for a key, created (and linked to qualifying agents) on first use."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(key, self._head_keys)
            first_skill = min(key[0]) if key[0] else None
            self._buckets_by_skill.setdefault(first_skill, []).append(bucket)
            candidates = (
                self._agents if first_skill is None else self._agents_by_skill.get(first_skill, {})
            )
            for agent in candidates.values():
                if qualifies(agent.spec, key):
                    _link(agent, bucket)
                    if bucket.channel in agent.indexed:
                        self._enter(agent, (bucket,))
        return bucket

    def _filing(
        self, contact: ContactSpec, shape: tuple[Any, ...]
    ) -> tuple[_Bucket, _Bucket | None]:
        """A new shape's bucket and the one its overflow moves it to (None: it stays)."""
        key, wide_key = routing_key(contact), routing_key(contact, overflowed=True)
        wide = None if wide_key == key else self._bucket(wide_key)
        filing = self._filings[shape] = (self._bucket(key), wide)
        return filing

    def _advance(self, now: float) -> None:
        """Re-key the contacts whose overflow time has come (bullseye widening)."""
        due = self._overflow
        while due and due[0][0] <= now:
            _, _, entry, wide = heapq.heappop(due)
            contact_id = entry[2]
            if self._waiting.get(contact_id) is entry:  # else it left: the event is stale
                _unrank(entry, entry[6])
                moved = self._waiting[contact_id] = (*entry[:6], wide, entry[7])
                wide.rank(moved)
        self._due = due[0][0] if due else _INF

    def _unwait(self, entry: _ContactEntry) -> None:
        """Leave the waiting set and the bucket's ranks (an overflow event goes stale)."""
        contact_id = entry[2]
        del self._waiting[contact_id]
        _unrank(entry, entry[6])

    def _assign(self, entry: _ContactEntry, agent: _Agent, now: float) -> Assignment:
        """Apply an offer: the contact stops waiting and takes one slot of the agent.

        ``_unwait`` written out, with the usual case first (the bucket's head leaves):
        this runs once per placed contact.
        """
        spec, contact_id = entry[4], entry[2]
        del self._waiting[contact_id]
        bucket = entry[6]
        ranked = bucket.ranked
        if ranked[0] is entry:
            del ranked[0]
            bucket.keys[bucket.index] = ranked[0][5]
        else:
            _unrank(entry, bucket)
        channel, agent_id = bucket.channel, agent.spec.id
        load = agent.load
        load[channel] = load.get(channel, 0) + 1
        agent.total += 1
        if (
            load == agent.seen_load
            and agent.indexed_idle == agent.idle_since
            and agent.presence == agent.seen_presence
        ):
            # the usual agent-free decision: the slot it freed is refilled, so its index
            # entries are right again and the next arrival need not look at it
            self._dirty.pop(agent_id, None)
        else:
            self._dirty[agent_id] = agent
        until = entry[7]
        sticky = until is not None and now < until and spec.last_agent_id == agent_id
        return _assignment(Assignment, (contact_id, agent_id, sticky))

    # ------------------------------------------------------- agent bookkeeping

    def _adopt_agent(self, agent: _Agent) -> None:
        """Register an agent and link it to every existing bucket it qualifies for."""
        spec = agent.spec
        self._agents[spec.id] = agent
        for skill in spec.skills:
            self._agents_by_skill.setdefault(skill, {})[spec.id] = agent
        for indexed in [*spec.skills, None]:
            for bucket in self._buckets_by_skill.get(indexed, ()):
                if qualifies(spec, bucket.key):
                    _link(agent, bucket)

    def _forget_agent(self, agent: _Agent) -> None:
        """Unregister an agent; its index entries die with its tokens."""
        agent_id = agent.spec.id
        del self._agents[agent_id]
        for skill in agent.spec.skills:
            self._agents_by_skill[skill].pop(agent_id, None)
        for bucket in agent.linked:
            bucket.members.pop(agent_id, None)
        agent.indexed.clear()
        agent.presence = OFFLINE
        self._dirty.pop(agent_id, None)


def _link(agent: _Agent, bucket: _Bucket) -> None:
    """Record that an agent qualifies for a bucket."""
    agent.linked.add(bucket)
    bucket.members[agent.spec.id] = agent
    channel = bucket.channel
    buckets = agent.buckets.setdefault(channel, [])
    buckets.append(bucket)
    agent.heaps.setdefault(channel, []).append(bucket.ranked)
    lane: _Lane = (
        channel,
        agent.capacity.get(channel, 0),
        itemgetter(0, *(b.index for b in buckets)),
        tuple(b.ranked for b in buckets),
    )
    lanes = agent.lanes
    if len(buckets) == 1:  # the channel's first bucket: a new lane, after the others
        agent.lanes = (*lanes, lane)
    else:
        agent.lanes = tuple(lane if old[0] == channel else old for old in lanes)


def _eligible(agent: _Agent, bucket: _Bucket, excluded: frozenset[str]) -> bool:
    """Full eligibility of one agent for a contact waiting in ``bucket``, from live state."""
    return (
        agent.has_room(bucket.channel) and bucket in agent.linked and agent.spec.id not in excluded
    )


def _unrank(entry: _ContactEntry, bucket: _Bucket) -> None:
    """Take a contact's entry out of its bucket's sorted ranks."""
    ranked = bucket.ranked
    at = bisect_left(ranked, entry)
    if at < len(ranked) and ranked[at] is entry:
        del ranked[at]
        if at == 0:
            bucket.keys[bucket.index] = ranked[0][5]


def _head_entry(
    key: float, keys: tuple[float, ...], lines: tuple[list[_ContactEntry], ...]
) -> _ContactEntry:
    """The head entry of rank key ``key``, the least of ``keys`` (read for ``lines``)."""
    if keys.count(key) == 1:
        return lines[keys.index(key) - 1][0]
    tied: _ContactEntry = min(map(_head, lines))  # heads tied on their keys: compare them
    return tied


def _first_not_excluding(ranked: list[_ContactEntry], agent_id: str) -> _ContactEntry:
    """First contact of a bucket, in rank order, that has not excluded the agent (or _END)."""
    for entry in ranked:
        if agent_id not in entry[3]:
            return entry
    return _END  # not reached: _END excludes nobody


def _live_agent_on_top(bucket: _Bucket) -> bool:
    """Drop dead agent entries off the top; whether a free agent remains."""
    heap, channel = bucket.agents, bucket.channel
    while heap and heap[0][4].indexed.get(channel) != heap[0][3]:
        heapq.heappop(heap)
    return bool(heap)


def _check_presence(presence: str) -> None:
    if presence not in PRESENCES:
        raise ValueError(f"unknown presence {presence!r}")
