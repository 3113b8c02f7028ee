"""Contact-center KPIs, each defined once: the counters they are made of and their formulas.

Pure: no database, no clock. Two halves:

1. **Counting** (`fold_contact`, `fold_presence`, `fold_callback`, ...): one fact (a contact
   that ended, an agent's time in a presence, a callback's step, a bot's outcome, a survey
   answer) becomes additive counters on rows keyed by (15-minute bucket, queue, channel,
   agent, reason). The live consumer and `threadline analytics rebuild` both count through
   these functions, so they cannot disagree.
2. **Formulas** (`kpis`): a sum of counters (any set of rows: a queue over a year, an agent
   over a day, one 30-minute interval) becomes the KPIs below.

=================  ==================================================  =====================
KPI                formula (over the summed counters)                  options
=================  ==================================================  =====================
offered            contacts that entered a queue (counted once the     short abandons left
                   contact has ended)                                  out
answered           offered contacts an agent accepted (the first
                   acceptance)
abandoned          offered, never answered, the customer left; those   `short_abandon_s`: 0
                   who waited at most the short-abandon threshold are  or a bin edge,
                   left out                                            default 5 s
service level      answered within T / (answered + abandoned)          `sl_threshold_s`: a
                   [abandoned_in_denominator, the default];            bin edge; default T
                   answered within T / answered [answered_only];       is each contact's
                   answered within T / (answered + abandoned after T)  own queue's target;
                   [abandons_within_t_neutral]. Short abandons never   `sl_variant`
                   count in the denominator
ASA                sum of answered waits / answered (the wait: from
                   entering the queue to the first acceptance)
AHT                (talk + hold + wrap-up) / handled; talk is each
                   agent's segment, from acceptance to a transfer or
                   the resolution, less its hold; wrap-up is the after-contact work
                   that follows (queue `wrapup_s`: until the agent
                   presses Done or the time runs out), on the last
                   agent; hold is the time the agent kept a caller
                   on hold (a call in a conference: the timeline's
                   call_held to call_resumed, or to the end), on the
                   last agent
occupancy          busy / staffed: handling time over the time         by agent or
                   available or busy, both cut at bucket edges         interval only
transfer rate      transfers / answered (a transfer is counted on the
                   agent who made it)
FCR                (resolved - repeated) / resolved; a resolved        provisional for the
                   contact is repeated when the customer's next        last 7 days
                   contact, with the same reason, comes within 7 days
                   of its end
callbacks          requested, answered (the customer picked up), kept
                   (the call back completed), failed (given up after
                   every attempt); kept rate: kept / requested
deflection         bot deflected / (deflected + handed off)
CSAT               answers 4-5 / answers (1-5 scale)
CES                mean of answers (1-7, 7 = very easy); share of
                   easy: answers 5-7 / answers
=================  ==================================================  =====================

A contact is counted in the bucket in which it entered the queue (its arrival interval),
once it has ended; busy time and staffed time are cut at bucket edges and counted where
they happened, so a contact that spans intervals loads each interval with its own share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

BUCKET = timedelta(minutes=15)
REPEAT_WINDOW = timedelta(days=7)
# Wait-time histogram: a wait of w seconds is counted in the first bin whose edge >= w
# (and in no bin beyond the last edge). A service-level or short-abandon threshold that is
# one of these edges is exact.
WAIT_EDGES: tuple[int, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
DEFAULT_SHORT_ABANDON_S = 5
SL_VARIANTS = ("abandoned_in_denominator", "answered_only", "abandons_within_t_neutral")
STAFFED = frozenset({"available", "busy"})
INTERVALS = {"15m": 15, "30m": 30, "60m": 60, "day": 1440}

# (bucket start, queue, channel, agent, reason); "" where a dimension does not apply
Key = tuple[datetime, str, str, str, str]

CONTACT_COUNTERS: tuple[str, ...] = (
    "offered",
    "answered",
    "answered_wait_s",
    "answered_in_target",
    "abandoned",
    "abandoned_wait_s",
    "abandoned_in_target",
    "handled",
    "talk_s",
    "hold_s",
    "wrapup_s",
    "busy_s",
    "transfers",
    "resolved",
    "repeated",
    *(f"answered_le_{edge}" for edge in WAIT_EDGES),
    *(f"abandoned_le_{edge}" for edge in WAIT_EDGES),
)
EVENT_COUNTERS: tuple[str, ...] = (
    "staffed_s",
    "callbacks_requested",
    "callbacks_answered",
    "callbacks_kept",
    "callbacks_failed",
    "bot_deflected",
    "bot_handed_off",
    "csat_answers",
    "csat_good",
    "ces_answers",
    "ces_sum",
    "ces_easy",
)
COUNTERS = CONTACT_COUNTERS + EVENT_COUNTERS


def bucket_of(moment: datetime) -> datetime:
    """The start of the 15-minute bucket a moment falls in (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def wait_bin(wait_s: float) -> int | None:
    """The histogram bin (its edge) of a wait; None beyond the last edge."""
    for edge in WAIT_EDGES:
        if wait_s <= edge:
            return edge
    return None


# ---------------------------------------------------------------- the facts counted
@dataclass(frozen=True)
class Segment:
    """One agent's handling of a contact: from acceptance to a transfer or the wrap-up."""

    agent_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ContactFacts:
    """What the counters need of one contact that has ended (read from its row and its
    timeline entries). `outcome`: resolved (an agent's wrap-up), ended (the system closed
    it, an unanswered callback) or abandoned. `reason`: the contact's reason, else its
    wrap-up reason, else ""."""

    queue_id: str
    channel: str
    reason: str
    enqueued_at: datetime
    ended_at: datetime
    outcome: str
    target_s: int  # the queue's service-level threshold
    last_agent_id: str = ""
    first_answer_at: datetime | None = None
    first_agent_id: str = ""
    segments: tuple[Segment, ...] = ()
    transferred_by: tuple[str, ...] = ()  # who made each transfer (an agent or supervisor)
    hold_s: float = 0.0
    wrapup_s: float = 0.0
    wrapup_at: datetime | None = None  # when the wrap-up began (it lasted `wrapup_s`)

    @property
    def resolved_key(self) -> Key:
        """The row on which this contact's resolution (and a later repeat) is counted."""
        return (
            bucket_of(self.enqueued_at),
            self.queue_id,
            self.channel,
            self.last_agent_id,
            self.reason,
        )


Deltas = dict[Key, dict[str, float]]


@dataclass(frozen=True)
class Entry:
    """A timeline entry of a contact that the counters read: assigned, transferred,
    resolved or abandoned, a call held or resumed, by whom (author_type agent|system) and
    when."""

    seq: int
    kind: str
    author_type: str
    author_id: str | None
    at: datetime


@dataclass(frozen=True)
class ContactRow:
    """The stored contact, as the counters read it."""

    id: str
    customer_id: str
    queue_id: str
    channel: str
    status: str
    reason: str | None
    wrapup_reason: str | None
    agent_id: str | None
    enqueued_at: datetime
    ended_at: datetime | None
    wrapup_started_at: datetime | None = None
    wrapup_ended_at: datetime | None = None


def build_facts(row: ContactRow, entries: Iterable[Entry], target_s: int) -> ContactFacts | None:
    """A contact's facts from its row and timeline; None while it has not ended (nor
    its agent's wrap-up, when it has one)."""
    if row.ended_at is None or row.status not in ("resolved", "abandoned"):
        return None
    wrapup_s = 0.0
    if row.wrapup_started_at is not None:
        if row.wrapup_ended_at is None:
            return None
        wrapup_s = _seconds(row.wrapup_started_at, max(row.wrapup_started_at, row.wrapup_ended_at))
    segments: list[Segment] = []
    transferred_by: list[str] = []
    first_at: datetime | None = None
    first_agent = ""
    outcome = "abandoned" if row.status == "abandoned" else "ended"
    open_agent: str | None = None
    open_at = row.enqueued_at
    hold_s = 0.0
    held_at: datetime | None = None
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.kind == "call_held":
            held_at = held_at or entry.at
            continue
        if entry.kind == "call_resumed":
            if held_at is not None:
                hold_s += _seconds(held_at, max(held_at, entry.at))
            held_at = None
            continue
        if open_agent is not None and entry.kind in ("assigned", "transferred", "resolved"):
            segments.append(Segment(open_agent, open_at, max(open_at, entry.at)))
            open_agent = None
        if entry.kind == "assigned":
            open_agent, open_at = entry.author_id or "", entry.at
            if first_at is None:
                first_at, first_agent = entry.at, open_agent
        elif entry.kind == "transferred":
            transferred_by.append(entry.author_id or "")
        elif entry.kind == "resolved" and row.status == "resolved":
            outcome = "resolved" if entry.author_type == "agent" else "ended"
    if open_agent is not None:
        segments.append(Segment(open_agent, open_at, max(open_at, row.ended_at)))
    if held_at is not None:  # the call ended on hold
        hold_s += _seconds(held_at, max(held_at, row.ended_at))
    return ContactFacts(
        queue_id=row.queue_id,
        channel=row.channel,
        reason=(row.reason or row.wrapup_reason or "")[:100],
        enqueued_at=row.enqueued_at,
        ended_at=row.ended_at,
        outcome=outcome,
        target_s=target_s,
        last_agent_id=row.agent_id or "",
        first_answer_at=first_at,
        first_agent_id=first_agent,
        segments=tuple(segments),
        transferred_by=tuple(transferred_by),
        hold_s=hold_s,
        wrapup_s=wrapup_s,
        wrapup_at=row.wrapup_started_at,
    )


def _add(deltas: Deltas, key: Key, name: str, value: float = 1.0) -> None:
    row = deltas.setdefault(key, {})
    row[name] = row.get(name, 0.0) + value


def fold_contact(deltas: Deltas, facts: ContactFacts) -> None:
    """Add one ended contact's counters."""
    arrival = bucket_of(facts.enqueued_at)
    base = (facts.queue_id, facts.channel)

    def key(agent: str, at: datetime = arrival) -> Key:
        return (at, *base, agent, facts.reason)

    first = key(facts.first_agent_id)
    _add(deltas, first, "offered")
    if facts.first_answer_at is not None:
        wait = max(0.0, (facts.first_answer_at - facts.enqueued_at).total_seconds())
        _add(deltas, first, "answered")
        _add(deltas, first, "answered_wait_s", wait)
        _add(deltas, first, "answered_in_target", float(wait <= facts.target_s))
        if (edge := wait_bin(wait)) is not None:
            _add(deltas, first, f"answered_le_{edge}")
    elif facts.outcome == "abandoned":
        wait = max(0.0, (facts.ended_at - facts.enqueued_at).total_seconds())
        _add(deltas, first, "abandoned")
        _add(deltas, first, "abandoned_wait_s", wait)
        _add(deltas, first, "abandoned_in_target", float(wait <= facts.target_s))
        if (edge := wait_bin(wait)) is not None:
            _add(deltas, first, f"abandoned_le_{edge}")
    for n, segment in enumerate(facts.segments, 1):
        talk = _seconds(segment.start, segment.end)
        if n == len(facts.segments):  # the caller on hold is not talk: hold is its own term
            talk = max(0.0, talk - facts.hold_s)
        _add(deltas, key(segment.agent_id), "handled")
        _add(deltas, key(segment.agent_id), "talk_s", talk)
        for start, seconds in split_by_bucket(segment.start, segment.end):
            _add(deltas, key(segment.agent_id, start), "busy_s", seconds)
    if facts.segments and (facts.hold_s or facts.wrapup_s):
        last = key(facts.segments[-1].agent_id)
        _add(deltas, last, "hold_s", facts.hold_s)
        _add(deltas, last, "wrapup_s", facts.wrapup_s)
        if facts.wrapup_at is not None:  # after-contact work keeps the agent busy
            wrapup_end = facts.wrapup_at + timedelta(seconds=facts.wrapup_s)
            for start, seconds in split_by_bucket(facts.wrapup_at, wrapup_end):
                _add(deltas, (start, *last[1:]), "busy_s", seconds)
    for agent in facts.transferred_by:
        _add(deltas, key(agent), "transfers")
    if facts.outcome == "resolved" and facts.last_agent_id:
        _add(deltas, facts.resolved_key, "resolved")


def is_repeat(previous: ContactFacts | None, following: ContactFacts) -> bool:
    """Whether `following` (the customer's next contact after `previous`) makes `previous`
    a repeat: `previous` was resolved by an agent, had a known reason, the same one, and
    ended at most 7 days before `following` came in."""
    if previous is None or previous.outcome != "resolved" or not previous.last_agent_id:
        return False
    if not previous.reason or previous.reason != following.reason:
        return False
    gap = following.enqueued_at - previous.ended_at
    return timedelta(0) <= gap <= REPEAT_WINDOW


def fold_repeat(deltas: Deltas, previous: ContactFacts) -> None:
    _add(deltas, previous.resolved_key, "repeated")


def split_by_bucket(start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """The seconds of [start, end) that fall in each 15-minute bucket."""
    at = start
    while at < end:
        bucket = bucket_of(at)
        stop = min(end, bucket + BUCKET)
        yield bucket, _seconds(at, stop)
        at = stop


def fold_presence(
    deltas: Deltas, agent_id: str, presence: str, since: datetime, until: datetime
) -> None:
    """An agent was in `presence` over [since, until): staffed time when available or busy."""
    if presence not in STAFFED:
        return
    for bucket, seconds in split_by_bucket(since, until):
        _add(deltas, (bucket, "", "", agent_id, ""), "staffed_s", seconds)


CALLBACK_ACTIONS = {"requested": "callbacks_requested", "booked": "callbacks_requested"}
CALLBACK_ACTIONS |= {"answered": "callbacks_answered", "completed": "callbacks_kept"}


def fold_callback(deltas: Deltas, at: datetime, queue_id: str, action: str) -> None:
    """A callback's step (CallbackChanged.action, or "failed" for CallbackFailed)."""
    name = "callbacks_failed" if action == "failed" else CALLBACK_ACTIONS.get(action)
    if name is not None:
        _add(deltas, (bucket_of(at), queue_id, "voice", "", ""), name)


def fold_bot(deltas: Deltas, at: datetime, channel: str, intent: str, deflected: bool) -> None:
    name = "bot_deflected" if deflected else "bot_handed_off"
    _add(deltas, (bucket_of(at), "", channel, "", intent), name)


def fold_survey(deltas: Deltas, at: datetime, key: Key, kind: str, score: float) -> None:
    """A survey answer: CSAT on 1-5 (4-5 is satisfied), CES on 1-7 (5-7 is easy)."""
    row = (bucket_of(at), *key[1:])
    if kind == "csat" and 1 <= score <= 5:
        _add(deltas, row, "csat_answers")
        _add(deltas, row, "csat_good", float(score >= 4))
    elif kind == "ces" and 1 <= score <= 7:
        _add(deltas, row, "ces_answers")
        _add(deltas, row, "ces_sum", score)
        _add(deltas, row, "ces_easy", float(score >= 5))


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


# ---------------------------------------------------------------- roll-ups
# A report over a long period reads roll-ups: each 15-minute row is also summed per UTC day
# for each dimension alone (and for everything), and per UTC hour and per 15 minutes for
# everything.
ROLLUP_DIMENSIONS = {"queue": 1, "channel": 2, "agent": 3, "reason": 4}
GRAINS = {"day": timedelta(days=1), "hour": timedelta(hours=1), "quarter": BUCKET}
RollupKey = tuple[str, datetime, str, str]  # (grain, start, dimension, value)


def grain_start(moment: datetime, grain: str) -> datetime:
    if grain == "quarter":
        return bucket_of(moment)
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if grain == "day" else moment


def rollup(deltas: Mapping[Key, Mapping[str, float]]) -> dict[RollupKey, dict[str, float]]:
    """The roll-up rows of 15-minute rows. An agent's staffed time (no queue, channel or
    reason) rolls up under the agent and everything only."""
    out: dict[RollupKey, dict[str, float]] = {}
    for key, values in deltas.items():
        day, hour = grain_start(key[0], "day"), grain_start(key[0], "hour")
        targets: list[RollupKey] = [
            ("day", day, "all", ""),
            ("hour", hour, "all", ""),
            ("quarter", key[0], "all", ""),
        ]
        staffed_only = not (key[1] or key[2] or key[4])
        for dimension, index in ROLLUP_DIMENSIONS.items():
            if not staffed_only or dimension == "agent":
                targets.append(("day", day, dimension, str(key[index])))
        for target in targets:
            row = out.setdefault(target, {})
            for name, value in values.items():
                row[name] = row.get(name, 0.0) + value
    return out


# ---------------------------------------------------------------- formulas
@dataclass
class Counters:
    """A sum of counter rows; `+=` adds another row or sum."""

    values: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0.0))

    @classmethod
    def of(cls, row: Mapping[str, float | None]) -> Counters:
        return cls({name: float(row.get(name) or 0.0) for name in COUNTERS})

    def __iadd__(self, other: Counters | Mapping[str, float]) -> Counters:
        source = other.values if isinstance(other, Counters) else other
        for name, value in source.items():
            if name in self.values:
                self.values[name] += float(value or 0.0)
        return self

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def waited_le(self, kind: str, threshold_s: int) -> float:
        """How many `kind` (answered|abandoned) waited at most `threshold_s` (a bin edge)."""
        if threshold_s not in WAIT_EDGES and threshold_s != 0:
            raise ValueError(f"{threshold_s} s is not one of the wait bins {WAIT_EDGES}")
        return sum(self.values[f"{kind}_le_{edge}"] for edge in WAIT_EDGES if edge <= threshold_s)


@dataclass(frozen=True)
class Options:
    """How the formulas count: see the table at the top of this module."""

    short_abandon_s: int = DEFAULT_SHORT_ABANDON_S
    sl_threshold_s: int | None = None  # None: each contact against its queue's target
    sl_variant: str = SL_VARIANTS[0]

    def __post_init__(self) -> None:
        for value in (self.short_abandon_s, self.sl_threshold_s):
            if value is not None and value != 0 and value not in WAIT_EDGES:
                raise ValueError(f"{value} s is not one of the wait bins {WAIT_EDGES}")
        if self.sl_variant not in SL_VARIANTS:
            raise ValueError(f"sl_variant: one of {', '.join(SL_VARIANTS)}")


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def service_level(c: Counters, options: Options) -> float | None:
    """Share answered within the threshold; see the module's table for the variants."""
    short = c.waited_le("abandoned", options.short_abandon_s)
    abandoned = c["abandoned"] - short
    if options.sl_threshold_s is None:
        within, abandoned_within = c["answered_in_target"], c["abandoned_in_target"]
    else:
        within = c.waited_le("answered", options.sl_threshold_s)
        abandoned_within = c.waited_le("abandoned", options.sl_threshold_s)
    if options.sl_variant == "answered_only":
        return _ratio(within, c["answered"])
    if options.sl_variant == "abandons_within_t_neutral":
        # the short abandons are within T already (short <= T) unless T is shorter
        neutral = max(abandoned_within, short)
        return _ratio(within, c["answered"] + c["abandoned"] - neutral)
    return _ratio(within, c["answered"] + abandoned)


def kpis(c: Counters, options: Options | None = None) -> dict[str, float | None]:
    """Every KPI of a sum of counters (None where its denominator is zero)."""
    options = options or Options()
    short = c.waited_le("abandoned", options.short_abandon_s)
    abandoned = c["abandoned"] - short
    offered = c["offered"] - short
    handle = c["talk_s"] + c["hold_s"] + c["wrapup_s"]
    return {
        "offered": offered,
        "answered": c["answered"],
        "abandoned": abandoned,
        "short_abandoned": short,
        "abandon_rate": _ratio(abandoned, offered),
        "service_level": service_level(c, options),
        "asa_s": _ratio(c["answered_wait_s"], c["answered"]),
        "handled": c["handled"],
        "aht_s": _ratio(handle, c["handled"]),
        "occupancy": _ratio(c["busy_s"], c["staffed_s"]) if c["staffed_s"] else None,
        "transfers": c["transfers"],
        "transfer_rate": _ratio(c["transfers"], c["answered"]),
        "resolved": c["resolved"],
        "fcr": _ratio(c["resolved"] - c["repeated"], c["resolved"]),
        "callbacks_requested": c["callbacks_requested"],
        "callbacks_answered": c["callbacks_answered"],
        "callbacks_kept": c["callbacks_kept"],
        "callbacks_failed": c["callbacks_failed"],
        "callbacks_kept_rate": _ratio(c["callbacks_kept"], c["callbacks_requested"]),
        "deflection": _ratio(c["bot_deflected"], c["bot_deflected"] + c["bot_handed_off"]),
        "csat": _ratio(c["csat_good"], c["csat_answers"]),
        "csat_answers": c["csat_answers"],
        "ces": _ratio(c["ces_sum"], c["ces_answers"]),
        "ces_easy": _ratio(c["ces_easy"], c["ces_answers"]),
        "ces_answers": c["ces_answers"],
    }


def interval_start(bucket: datetime, minutes: int, zone: tzinfo) -> datetime:
    """The start, in `zone`, of the interval of `minutes` (15, 30, 60 or 1440 for a day
    in that zone) that holds a 15-minute bucket."""
    local = bucket.astimezone(zone)
    if minutes >= 1440:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    of_day = local.hour * 60 + local.minute
    floored = of_day - of_day % minutes
    return local.replace(hour=floored // 60, minute=floored % 60, second=0, microsecond=0)


def total(rows: Iterable[Mapping[str, float | None]]) -> Counters:
    out = Counters()
    for row in rows:
        out += Counters.of(row)
    return out


def finite(value: float | None) -> float | None:
    """A figure for JSON: None for NaN or infinity."""
    return None if value is None or not math.isfinite(value) else value
