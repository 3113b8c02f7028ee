"""Discrete-event simulation of a contact center that drives the production code.

``simulation.py`` models one FCFS queue by hand to score the EWT predictors; this module
runs what the server runs, so that a "what if" is answered for Threadline itself:

* ``routing.engine.Router`` matches contacts to agents (skills, languages, tier, capacity
  per channel, longest idle first); queues may share agents.
* ``routing.waits.WaitEstimator`` gives every contact that must wait the EWT the server
  would show it, and learns from answers, hang-ups and handle times as the server does.
* ``callbacks.policy`` decides when a keep-my-place callback is offered
  (``should_offer``) and when an unanswered one is tried again (``next_attempt_at``).

The calls mirror routing/services.py and callbacks/dialing.py: ``arrived`` when routing
finds no free agent, ``answered`` when an agent takes a contact (a callback's wait counted
from the place it kept), ``handled`` when a conversation ends, ``abandoned`` on a hang-up.
A customer who keeps their place stays in the Router with its arrival time and can no
longer hang up; when an agent takes it the call goes out (the agent is reserved): picked
up with probability ``answer_p``, else the agent is freed after ``ring_timeout_s`` and
the retry comes back, when ``next_attempt_at`` allows one, as a new contact at
``RETRY_PRIORITY`` with the original place in line.

Not modelled: offers that time out or are rejected (agents accept at once), wrap-up
time, ringing before a pick-up, booked windows, a second offer to a customer who said no.

Pure and reproducible: ``heapq`` and ``random.Random``, no clock.  Arrival times, queue
choice, handle times and patience come from one stream, the customers' callback choices
from another, so the same seed gives the same arrivals with callbacks on or off (common
random numbers: the comparison is not blurred by noise).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate, count, pairwise
from typing import Any

from threadline.queueing import ewt
from threadline.queueing.simulation import (
    PredictorScore,
    Progress,
    RateFunction,
    _handle_sampler,
    _rate,
    _Tally,
)
from threadline.routing.callback_policy import (
    RETRY_PRIORITY,
    CallbackPolicy,
    next_attempt_at,
    should_offer,
)
from threadline.routing.engine import AVAILABLE, AWAY, AgentSpec, Assignment, ContactSpec, Router
from threadline.routing.engine import Strategy as RoutingStrategy
from threadline.routing.waits import WaitEstimate, WaitEstimator

# next_attempt_at speaks datetimes: simulated seconds count from this moment.
_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
_ARRIVAL, _DONE, _RING_OUT, _ABANDON, _RETRY, _RESTAFF = range(6)

Staffing = int | Sequence[tuple[float, int]]


@dataclass(frozen=True, slots=True)
class QueueDemand:
    """One queue: its share of the arrivals, what its contacts need and how they behave.

    ``handle_cv`` None means exponential handle times, else lognormal with that CV;
    ``mean_patience_s`` None means nobody hangs up (exponential patience otherwise).
    Of the contacts offered a callback, ``accept_share`` keep their place; a callback
    call is picked up with probability ``answer_p``.
    """

    id: str
    mean_handle_s: float
    share: float = 1.0
    required_skills: frozenset[str] = frozenset({"general"})
    channel: str = "voice"
    language: str | None = None
    handle_cv: float | None = None
    mean_patience_s: float | None = None
    answer_within_s: float = 20.0
    callbacks: CallbackPolicy = field(default_factory=CallbackPolicy)
    accept_share: float = 0.5
    answer_p: float = 0.8


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """Agents alike in skills, languages and capacity.

    ``staffing``: how many are on shift, a constant or ``(from_s, agents)`` steps in time
    order (none on shift before the first step).  An agent whose shift ends finishes the
    contacts it holds.
    """

    name: str
    staffing: Staffing
    skills: Mapping[str, int] = field(default_factory=lambda: {"general": 3})
    languages: frozenset[str] = frozenset({"en"})
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})
    tier: int = 1

    def agents_at(self, t: float) -> int:
        if isinstance(self.staffing, int):
            return self.staffing
        on = 0
        for start, agents in self.staffing:
            if start > t:
                break
            on = agents
        return on

    @property
    def most(self) -> int:
        if isinstance(self.staffing, int):
            return self.staffing
        return max((agents for _, agents in self.staffing), default=0)


@dataclass(frozen=True, slots=True)
class Network:
    """Queues, agents and demand over ``horizon_s`` seconds.

    Contacts arrive (Poisson, rate constant or a function of time bounded by
    ``peak_arrival_rate_per_s``) until ``horizon_s``; each picks a queue by ``share``.
    After the horizon the run goes on, staffing as at its end, until everyone is served
    or ``drain_s`` more seconds passed.  Contacts arriving before ``warmup_s`` are
    simulated but not counted (steady-state figures); ``interval_s`` cuts the series.
    """

    queues: Sequence[QueueDemand]
    groups: Sequence[AgentGroup]
    arrival_rate_per_s: float | RateFunction
    horizon_s: float
    peak_arrival_rate_per_s: float | None = None
    interval_s: float = 1800.0
    drain_s: float = 4 * 3600.0
    warmup_s: float = 0.0
    strategy: RoutingStrategy = "longest_idle"
    seed: int = 1


@dataclass(frozen=True, slots=True)
class Figures:
    """Outcomes of the counted arrivals of one queue, or of all.

    Every arrival ends answered, abandoned, as a failed callback or still waiting (in
    line, or a callback between attempts) when the run stopped.  A callback counts as
    answered when the customer picks up; its delay runs from arrival to that call.
    """

    arrivals: int
    answered: int
    abandoned: int
    failed_callbacks: int
    still_waiting: int
    waited: int  # found no free agent
    service_level: float  # answered within the queue's threshold, over all arrivals
    asa_s: float  # mean delay of answered contacts
    p_abandon: float
    p_wait: float


@dataclass(frozen=True, slots=True)
class CallbackOutcomes:
    """Keep-my-place callbacks: ``answered_by_attempt[0]`` picked up the first call."""

    offered: int
    accepted: int
    answered_by_attempt: tuple[int, ...]
    failed: int
    pending: int  # in line or between attempts when the run stopped
    calls: int
    mean_delay_s: float  # arrival to the answered call

    @property
    def answered(self) -> int:
        return sum(self.answered_by_attempt)

    @property
    def declined(self) -> int:
        return self.offered - self.accepted


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """One interval: outcomes of the contacts that arrived in it, and how it went.

    ``ewt_predicted_s``/``ewt_actual_s``: mean EWT shown and mean real wait of its
    contacts that waited and were reached; None when there were none.
    """

    start_s: float
    agents: float  # mean on shift
    arrivals: int
    answered: int
    within: int
    abandoned: int
    service_level: float
    asa_s: float | None
    p_abandon: float
    mean_waiting: float  # time-average of contacts in line (kept places included)
    max_waiting: int
    occupancy: float
    callbacks_offered: int
    callbacks_accepted: int
    callbacks_failed: int
    ewt_predicted_s: float | None
    ewt_actual_s: float | None


@dataclass(frozen=True, slots=True)
class NetworkResult:
    total: Figures
    queues: Mapping[str, Figures]
    occupancy: float  # busy time of agents on shift over their time on shift
    callbacks: CallbackOutcomes
    ewt: Mapping[str, PredictorScore]  # blend (what was shown) and each predictor
    ewt_scored: int  # contacts that waited, were reached and had a finite EWT
    ewt_range_coverage: float  # share of those whose real wait fell in the range shown
    intervals: tuple[IntervalStats, ...]


# ---------------------------------------------------------------- bookkeeping
@dataclass(slots=True)
class _Counts:
    arrivals: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    waited: int = 0
    delay_sum: float = 0.0
    offered: int = 0
    accepted: int = 0
    failed: int = 0
    calls: int = 0
    callback_delay_sum: float = 0.0
    by_attempt: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Bin:
    arrivals: int = 0
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    delay_sum: float = 0.0
    offered: int = 0
    accepted: int = 0
    failed: int = 0
    waiting_area: float = 0.0
    max_waiting: int = 0
    occupied_area: float = 0.0
    staffed_area: float = 0.0
    ewt_n: int = 0
    ewt_predicted: float = 0.0
    ewt_actual: float = 0.0


class _Contact:
    """One arrival, followed through its router contacts (a retry is a new one)."""

    __slots__ = (
        "arrived_at",
        "attempts",
        "callback",
        "counted",
        "estimate",
        "handle_s",
        "n",
        "queue",
        "router_id",
    )

    def __init__(self, n: int, queue: int, arrived_at: float, handle_s: float) -> None:
        self.n = n
        self.queue = queue
        self.arrived_at = arrived_at
        self.handle_s = handle_s  # drawn on arrival: the same with callbacks on or off
        self.counted = False
        self.router_id: str | None = None  # set while it waits in the Router
        self.callback = False  # kept its place: a callback, no longer able to hang up
        self.attempts = 0  # callback calls placed
        self.estimate: WaitEstimate | None = None  # what it was shown on arrival


class _Run:
    """The state of one run; ``run`` drives the event loop."""

    def __init__(self, net: Network, progress: Progress | None) -> None:
        _check(net)
        self.net = net
        self.progress = progress
        self.rng = random.Random(net.seed)  # noqa: S311 - a reproducible simulation
        self.choices = random.Random(f"{net.seed}/customers")  # noqa: S311
        self.rate_at, self.peak = _rate(net.arrival_rate_per_s, net.peak_arrival_rate_per_s)
        self.handle = [_handle_sampler(self.rng, q.mean_handle_s, q.handle_cv) for q in net.queues]
        total_share = sum(q.share for q in net.queues)
        self.cumulative = [s / total_share for s in accumulate(q.share for q in net.queues)]
        prior = sum(q.share * q.mean_handle_s for q in net.queues) / total_share
        self.router = Router(strategy=net.strategy)
        self.waits = WaitEstimator(prior)
        self.events: list[tuple[float, int, int, Any]] = []
        self.seq = count()
        self.counts = [_Counts() for _ in net.queues]
        self.bins = [_Bin() for _ in range(max(1, math.ceil(net.horizon_s / net.interval_s)))]
        self.tally = _Tally()
        self.covered = 0
        self.in_router: dict[str, _Contact] = {}
        self.open: dict[int, _Contact] = {}
        self.arrived = 0
        self.clock = 0.0
        self.reported = -1
        self.agents: list[list[str]] = []
        self.on_shift: set[str] = set()
        self.held: dict[str, int] = {}
        self.occupied = 0

    # ------------------------------------------------------------ the loop
    def run(self) -> NetworkResult:
        self._hire()
        for at in sorted({start for g in self.net.groups for start, _ in _steps(g)}):
            if 0.0 < at < self.net.horizon_s:
                self._push(at, _RESTAFF, None)
        self._push(self.rng.expovariate(self.peak), _ARRIVAL, None)
        handlers: dict[int, Callable[[float, Any], None]] = {
            _ARRIVAL: self._arrival,
            _DONE: self._done,
            _RING_OUT: self._ring_out,
            _ABANDON: self._abandon,
            _RETRY: self._retry,
            _RESTAFF: self._restaff,
        }
        stop = self.net.horizon_s + self.net.drain_s
        while self.events and self.events[0][0] <= stop:
            now, _, kind, ref = heapq.heappop(self.events)
            self._advance(now)
            handlers[kind](now, ref)
            self._note_waiting(now)
        self._advance(self.net.horizon_s)
        if self.progress is not None:
            self.progress(round(self.net.horizon_s), round(self.net.horizon_s))
        return self._result()

    def _push(self, at: float, kind: int, ref: Any) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, ref))

    def _advance(self, now: float) -> None:
        """Integrate queue length and occupancy over time, per interval, up to ``now``."""
        t, end, width = self.clock, min(now, self.net.horizon_s), self.net.interval_s
        if t < end:
            i = min(int(t // width), len(self.bins) - 1)
            waiting = self.router.waiting()
            while t < end and i < len(self.bins):
                edge = min((i + 1) * width, end)
                if edge > t:
                    span, b = edge - t, self.bins[i]
                    b.waiting_area += span * waiting
                    b.occupied_area += span * self.occupied
                    b.staffed_area += span * len(self.on_shift)
                    t = edge
                i += 1
        self.clock = max(self.clock, now)
        self._report(now)

    def _report(self, now: float) -> None:
        if self.progress is None:
            return
        horizon = self.net.horizon_s
        step = min(int(100 * now / horizon), 100)
        if step > self.reported:
            self.reported = step
            self.progress(round(min(now, horizon)), round(horizon))

    def _note_waiting(self, now: float) -> None:
        if now < self.net.horizon_s:
            b = self.bins[min(int(now // self.net.interval_s), len(self.bins) - 1)]
            b.max_waiting = max(b.max_waiting, self.router.waiting())

    # ------------------------------------------------------------ agents
    def _hire(self) -> None:
        for group in self.net.groups:
            spec_of = [
                AgentSpec(
                    id=f"{group.name}-{i + 1}",
                    skills=dict(group.skills),
                    languages=group.languages,
                    tier=group.tier,
                    capacity=dict(group.capacity),
                )
                for i in range(group.most)
            ]
            on = group.agents_at(0.0)
            for i, spec in enumerate(spec_of):
                presence = AVAILABLE if i < on else AWAY
                self.router.upsert_agent(spec, presence=presence, idle_since=0.0)
                self.held[spec.id] = 0
                if i < on:
                    self.on_shift.add(spec.id)
            self.agents.append([spec.id for spec in spec_of])

    def _restaff(self, now: float, _ref: Any) -> None:
        joined = []
        for group, ids in zip(self.net.groups, self.agents, strict=True):
            on = group.agents_at(now)
            for i, agent_id in enumerate(ids):
                if (i < on) == (agent_id in self.on_shift):
                    continue
                busy = self.held[agent_id] > 0
                if i < on:
                    self.on_shift.add(agent_id)
                    self.occupied += busy
                    self.router.set_presence(agent_id, AVAILABLE, now)
                    joined.append(agent_id)
                else:
                    self.on_shift.discard(agent_id)
                    self.occupied -= busy
                    self.router.set_presence(agent_id, AWAY, now)
        for agent_id in joined:
            self._feed(agent_id, now)

    def _hold(self, agent_id: str, delta: int) -> None:
        before = self.held[agent_id]
        self.held[agent_id] = before + delta
        if agent_id in self.on_shift and (before == 0) != (before + delta == 0):
            self.occupied += 1 if before == 0 else -1

    def _feed(self, agent_id: str, now: float) -> None:
        """The agent-free path: give a free agent contacts while it has room."""
        while (assignment := self.router.route_agent(agent_id, now)) is not None:
            self._taken(assignment, now)

    # ------------------------------------------------------------ contacts
    def _arrival(self, now: float, _ref: Any) -> None:
        nxt = now + self.rng.expovariate(self.peak)
        if nxt < self.net.horizon_s:
            self._push(nxt, _ARRIVAL, None)
        if self.rng.random() * self.peak > self.rate_at(now):
            return  # thinning: no arrival at this candidate time
        qi = self._pick_queue()
        queue = self.net.queues[qi]
        patience = (
            self.rng.expovariate(1.0 / queue.mean_patience_s) if queue.mean_patience_s else None
        )
        contact = _Contact(self.arrived, qi, now, self.handle[qi]())
        contact.counted = now >= self.net.warmup_s
        self.arrived += 1
        self.open[contact.n] = contact
        self._count(contact).arrivals += 1
        self._bin(contact).arrivals += 1
        self._enqueue(contact, str(contact.n), 0, now)
        if contact.router_id is None:
            return  # answered at once
        self._count(contact).waited += 1
        estimate = self.waits.estimate(self.router, contact.router_id, queue.id, now)
        self.waits.arrived(self.router, contact.router_id, queue.id, now)
        contact.estimate = estimate
        if estimate is not None and self._keeps_place(contact, queue, estimate.ewt_s):
            return
        if patience is not None:
            self._push(now + patience, _ABANDON, contact)

    def _pick_queue(self) -> int:
        if len(self.cumulative) == 1:
            return 0
        u = self.rng.random()
        return next((i for i, edge in enumerate(self.cumulative) if u < edge), 0)

    def _enqueue(self, contact: _Contact, router_id: str, priority: int, now: float) -> None:
        """File a router contact with the arrival's place in line and route it now."""
        queue = self.net.queues[contact.queue]
        self.router.add_contact(
            ContactSpec(
                id=router_id,
                queue_id=queue.id,
                channel=queue.channel,
                required_skills=queue.required_skills,
                language=queue.language,
                priority=priority,
                enqueued_at=contact.arrived_at,
            )
        )
        contact.router_id = router_id
        self.in_router[router_id] = contact
        assignment = self.router.route_contact(router_id, now)
        if assignment is not None:
            self._taken(assignment, now)

    def _keeps_place(self, contact: _Contact, queue: QueueDemand, ewt_s: float) -> bool:
        """Offer keep-my-place when the EWT passes the policy's threshold; some accept."""
        if not queue.callbacks.keep_place or not should_offer(queue.callbacks, ewt_s):
            return False
        counts, b = self._count(contact), self._bin(contact)
        counts.offered += 1
        b.offered += 1
        if self.choices.random() >= queue.accept_share:
            return False
        counts.accepted += 1
        b.accepted += 1
        contact.callback = True
        return True

    def _taken(self, assignment: Assignment, now: float) -> None:
        """An agent takes a contact (accepts at once): answered, or a callback dialled."""
        contact = self.in_router.pop(assignment.contact_id)
        router_id, contact.router_id = assignment.contact_id, None
        queue = self.net.queues[contact.queue]
        waited = now - contact.arrived_at
        if contact.attempts == 0:  # a retry's wait counts from its kept place: not a sample
            self.waits.answered(queue.id, router_id, waited)
        self._hold(assignment.agent_id, 1)
        if contact.attempts == 0:
            self._score(contact, waited)
        ref = (assignment.agent_id, queue.channel, contact)
        if not contact.callback:
            self._answered(contact, now)
            self._push(now + contact.handle_s, _DONE, ref)
            return
        contact.attempts += 1
        self._count(contact).calls += 1
        if self.choices.random() < queue.answer_p:
            self._answered(contact, now)
            self._push(now + contact.handle_s, _DONE, ref)
        else:
            self._push(now + queue.callbacks.ring_timeout_s, _RING_OUT, ref)

    def _answered(self, contact: _Contact, now: float) -> None:
        queue = self.net.queues[contact.queue]
        delay = now - contact.arrived_at
        within = delay <= queue.answer_within_s
        counts, b = self._count(contact), self._bin(contact)
        counts.answered += 1
        counts.within += within
        counts.delay_sum += delay
        b.answered += 1
        b.within += within
        b.delay_sum += delay
        if contact.callback:
            counts.callback_delay_sum += delay
            tries = counts.by_attempt
            tries.extend([0] * (contact.attempts - len(tries)))
            tries[contact.attempts - 1] += 1
        del self.open[contact.n]

    def _score(self, contact: _Contact, waited: float) -> None:
        """Score the EWT a waiting contact was shown against the wait it really had."""
        shown = contact.estimate
        if shown is None or not math.isfinite(shown.ewt_s):
            return
        b = self._bin(contact)
        b.ewt_n += 1
        b.ewt_predicted += shown.ewt_s
        b.ewt_actual += waited
        if contact.counted:
            self.tally.add({**shown.estimates, ewt.BLEND: shown.ewt_s}, waited)
            high = math.inf if shown.high_s is None else shown.high_s
            self.covered += shown.low_s <= waited <= high

    def _done(self, now: float, ref: tuple[str, str, _Contact]) -> None:
        agent_id, channel, contact = ref
        self.router.release(agent_id, channel, now)
        self._hold(agent_id, -1)
        self.waits.handled(self.net.queues[contact.queue].id, contact.handle_s)
        self._feed(agent_id, now)

    def _ring_out(self, now: float, ref: tuple[str, str, _Contact]) -> None:
        """A callback call not picked up: free the agent; retry per the policy, or fail."""
        agent_id, channel, contact = ref
        self.router.release(agent_id, channel, now)
        self._hold(agent_id, -1)
        policy = self.net.queues[contact.queue].callbacks
        retry_at = next_attempt_at(policy, contact.attempts, _EPOCH + timedelta(seconds=now))
        if retry_at is None:
            self._count(contact).failed += 1
            self._bin(contact).failed += 1
            del self.open[contact.n]
        else:
            self._push((retry_at - _EPOCH).total_seconds(), _RETRY, contact)
        self._feed(agent_id, now)

    def _retry(self, now: float, contact: _Contact) -> None:
        """The retry comes back ahead of ordinary contacts, with its original place."""
        router_id = f"{contact.n}.{contact.attempts}"
        # no `arrived`: the server learns nothing from retries (its wait counts from the
        # kept place, not from this arrival)
        self._enqueue(contact, router_id, RETRY_PRIORITY, now)

    def _abandon(self, now: float, contact: _Contact) -> None:
        if contact.router_id is None or contact.callback:
            return  # answered meanwhile, or kept its place
        router_id, contact.router_id = contact.router_id, None
        self.router.remove_contact(router_id)
        del self.in_router[router_id]
        del self.open[contact.n]
        self.waits.abandoned(self.net.queues[contact.queue].id, router_id, now - contact.arrived_at)
        self._count(contact).abandoned += 1
        self._bin(contact).abandoned += 1

    def _count(self, contact: _Contact) -> _Counts:
        return self.counts[contact.queue] if contact.counted else _Counts()

    def _bin(self, contact: _Contact) -> _Bin:
        return self.bins[min(int(contact.arrived_at // self.net.interval_s), len(self.bins) - 1)]

    # ------------------------------------------------------------ results
    def _result(self) -> NetworkResult:
        net = self.net
        still = [0] * len(net.queues)
        pending = 0
        for contact in self.open.values():
            if contact.counted:
                still[contact.queue] += 1
                pending += contact.callback
        per_queue = {
            q.id: _figures(c, s) for q, c, s in zip(net.queues, self.counts, still, strict=True)
        }
        everything = _Counts()
        for c in self.counts:
            _add(everything, c)
        staffed = sum(b.staffed_area for b in self.bins)
        tries = everything.by_attempt
        return NetworkResult(
            total=_figures(everything, sum(still)),
            queues=per_queue,
            occupancy=sum(b.occupied_area for b in self.bins) / staffed if staffed else 0.0,
            callbacks=CallbackOutcomes(
                offered=everything.offered,
                accepted=everything.accepted,
                answered_by_attempt=tuple(tries),
                failed=everything.failed,
                pending=pending,
                calls=everything.calls,
                mean_delay_s=everything.callback_delay_sum / sum(tries) if sum(tries) else 0.0,
            ),
            ewt=self.tally.scores(),
            ewt_scored=self.tally.count,
            ewt_range_coverage=self.covered / self.tally.count if self.tally.count else 0.0,
            intervals=tuple(self._interval(i, b) for i, b in enumerate(self.bins)),
        )

    def _interval(self, i: int, b: _Bin) -> IntervalStats:
        width = self.net.interval_s
        start = i * width
        span = min(width, self.net.horizon_s - start)
        return IntervalStats(
            start_s=start,
            agents=b.staffed_area / span if span > 0 else 0.0,
            arrivals=b.arrivals,
            answered=b.answered,
            within=b.within,
            abandoned=b.abandoned,
            service_level=b.within / b.arrivals if b.arrivals else 0.0,
            asa_s=b.delay_sum / b.answered if b.answered else None,
            p_abandon=b.abandoned / b.arrivals if b.arrivals else 0.0,
            mean_waiting=b.waiting_area / span if span > 0 else 0.0,
            max_waiting=b.max_waiting,
            occupancy=b.occupied_area / b.staffed_area if b.staffed_area else 0.0,
            callbacks_offered=b.offered,
            callbacks_accepted=b.accepted,
            callbacks_failed=b.failed,
            ewt_predicted_s=b.ewt_predicted / b.ewt_n if b.ewt_n else None,
            ewt_actual_s=b.ewt_actual / b.ewt_n if b.ewt_n else None,
        )


def _steps(group: AgentGroup) -> Sequence[tuple[float, int]]:
    return () if isinstance(group.staffing, int) else group.staffing


def _add(into: _Counts, c: _Counts) -> None:
    for name in _Counts.__dataclass_fields__:
        if name == "by_attempt":
            into.by_attempt.extend([0] * (len(c.by_attempt) - len(into.by_attempt)))
            for i, n in enumerate(c.by_attempt):
                into.by_attempt[i] += n
        else:
            setattr(into, name, getattr(into, name) + getattr(c, name))


def _figures(c: _Counts, still_waiting: int) -> Figures:
    n = c.arrivals
    return Figures(
        arrivals=n,
        answered=c.answered,
        abandoned=c.abandoned,
        failed_callbacks=c.failed,
        still_waiting=still_waiting,
        waited=c.waited,
        service_level=c.within / n if n else 0.0,
        asa_s=c.delay_sum / c.answered if c.answered else 0.0,
        p_abandon=c.abandoned / n if n else 0.0,
        p_wait=c.waited / n if n else 0.0,
    )


def _check(net: Network) -> None:
    if not net.queues or not net.groups:
        raise ValueError("a network needs at least one queue and one agent group")
    if len({q.id for q in net.queues}) != len(net.queues):
        raise ValueError("queue ids must be unique")
    if len({g.name for g in net.groups}) != len(net.groups):
        raise ValueError("agent group names must be unique")
    if net.horizon_s <= 0 or net.interval_s <= 0 or net.drain_s < 0:
        raise ValueError("horizon and interval must be positive, drain not negative")
    peak = net.peak_arrival_rate_per_s
    if not callable(net.arrival_rate_per_s):
        peak = net.arrival_rate_per_s
    if peak is not None and not peak > 0:
        raise ValueError("the arrival rate must be positive")
    for q in net.queues:
        if q.share <= 0 or q.mean_handle_s <= 0:
            raise ValueError(f"queue {q.id!r}: share and mean handle time must be positive")
        if not (0.0 <= q.accept_share <= 1.0 and 0.0 <= q.answer_p <= 1.0):
            raise ValueError(f"queue {q.id!r}: accept_share and answer_p are probabilities")
    for g in net.groups:
        steps = _steps(g)
        if g.most < 0 or any(n < 0 for _, n in steps):
            raise ValueError(f"group {g.name!r}: agents cannot be negative")
        if any(a[0] > b[0] for a, b in pairwise(steps)):
            raise ValueError(f"group {g.name!r}: staffing steps must be in time order")


def simulate_network(network: Network, *, progress: Progress | None = None) -> NetworkResult:
    """Run ``network`` through the Router, the WaitEstimator and the callback policy.

    ``progress(done, total)`` is called with simulated seconds, about every 1% of the
    horizon and once at the end.
    """
    return _Run(network, progress).run()
