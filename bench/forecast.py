"""Backtest WAPE of each forecasting model and of the 4-week-mean baseline.

`python bench/forecast.py [--history FILE.csv ...] [--interval 30] [--weeks 12] [--seed 7]`

Without --history it runs on synthetic contact-center histories with known daily and weekly
seasonality, Poisson noise, closed nights and Sundays, a holiday and a level shift. The last
2 weeks are held out: models are chosen by the backtest on the weeks before them (exactly as
`threadline forecast` does), then the chosen model and the baseline are scored on the held-out
weeks, which nothing was tuned on. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from threadline.analytics.forecast import (
    BASELINE,
    Observation,
    forecast,
    read_history_csv,
    wape,
)

HOLDOUT_WEEKS = 2
DATA = Path(__file__).parent / "data"


def synthetic(
    weeks: int, seed: int, *, zone: str = "Europe/Lisbon", minutes: int = 30, level: float = 40
) -> tuple[list[Observation], list[date]]:
    """A queue open 08:00-20:00 Monday to Saturday (Saturday lighter, Monday heavier), a
    lunchtime dip, Poisson arrivals, a 15% level rise halfway and one holiday."""
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    first = date(2026, 1, 5)  # a Monday; the span crosses the March DST change
    holiday = first + timedelta(days=7 * (weeks // 3) + 2)
    rows = []
    for day_index in range(7 * weeks):
        day = first + timedelta(days=day_index)
        if day.weekday() == 6 or day == holiday:
            continue
        shift = 1.15 if day_index >= 7 * weeks // 2 else 1.0
        weekday = (1.3, 1.1, 1.0, 1.0, 0.95, 0.55)[day.weekday()]
        for slot in range(8 * 60 // minutes, 20 * 60 // minutes):
            hour = slot * minutes / 60
            shape = 0.5 + math.sin((hour - 8) / 12 * math.pi) - 0.3 * math.exp(-((hour - 13) ** 2))
            lam = max(level * minutes / 30 * weekday * shape * shift, 0.1)
            start = datetime(day.year, day.month, day.day, int(hour), int(hour % 1 * 60), tzinfo=tz)
            rows.append(Observation(start, float(_poisson(rng, lam)), 200 + 30 * rng.random()))
    return rows, [holiday]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def holdout(history: list[Observation], minutes: int, holidays: list[date]) -> dict[str, object]:
    """Choose on all but the last weeks (the backtest), then score every model, the chosen
    one and the baseline on the held-out weeks, which nothing was tuned on."""
    ordered = sorted(history, key=lambda o: o.interval_start)
    cut = ordered[-1].interval_start - timedelta(weeks=HOLDOUT_WEEKS)
    cut = cut.replace(hour=0, minute=0) + timedelta(days=1)  # the local midnight after
    train = [o for o in ordered if o.interval_start < cut]
    test = {o.interval_start: o.contacts for o in ordered if o.interval_start >= cut}
    span = timedelta(weeks=HOLDOUT_WEEKS)
    chosen = forecast(train, minutes=minutes, horizon=span, start=cut, holidays=holidays)
    held_out = {
        name: _score(
            forecast(
                train, minutes=minutes, horizon=span, start=cut, holidays=holidays, models=(name,)
            ).points,
            test,
        )
        for name in chosen.backtest
    }
    return {
        "chosen": chosen.model,
        "backtest_wape": chosen.backtest,
        "holdout_wape": held_out,
        "holdout_chosen_wape": _score(chosen.points, test),
        "holdout_baseline_wape": held_out[BASELINE],
    }


def _score(points, test):  # type: ignore[no-untyped-def]
    """WAPE over the held-out intervals up to the last one listed (unlisted ones are closed)."""
    last = max(test)
    kept = [p for p in points if p.interval_start <= last]
    actual = [test.get(p.interval_start, 0.0) for p in kept]
    return wape(actual, [p.contacts for p in kept])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--history", type=Path, action="append", help="a CSV (repeatable)")
    parser.add_argument("--interval", type=int, default=30, help="minutes")
    parser.add_argument("--weeks", type=int, default=12, help="of synthetic history")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    series: dict[str, tuple[list[Observation], list[date]]] = {}
    for path in args.history or sorted(DATA.glob("*.csv")):
        with path.open(newline="") as handle:
            series[path.name] = (read_history_csv(handle), [])
    for seed in (args.seed, args.seed + 1, args.seed + 2):
        series[f"synthetic-{seed}"] = synthetic(args.weeks, seed, minutes=args.interval)
    started = time.perf_counter()
    figures = {
        name: holdout(rows, args.interval, holidays) for name, (rows, holidays) in series.items()
    }
    _print_table(figures)
    ratios = {
        name: round(f["holdout_chosen_wape"] / f["holdout_baseline_wape"], 3)  # type: ignore[operator]
        for name, f in figures.items()
    }
    summary = {
        "interval_min": args.interval,
        "holdout_weeks": HOLDOUT_WEEKS,
        "chosen_vs_baseline_wape_ratio": ratios,
        "runtime_s": round(time.perf_counter() - started, 1),
        "series": figures,
    }
    print(json.dumps(summary, default=_rounded))


def _print_table(figures: dict[str, dict[str, object]]) -> None:
    for name, figure in figures.items():
        backtest: dict[str, float] = figure["backtest_wape"]  # type: ignore[assignment]
        held: dict[str, float] = figure["holdout_wape"]  # type: ignore[assignment]
        print(f"\n{name}: chosen by backtest {figure['chosen']}")
        print(f"  {'model':<16} {'backtest WAPE':>14} {'hold-out WAPE':>14}")
        for model in sorted(backtest, key=backtest.__getitem__):
            print(f"  {model:<16} {backtest[model]:14.1%} {held[model]:14.1%}")


def _rounded(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
