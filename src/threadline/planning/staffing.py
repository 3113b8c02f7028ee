"""Agents required per interval, the roster's gap, and the week's intervals. Pure.

- offered load: A = forecast contacts / interval length x handle time (Erlangs);
- agents taking contacts: the fewest s whose Erlang A service level meets the queue's
  target within its threshold, for the mean patience given (``erlang.fewest_agents``);
- agents required: ceil(agents taking contacts / (1 - shrinkage)); shrinkage is the share
  of paid time off the phones (breaks, training, meetings, absence);
- agents available: floor(planned x (1 - shrinkage)), what the roster puts on the phones;
- gap: planned - required; below 0 understaffed, above 0 overstaffed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from threadline.queueing import erlang

INTERVAL_MINUTES = 30
INTERVAL = timedelta(minutes=INTERVAL_MINUTES)
SLOTS_PER_DAY = 24 * 60 // INTERVAL_MINUTES
DEFAULT_SHRINKAGE = 0.30
MAX_SHRINKAGE = 0.9
_EPS = 1e-9


def agents_taking_contacts(
    contacts: float,
    handle_s: float,
    *,
    answer_within_s: float,
    target: float,
    patience_s: float,
    interval_s: float = INTERVAL_MINUTES * 60.0,
) -> int:
    """The fewest agents on the phones that meet the service level (Erlang A); 0 when no
    contact is expected."""
    if contacts <= 0:
        return 0
    load = erlang.offered_load(contacts, interval_s, handle_s)
    target = min(max(target, 0.01), 0.999)  # fewest_agents needs a fraction in (0, 1)
    found = erlang.fewest_agents(load, handle_s, answer_within_s, target, patience_s=patience_s)
    return found.agents


def required(on_phones: int, shrinkage: float) -> int:
    """Agents to plan so that `on_phones` are left after shrinkage."""
    _check_shrinkage(shrinkage)
    return math.ceil(on_phones / (1.0 - shrinkage) - _EPS) if on_phones > 0 else 0


def available(planned: int, shrinkage: float) -> int:
    """Agents a roster of `planned` puts on the phones after shrinkage."""
    _check_shrinkage(shrinkage)
    return math.floor(planned * (1.0 - shrinkage) + _EPS)


def _check_shrinkage(shrinkage: float) -> None:
    if not 0.0 <= shrinkage <= MAX_SHRINKAGE:
        raise ValueError(f"shrinkage must be between 0 and {MAX_SHRINKAGE:.0%}")


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_intervals(monday: date, zone: tzinfo) -> list[datetime]:
    """Every half hour of the local week starting on `monday` (aware, in `zone`); counted in
    UTC, so a day when the clocks change has 46 or 50 of them."""
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone).astimezone(UTC)
    following = monday + timedelta(days=7)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    moments = []
    moment = start
    while moment < end:
        moments.append(moment.astimezone(zone))
        moment += INTERVAL
    return moments


def roster_key(moment: datetime, zone: tzinfo) -> tuple[int, int]:
    """(weekday, minute of the day) of the local half hour holding `moment`."""
    local = moment.astimezone(zone)
    minute = (local.hour * 60 + local.minute) // INTERVAL_MINUTES * INTERVAL_MINUTES
    return local.weekday(), minute


@dataclass(frozen=True, slots=True)
class Need:
    """One interval of the plan."""

    start: datetime
    forecast: float
    handle_s: float
    on_phones: int  # agents taking contacts that the service level needs
    required: int  # rostered, shrinkage included
    planned: int

    @property
    def gap(self) -> int:
        """Planned minus required: negative when understaffed."""
        return self.planned - self.required


def needs(
    starts: Sequence[datetime],
    forecast: Sequence[float],
    handle_s: Sequence[float],
    planned: Mapping[tuple[int, int], int],
    zone: tzinfo,
    *,
    answer_within_s: float,
    target: float,
    patience_s: float,
    shrinkage: float,
) -> list[Need]:
    """The need of every interval: forecast contacts and handle time in, agents out."""
    out = []
    for start, contacts, handle in zip(starts, forecast, handle_s, strict=True):
        on = agents_taking_contacts(
            contacts, handle, answer_within_s=answer_within_s, target=target, patience_s=patience_s
        )
        out.append(
            Need(
                start=start,
                forecast=contacts,
                handle_s=handle,
                on_phones=on,
                required=required(on, shrinkage),
                planned=planned.get(roster_key(start, zone), 0),
            )
        )
    return out


def staffing_steps(
    planned: Sequence[int], shrinkage: float, interval_s: float = INTERVAL_MINUTES * 60.0
) -> list[tuple[float, int]]:
    """The simulation's staffing, (seconds from the start, agents on the phones), from the
    agents planned in consecutive intervals."""
    steps: list[tuple[float, int]] = []
    for index, agents in enumerate(planned):
        on = available(agents, shrinkage)
        if not steps or steps[-1][1] != on:
            steps.append((index * interval_s, on))
    return steps
