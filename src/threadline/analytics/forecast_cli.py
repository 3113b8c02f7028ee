"""`threadline forecast --history FILE.csv --interval 30m --horizon 7d --json`, or
`--queue NAME [--org SLUG]` to forecast a queue from the database.

Mounted on the main CLI by ``register(app)``; the models are :mod:`threadline.analytics.forecast`.
Bad input is a one-line message and exit code 2, never a traceback; progress goes to stderr
once a run has taken over a second.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from threadline.analytics.forecast import Forecast
    from threadline.analytics.queue_history import QueueHistory

# The models (NumPy, statsmodels, pandas) are imported by the command, not here: other
# commands should not pay for them at start-up.
_err = Console(stderr=True)
_INTERVAL = re.compile(r"(?P<n>\d+)\s*(?P<unit>m|min|h)")
_HORIZON = re.compile(r"(?P<n>\d+)\s*(?P<unit>h|d|w)")
_HORIZON_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_HORIZON = timedelta(days=62)
QUIET_S = 1.0  # progress is shown only for runs longer than this


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code=2)


def parse_interval(text: str) -> int:
    """Minutes from "15m", "30m", "60m" or "1h"; ValueError otherwise."""
    match = _INTERVAL.fullmatch(text.strip().lower())
    minutes = 0 if match is None else int(match["n"]) * (60 if match["unit"] == "h" else 1)
    if minutes not in (15, 30, 60):
        raise ValueError(f"--interval {text!r}: use 15m, 30m or 60m")
    return minutes


def parse_horizon(text: str) -> timedelta:
    """A horizon from "48h", "7d" or "2w", at most 62 days; ValueError otherwise."""
    match = _HORIZON.fullmatch(text.strip().lower())
    if match is None or int(match["n"]) == 0:
        raise ValueError(f"--horizon {text!r}: use e.g. 48h, 7d or 2w")
    horizon = int(match["n"]) * _HORIZON_UNIT[match["unit"]]
    if horizon > MAX_HORIZON:
        raise ValueError("--horizon: at most 62 days")
    return horizon


def parse_holidays(text: str | None) -> list[date]:
    """Dates from "2026-12-25,2026-12-26"; ValueError otherwise."""
    days = []
    for part in (text or "").split(","):
        if part.strip():
            try:
                days.append(date.fromisoformat(part.strip()))
            except ValueError:
                raise ValueError(
                    f"--holidays: {part.strip()!r} is not a date (YYYY-MM-DD)"
                ) from None
    return days


class _Progress:
    """Prints what the run is doing on stderr, once it has taken over a second."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, step: str) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed > QUIET_S:
            _err.print(f"[dim]{elapsed:5.1f} s  {step}[/dim]", markup=True, highlight=False)


def forecast_command(
    history: Annotated[
        Path | None, typer.Option(help="CSV: interval_start (ISO 8601 with offset), contacts")
    ] = None,
    queue: Annotated[
        str | None, typer.Option(help="forecast a queue from the database instead of a file")
    ] = None,
    org: Annotated[
        str | None, typer.Option(help="the queue's organisation (slug), when there are several")
    ] = None,
    interval: Annotated[str, typer.Option(help="interval length: 15m, 30m or 60m")] = "30m",
    horizon: Annotated[str, typer.Option(help="how far ahead, e.g. 48h, 7d, 2w")] = "7d",
    tz: Annotated[
        str | None, typer.Option("--tz", help="local time zone, e.g. Europe/Lisbon")
    ] = None,
    holidays: Annotated[
        str | None, typer.Option(help="closed days, e.g. 2026-12-25,2027-01-01")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Forecast contacts per interval from a history file or a queue's contacts in the
    database (the best model by backtest)."""
    if (history is None) == (queue is None):
        raise _fail("give either --history FILE.csv or --queue NAME")
    if org is not None and queue is None:
        raise _fail("--org goes with --queue")
    try:
        minutes = parse_interval(interval)
        span = parse_horizon(horizon)
        closed_days = parse_holidays(holidays)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    from threadline.analytics.forecast import HistoryError, forecast, read_history_csv

    source = str(history) if history is not None else f"queue {queue!r}"
    start = None  # a file's forecast starts after its last interval; a queue's, now
    try:
        if history is not None:
            with history.open(encoding="utf-8-sig", newline="") as handle:
                rows = read_history_csv(handle)
        else:
            assert queue is not None
            found = _queue_history(queue, org, minutes)
            rows, tz, start = found.observations, tz or found.zone, found.now_interval
        result = forecast(
            rows,
            minutes=minutes,
            horizon=span,
            start=start,
            holidays=closed_days,
            zone=tz,
            progress=_Progress(),
        )
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None
    except HistoryError as exc:
        raise _fail(f"{source}: {exc}") from None
    if json_out:
        sys.stdout.write(json.dumps(as_json(result)) + "\n")
    else:
        _print(result)


def _queue_history(queue: str, org: str | None, minutes: int) -> QueueHistory:
    """The queue's history from the configured database (THREADLINE_DATABASE_URL)."""
    import asyncio
    from datetime import UTC, datetime

    from threadline.analytics.queue_history import queue_history
    from threadline.config import Settings
    from threadline.db import Database

    async def read() -> QueueHistory:
        db = Database(Settings().database_url)
        try:
            return await queue_history(
                db, queue, org_slug=org, minutes=minutes, now=datetime.now(UTC)
            )
        finally:
            await db.dispose()

    try:
        return asyncio.run(read())
    except OSError as exc:
        raise _fail(f"cannot read the database: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("sqlalchemy"):  # not migrated, unreachable...
            raise _fail(f"cannot read the database: {str(exc).splitlines()[0]}") from None
        raise


def register(app: typer.Typer) -> None:
    """Add the ``forecast`` command to ``app``."""
    app.command("forecast")(forecast_command)


def as_json(result: Forecast) -> dict[str, object]:
    """The forecast as the issue states it, plus the backtest of every model and notes."""
    points: list[dict[str, object]] = []
    for point in result.points:
        entry: dict[str, object] = {
            "interval_start": point.interval_start.isoformat(),
            "contacts": round(point.contacts, 2),
        }
        if result.has_handle_time:
            entry["handle_time_s"] = (
                None if point.handle_time_s is None else round(point.handle_time_s, 1)
            )
        points.append(entry)
    return {
        "forecast": points,
        "model": result.model,
        "wape": None if result.wape is None else round(result.wape, 4),
        "backtest_wape": {name: round(score, 4) for name, score in result.backtest.items()},
        "timezone": result.timezone,
        "notes": list(result.notes),
    }


def _print(result: Forecast) -> None:
    days: dict[str, float] = {}
    for point in result.points:
        key = point.interval_start.strftime("%a %Y-%m-%d")
        days[key] = days.get(key, 0.0) + point.contacts
    table = Table(title=f"Contacts forecast ({result.model})")
    table.add_column("day")
    table.add_column("contacts", justify="right")
    for day, total in days.items():
        table.add_row(day, f"{total:.0f}")
    console = Console()
    console.print(table)
    for name, score in result.backtest.items():
        mark = " (chosen)" if name == result.model else ""
        console.print(f"backtest error (WAPE) {name}: {score:.1%}{mark}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
