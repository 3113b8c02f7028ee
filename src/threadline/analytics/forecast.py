"""Contacts (and handle time) per interval, forecast from a queue's history.

Pure: the history, the start of the forecast ("now") and the holidays are passed in; no
database, no clock. Several models are run and the one with the lowest backtest WAPE wins:

| model | forecast for an interval |
|---|---|
| ``mean_4w`` (baseline) | mean of the same weekday and time over the last 4 weeks |
| ``seasonal_naive`` | the same weekday and time last week |
| ``profile_median`` | median of the same weekday and time over 6 weeks, times the recent level |
| ``profile_trimmed`` | mean of 8 weeks without their highest and lowest, times the recent level |
| ``holt_winters`` | additive Holt-Winters (statsmodels), weekly season (it holds the daily one) |
| ``day_shape`` | last week's level x each weekday's share x each time of day's share (8 weeks) |
| ``combined`` | the mean of ``mean_4w``, the two profiles and ``day_shape`` |
| ``daily_profile`` | under a week of history only: mean of the same time of day |

Time is local wall-clock time (09:00 is 09:00 all year), in the zone given, or else the one
that the offsets of the history imply. An interval missing from the history is closed: a
weekly slot closed in each of its last 4 known weeks is forecast 0; a closure elsewhere (an
outage, a strike) is a gap, not a zero that drags the averages. Holidays are closed days: left
out of the history, forecast 0 in the horizon. Backtest: rolling origins at local midnight,
one week apart, each forecasting the following week; WAPE = sum|actual - forecast| / sum actual.
"""

from __future__ import annotations

import csv
import itertools
import math
import warnings
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Progress = Callable[[str], None]

INTERVAL_MINUTES = (15, 30, 60)
BASELINE = "mean_4w"
FOLDS = 4  # backtest origins, one week apart
CLOSED_WEEKS = 4  # a weekly slot closed in each of its last 4 known weeks is closed
LEVEL_BOUNDS = (0.5, 2.0)  # the level adjustment never more than halves or doubles a profile
MIN_DAYS = 1


class HistoryError(ValueError):
    """The history cannot be used: the message says which line and why."""


@dataclass(frozen=True)
class Observation:
    """One interval of history: contacts that arrived in it, and their mean handle time."""

    interval_start: datetime  # timezone-aware, with the local offset of the queue
    contacts: float
    handle_time_s: float | None = None


@dataclass(frozen=True)
class ForecastPoint:
    interval_start: datetime
    contacts: float
    handle_time_s: float | None = None


@dataclass(frozen=True)
class Forecast:
    """The forecast of every interval of the horizon, the model chosen and the backtest."""

    points: tuple[ForecastPoint, ...]
    model: str
    wape: float | None  # the chosen model's backtest WAPE; None when there was no backtest
    backtest: Mapping[str, float]  # every model scored, the baseline included
    timezone: str
    has_handle_time: bool
    notes: tuple[str, ...] = field(default=())


def wape(actual: Iterable[float], predicted: Iterable[float]) -> float:
    """Weighted absolute percentage error: sum of absolute errors over the sum of actuals."""
    pairs = list(zip(actual, predicted, strict=True))
    total = sum(a for a, _ in pairs)
    if total <= 0:
        raise ValueError("WAPE is undefined when no contact arrived")
    return sum(abs(a - p) for a, p in pairs) / total


# --- reading -----------------------------------------------------------------------------


def read_history_csv(lines: Iterable[str]) -> list[Observation]:
    """Rows of ``interval_start,contacts[,handle_time_s]``; HistoryError names the bad line."""
    reader = csv.DictReader(lines)
    header = [name.strip() for name in reader.fieldnames or []]
    if "interval_start" not in header or "contacts" not in header:
        raise HistoryError(
            f"the header must name the columns interval_start and contacts (found: "
            f"{', '.join(header) or 'nothing'})"
        )
    reader.fieldnames = header
    rows = [_observation(row, reader.line_num) for row in reader if any(row.values())]
    if not rows:
        raise HistoryError("the history has no rows")
    return rows


def _observation(row: Mapping[str, str | None], line: int) -> Observation:
    text = (row.get("interval_start") or "").strip()
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise HistoryError(f"line {line}: {text!r} is not an ISO 8601 date and time") from None
    if start.utcoffset() is None:
        raise HistoryError(f"line {line}: {text!r} has no offset (e.g. +01:00 or Z)")
    contacts = _number(row.get("contacts"), "contacts", line)
    handle = row.get("handle_time_s")
    handle_s = _number(handle, "handle_time_s", line) if handle and handle.strip() else None
    return Observation(start, contacts, handle_s)


def _number(text: str | None, column: str, line: int) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise HistoryError(f"line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise HistoryError(f"line {line}: {column} must be a number of zero or more")
    return value


# --- time zone ---------------------------------------------------------------------------


def resolve_zone(history: Sequence[Observation], zone: str | None) -> tuple[tzinfo, str, str]:
    """The zone to read local time in: the one given, else the history's own zone, else one
    that every offset of the history fits (ambiguous zones share their rules so far)."""
    if zone:
        try:
            return zoneinfo.ZoneInfo(zone), zone, ""
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise HistoryError(f"unknown time zone {zone!r} (e.g. Europe/Lisbon)") from None
    last = history[-1].interval_start
    if isinstance(last.tzinfo, zoneinfo.ZoneInfo):  # given as a zone, not just an offset
        return last.tzinfo, last.tzinfo.key, ""
    changes = _offset_changes(history)
    if not changes:
        fixed = last.tzinfo or UTC
        name = last.strftime("%z") or "+0000"
        note = f"the history has one UTC offset ({name}): the horizon keeps it (see --tz)"
        return fixed, name, note
    every = max(1, len(history) // 200)  # both sides of each change, and a sample of the rest
    checks = [*changes, *history[::every], history[-1]]
    for name in sorted(zoneinfo.available_timezones()):
        candidate = zoneinfo.ZoneInfo(name)
        if all(_fits(candidate, o.interval_start) for o in checks):
            return candidate, name, f"time zone {name} read from the offsets (see --tz)"
    return last.tzinfo or UTC, last.strftime("%z"), "no time zone fits the offsets: kept the last"


def _offset_changes(history: Sequence[Observation]) -> list[Observation]:
    """The rows on either side of each change of UTC offset."""
    return [
        row
        for a, b in itertools.pairwise(history)
        if a.interval_start.utcoffset() != b.interval_start.utcoffset()
        for row in (a, b)
    ]


def _fits(zone: tzinfo, moment: datetime) -> bool:
    return moment.astimezone(zone).utcoffset() == moment.utcoffset()


# --- the grid: local days x intervals of the day ------------------------------------------


@dataclass
class _Grid:
    """History laid on local wall-clock time: position = day * slots + interval of the day."""

    zone: tzinfo
    day0: date
    minutes: int
    values: Array  # contacts; NaN where unknown or closed
    closed: NDArray[np.bool_]  # not listed, within the history's span
    handle: Array  # mean handle time; NaN where unknown
    last_bucket: datetime  # the start of the last interval listed, in UTC

    @property
    def slots(self) -> int:
        return 24 * 60 // self.minutes

    @property
    def period(self) -> int:
        return 7 * self.slots

    def position(self, moment: datetime) -> int:
        local = moment.astimezone(self.zone)
        slot = (local.hour * 60 + local.minute) // self.minutes
        return (local.date() - self.day0).days * self.slots + slot

    def local_date(self, position: int) -> date:
        return self.day0 + timedelta(days=position // self.slots)


def _build_grid(
    history: Sequence[Observation], zone: tzinfo, minutes: int, holidays: Collection[date]
) -> _Grid:
    """Rows summed into intervals of local time (a 15-minute history makes 30-minute
    intervals); the hour that repeats when clocks go back is averaged into one slot."""
    buckets = _buckets(history, zone, minutes)
    first, last = min(buckets), max(buckets)
    day0 = first.astimezone(zone).date()
    days = (last.astimezone(zone).date() - day0).days + 1
    grid = _Grid(zone, day0, minutes, *_empty(days * (24 * 60 // minutes)), last_bucket=last)
    sums, counts, handle_sums = (np.zeros(grid.values.size) for _ in range(3))
    for moment, (contacts, handle_sum) in buckets.items():
        pos = grid.position(moment)
        sums[pos] += contacts
        counts[pos] += 1
        handle_sums[pos] += handle_sum
    moment = first
    while moment <= last:  # every interval of the span that is not listed is closed
        if moment not in buckets:
            grid.closed[grid.position(moment)] = True
        moment += timedelta(minutes=minutes)
    seen = counts > 0
    grid.values[seen] = sums[seen] / counts[seen]
    grid.closed[seen] = False
    has_handle = seen & (handle_sums > 0)
    grid.handle[has_handle] = handle_sums[has_handle] / np.maximum(sums[has_handle], 1e-9)
    _drop_holidays(grid, holidays)
    return grid


def _buckets(
    history: Sequence[Observation], zone: tzinfo, minutes: int
) -> dict[datetime, tuple[float, float]]:
    """(contacts, handle time x contacts) per interval, keyed by its start in UTC."""
    listed: set[datetime] = set()
    buckets: dict[datetime, tuple[float, float]] = {}
    for obs in history:
        moment = obs.interval_start.astimezone(UTC)
        if moment in listed:
            raise HistoryError(f"{obs.interval_start.isoformat()} is listed twice")
        listed.add(moment)
        local = moment.astimezone(zone)
        extra = (local.hour * 60 + local.minute) % minutes
        key = (local - timedelta(minutes=extra, seconds=local.second)).astimezone(UTC)
        key = key.replace(microsecond=0)
        contacts, handle = buckets.get(key, (0.0, 0.0))
        weighted = 0.0 if obs.handle_time_s is None else obs.handle_time_s * obs.contacts
        buckets[key] = (contacts + obs.contacts, handle + weighted)
    return buckets


def _empty(size: int) -> tuple[Array, NDArray[np.bool_], Array]:
    return np.full(size, np.nan), np.zeros(size, dtype=bool), np.full(size, np.nan)


def _drop_holidays(grid: _Grid, holidays: Collection[date]) -> None:
    for day in holidays:
        index = (day - grid.day0).days
        if 0 <= index * grid.slots < grid.values.size:
            span = slice(index * grid.slots, (index + 1) * grid.slots)
            grid.values[span] = np.nan
            grid.closed[span] = False
            grid.handle[span] = np.nan


def _padded(grid: _Grid, n: int) -> tuple[Array, NDArray[np.bool_]]:
    """Values and closures of the first n positions (unknown past the history's end)."""
    closed = np.zeros(n, dtype=bool)
    size = min(n, grid.closed.size)
    closed[:size] = grid.closed[:size]
    return _pad(grid.values, n), closed


def _pad(array: Array, n: int) -> Array:
    out = np.full(n, np.nan)
    size = min(n, array.size)
    out[:size] = array[:size]
    return out


# --- preparing a training window ------------------------------------------------------------


@dataclass(frozen=True)
class _Training:
    """The series before an origin n: closed slots as 0, gaps as NaN."""

    series: Array
    slot_closed: NDArray[np.bool_]  # per weekly slot (position % period)
    slots: int

    @property
    def n(self) -> int:
        return int(self.series.size)

    @property
    def period(self) -> int:
        return 7 * self.slots


def _training(values: Array, closed: NDArray[np.bool_], n: int, slots: int) -> _Training:
    period = 7 * slots
    slot_closed = _consistently_closed(values[:n], closed[:n], period)
    series = values[:n].copy()
    phases = np.arange(n) % period
    series[closed[:n] & slot_closed[phases]] = 0.0
    return _Training(series, slot_closed, slots)


def _consistently_closed(
    values: Array, closed: NDArray[np.bool_], period: int
) -> NDArray[np.bool_]:
    weeks = -(-values.size // period)
    known = np.zeros(weeks * period, dtype=bool)
    shut = np.zeros(weeks * period, dtype=bool)
    known[: values.size] = ~np.isnan(values) | closed
    shut[: values.size] = closed
    known_w, shut_w = known.reshape(weeks, period), shut.reshape(weeks, period)
    seen = np.zeros(period, dtype=int)
    all_shut = np.ones(period, dtype=bool)
    for week in range(weeks - 1, -1, -1):  # newest first, up to CLOSED_WEEKS known weeks
        take = known_w[week] & (seen < CLOSED_WEEKS)
        all_shut &= ~take | shut_w[week]
        seen += take
    return all_shut & (seen > 0)


def _occurrences(train: _Training, horizon: int, weeks: int) -> Array:
    """For each future position, the same weekly slot in the last ``weeks`` weeks: (h, weeks)."""
    n, period = train.n, train.period
    future = np.arange(n, n + horizon)
    first = future - ((future - n) // period + 1) * period  # the newest one before n
    index = first[:, None] - period * np.arange(weeks)[None, :]
    out = np.full(index.shape, np.nan)
    ok = index >= 0
    out[ok] = train.series[index[ok]]
    return out


# --- models ---------------------------------------------------------------------------------


def _mean_4w(train: _Training, horizon: int) -> Array:
    return _nan_reduce(_occurrences(train, horizon, 4), np.nanmean)


def _seasonal_naive(train: _Training, horizon: int) -> Array:
    weeks = _occurrences(train, horizon, 8)
    has = ~np.isnan(weeks)
    newest = np.argmax(has, axis=1)
    out: Array = weeks[np.arange(horizon), newest]
    out[~has.any(axis=1)] = np.nan
    return out


def _median6(weeks: Array) -> Array:
    return _nan_reduce(weeks, np.nanmedian)


def _trimmed(weeks: Array) -> Array:
    """Mean without the highest and the lowest week (when at least four weeks are known)."""
    count = np.sum(~np.isnan(weeks), axis=1)
    total = np.nansum(weeks, axis=1)
    high = np.where(count > 0, np.nanmax(np.where(np.isnan(weeks), -np.inf, weeks), axis=1), 0)
    low = np.where(count > 0, np.nanmin(np.where(np.isnan(weeks), np.inf, weeks), axis=1), 0)
    trim = count >= 4
    kept = np.where(trim, total - high - low, total)
    divisor = np.where(trim, count - 2, count).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(divisor > 0, kept / divisor, np.nan)


def _profile(reduce: Callable[[Array], Array], weeks: int) -> Callable[[_Training, int], Array]:
    """A same-weekday profile scaled by the last week's level against the same profile."""

    def model(train: _Training, horizon: int) -> Array:
        base = reduce(_occurrences(train, horizon, weeks))
        return base * _level(train, reduce, weeks)

    return model


def _level(train: _Training, reduce: Callable[[Array], Array], weeks: int) -> float:
    period = train.period
    if train.n < 2 * period:
        return 1.0
    before = _Training(train.series[: train.n - period], train.slot_closed, train.slots)
    fitted = reduce(_occurrences(before, period, weeks))
    actual = train.series[train.n - period :]
    both = ~np.isnan(fitted) & ~np.isnan(actual)
    expected = float(np.sum(fitted[both]))
    if expected <= 0:
        return 1.0
    low, high = LEVEL_BOUNDS
    return min(max(float(np.sum(actual[both])) / expected, low), high)


def _day_shape(train: _Training, horizon: int) -> Array:
    """Day totals times intraday shares: each weekday's share of the week and each time of
    day's share of its day are medians over 8 weeks (steady), the level is the last week's
    (recent), so a level shift moves every interval at once."""
    slots = train.slots
    days = train.n // slots
    weeks = min(8, days // 7)
    first = days - 7 * weeks
    matrix = train.series[first * slots : days * slots].reshape(7 * weeks, slots)
    weekday = np.arange(first, days) % 7  # position 0 is day 0 of the weekly slots
    opened = ~train.slot_closed.reshape(7, slots)[weekday]
    usable = ~np.any(np.isnan(matrix) & opened, axis=1)
    totals = np.where(usable, np.nansum(matrix, axis=1), np.nan)
    by_week = totals.reshape(weeks, 7)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN weekdays stay NaN
        factor = np.nanmedian(by_week / np.nanmean(by_week, axis=1, keepdims=True), axis=0)
        level = float(np.nanmean(by_week[-1] / factor))
        shares = np.nanmedian((matrix / totals[:, None]).reshape(weeks, 7, slots), axis=0)
    future = np.arange(train.n, train.n + horizon)
    column = (future // slots - first) % 7  # the blocks of 7 days start on day `first`
    return np.asarray(level * factor[column] * shares[column, future % slots])


def _holt_winters(train: _Training, horizon: int) -> Array:
    """Additive Holt-Winters over the last 8 weeks; the weekly season holds the daily one."""
    from statsmodels.tsa.holtwinters import (  # type: ignore[import-untyped]  # no stubs
        ExponentialSmoothing,
    )

    period = train.period
    weeks = min(8, train.n // period)
    window = train.series[train.n - weeks * period :].reshape(weeks, period)
    typical = _nan_reduce(window.T, np.nanmean)
    filled = np.where(np.isnan(window), typical[None, :], window).ravel()
    filled = np.nan_to_num(filled, nan=0.0)
    with warnings.catch_warnings():  # convergence chatter: the backtest judges the fit
        warnings.simplefilter("ignore")
        fit = ExponentialSmoothing(
            filled,
            trend=None,
            seasonal="add",
            seasonal_periods=period,
            initialization_method="heuristic",
        ).fit()
        return np.asarray(fit.forecast(horizon), dtype=float)


def _daily_profile(train: _Training, horizon: int) -> Array:
    """Under a week of history: the mean of each time of day over the days there are."""
    days = -(-train.n // train.slots)
    padded = np.full(days * train.slots, np.nan)
    padded[: train.n] = train.series
    per_slot = _nan_reduce(padded.reshape(days, train.slots).T, np.nanmean)
    return per_slot[(np.arange(train.n, train.n + horizon)) % train.slots]


def _nan_reduce(matrix: Array, reduce: Callable[..., Array]) -> Array:
    out = np.full(matrix.shape[0], np.nan)
    rows = ~np.all(np.isnan(matrix), axis=1)
    if rows.any():
        out[rows] = reduce(matrix[rows], axis=1)
    return out


def _combined(train: _Training, horizon: int) -> Array:
    """The mean of the robust models' forecasts: averaging cancels part of their errors."""
    parts = [model(train, horizon) for model in _COMBINED]
    stacked = np.vstack(parts)
    return _nan_reduce(stacked.T, np.nanmean)


@dataclass(frozen=True)
class _Model:
    name: str
    run: Callable[[_Training, int], Array]
    min_weeks: int  # of training before the origin


MODELS = (
    _Model(BASELINE, _mean_4w, 1),
    _Model("seasonal_naive", _seasonal_naive, 1),
    _Model("profile_median", _profile(_median6, 6), 2),
    _Model("profile_trimmed", _profile(_trimmed, 8), 2),
    _Model("holt_winters", _holt_winters, 3),
    _Model("day_shape", _day_shape, 2),
    _Model("combined", _combined, 2),
)
DAILY = _Model("daily_profile", _daily_profile, 0)
_COMBINED = (_mean_4w, _profile(_median6, 6), _profile(_trimmed, 8), _day_shape)


def _predict(model: _Model, train: _Training, horizon: int) -> Array:
    """The model's forecast, gaps filled from the time of day, closed slots 0, never < 0."""
    out = np.asarray(model.run(train, horizon), dtype=float)
    gaps = np.isnan(out)
    if gaps.any():
        fallback = _daily_profile(train, horizon)
        out[gaps] = fallback[gaps]
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    phases = np.arange(train.n, train.n + horizon) % train.period
    out[train.slot_closed[phases]] = 0.0
    return np.asarray(np.maximum(out, 0.0), dtype=np.float64)


# --- backtest and forecast ------------------------------------------------------------------


@dataclass(frozen=True)
class _Backtest:
    scores: dict[str, float]
    chosen: _Model
    notes: tuple[str, ...]


def _backtest(
    values: Array,
    closed: NDArray[np.bool_],
    n: int,
    slots: int,
    progress: Progress,
    candidates: Sequence[_Model] = MODELS,
) -> _Backtest:
    period = 7 * slots
    end = (n // slots) * slots  # the last local midnight before the origin
    origins = [end - fold * period for fold in range(1, FOLDS + 1) if end - fold * period > 0]
    runnable = [m for m in candidates if origins and origins[0] >= m.min_weeks * period]
    if not runnable:
        days = n / slots
        note = (
            f"history of {days:.1f} days is too short to backtest weekly models (14 days "
            f"needed); used {BASELINE if n >= period else DAILY.name} without a measured error"
        )
        return _Backtest({}, MODELS[0] if n >= period else DAILY, (note,))
    need = max(m.min_weeks for m in runnable) * period
    origins = [o for o in origins if o >= need]
    errors = {m.name: [0.0, 0.0] for m in runnable}
    for number, origin in enumerate(origins, 1):
        train = _training(values, closed, origin, slots)
        actual = _actual(values, closed, train, origin)
        known = ~np.isnan(actual)
        for model in runnable:
            progress(f"backtest {number}/{len(origins)}: {model.name}")
            predicted = _predict(model, train, period)
            errors[model.name][0] += float(np.sum(np.abs(actual[known] - predicted[known])))
            errors[model.name][1] += float(np.sum(actual[known]))
    scores = {name: err / total for name, (err, total) in errors.items() if total > 0}
    notes = _skipped_notes(candidates, runnable, len(origins))
    if not scores:
        return _Backtest({}, MODELS[0], (*notes, "no contacts in the backtest weeks"))
    chosen = min(runnable, key=lambda m: (scores.get(m.name, math.inf), m.name != BASELINE))
    return _Backtest(scores, chosen, notes)


def _actual(values: Array, closed: NDArray[np.bool_], train: _Training, origin: int) -> Array:
    """The week after an origin: a closure of a slot closed every week is 0 contacts; any
    other closure (an outage, a missing export) is unknown and left out of the score."""
    window = slice(origin, origin + train.period)
    regular = train.slot_closed[np.arange(origin, origin + train.period) % train.period]
    return np.where(closed[window] & regular, 0.0, values[window])


def _skipped_notes(
    candidates: Sequence[_Model], runnable: Sequence[_Model], folds: int
) -> tuple[str, ...]:
    skipped = [m for m in candidates if m not in runnable]
    notes = [f"backtest over {folds} week(s)"]
    for model in skipped:
        notes.append(f"{model.name} needs {model.min_weeks + 1} weeks of history: skipped")
    return tuple(notes)


def forecast(
    history: Sequence[Observation],
    *,
    minutes: int,
    horizon: timedelta,
    start: datetime | None = None,
    holidays: Collection[date] = (),
    zone: str | None = None,
    progress: Progress | None = None,
    models: Collection[str] | None = None,
) -> Forecast:
    """Forecast every interval from ``start`` (default: after the last one listed) to the
    end of ``horizon``, with the model (of ``models``, default all) that had the lowest
    backtest WAPE."""
    if minutes not in INTERVAL_MINUTES:
        raise HistoryError(f"the interval must be one of {INTERVAL_MINUTES} minutes")
    candidates = [m for m in MODELS if models is None or m.name in models]
    if not candidates:
        raise HistoryError(f"no such model: {', '.join(sorted(models or ()))}")
    if not history:
        raise HistoryError("the history has no rows")
    if horizon <= timedelta(0):
        raise HistoryError("the horizon must be longer than zero")
    ordered = sorted(history, key=lambda o: o.interval_start)
    tz, zone_name, zone_note = resolve_zone(ordered, zone)
    grid = _build_grid(ordered, tz, minutes, holidays)
    step = timedelta(minutes=minutes)
    begin = start if start is not None else (grid.last_bucket + step).astimezone(tz)
    if begin.utcoffset() is None:
        raise HistoryError("the start of the forecast needs a time zone")
    n = grid.position(begin)
    if n < grid.slots * MIN_DAYS:
        raise HistoryError("at least one day of history is needed before the forecast starts")
    values, closed = _padded(grid, n)
    chosen = _backtest(values, closed, n, grid.slots, progress or (lambda _: None), candidates)
    moments = _horizon(begin, horizon, step)
    positions = np.array([max(grid.position(m), n) for m in moments])
    train = _training(values, closed, n, grid.slots)
    predicted = _predict(chosen.chosen, train, int(positions.max()) - n + 1)
    contacts = predicted[positions - n]
    handle = _handle_forecast(grid, n, positions)
    holiday_days = set(holidays)
    open_ = ~train.slot_closed[positions % grid.period]
    open_ &= np.array([m.astimezone(tz).date() not in holiday_days for m in moments])
    points = tuple(
        ForecastPoint(
            moment.astimezone(tz),
            float(contacts[i]) if open_[i] else 0.0,
            None if handle is None or not open_[i] or math.isnan(handle[i]) else float(handle[i]),
        )
        for i, moment in enumerate(moments)
    )
    notes = tuple(note for note in (zone_note, *chosen.notes) if note)
    return Forecast(
        points=points,
        model=chosen.chosen.name,
        wape=chosen.scores.get(chosen.chosen.name),
        backtest=dict(sorted(chosen.scores.items())),
        timezone=zone_name,
        has_handle_time=handle is not None,
        notes=notes,
    )


def _horizon(begin: datetime, horizon: timedelta, step: timedelta) -> list[datetime]:
    count = max(1, math.ceil(horizon / step))
    first = begin.astimezone(UTC)
    return [first + i * step for i in range(count)]


def _handle_forecast(grid: _Grid, n: int, positions: NDArray[np.int_]) -> Array | None:
    """Contact-weighted mean handle time of the same weekly slot over the last 4 weeks,
    else of the same time of day over the last week, else of the last 4 weeks."""
    handle = _pad(grid.handle, n)
    if np.all(np.isnan(handle)):
        return None
    weights = _pad(grid.values, n)
    out = np.full(positions.size, np.nan)
    for i, pos in enumerate(positions):
        out[i] = _weighted_handle(handle, weights, n, int(pos), grid.slots)
    return out


def _weighted_handle(handle: Array, weights: Array, n: int, pos: int, slots: int) -> float:
    period = 7 * slots
    newest = pos - ((pos - n) // period + 1) * period
    for candidates in (
        [newest - k * period for k in range(4)],
        [newest + period - k * slots for k in range(1, 8)],
        list(range(max(0, n - 4 * period), n)),
    ):
        index = np.array([c for c in candidates if 0 <= c < n], dtype=int)
        ok = index[~np.isnan(handle[index]) & ~np.isnan(weights[index])] if index.size else index
        total = float(np.sum(weights[ok])) if ok.size else 0.0
        if total > 0:
            return float(np.sum(handle[ok] * weights[ok]) / total)
    return math.nan
