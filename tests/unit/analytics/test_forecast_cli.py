"""`threadline forecast`, run through Typer's CliRunner on the real CLI app."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from threadline.analytics import forecast_cli
from threadline.analytics.forecast_cli import parse_horizon, parse_interval
from threadline.cli import app

LISBON = ZoneInfo("Europe/Lisbon")


def write_history(path: Path, days: int = 21, *, first: date = date(2026, 1, 5)) -> Path:
    lines = ["interval_start,contacts"]
    for index in range(days):
        day = first + timedelta(days=index)
        if day.weekday() == 6:
            continue
        for slot in range(18, 24):  # 09:00-12:00 local
            start = datetime(day.year, day.month, day.day, tzinfo=LISBON) + timedelta(
                minutes=30 * slot
            )
            lines.append(f"{start.isoformat()},{10 + slot % 3}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["forecast", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_issue_example_prints_the_forecast_as_json(tmp_path: Path) -> None:
    history = write_history(tmp_path / "history.csv")

    code, out, err = run(
        "--history", str(history), "--interval", "30m", "--horizon", "7d", "--json"
    )

    assert code == 0, err
    figures = json.loads(out.strip().splitlines()[-1])
    assert {"forecast", "model", "wape", "backtest_wape"} <= set(figures)
    assert len(figures["forecast"]) == 7 * 48
    first = figures["forecast"][0]
    assert set(first) == {"interval_start", "contacts"}
    assert datetime.fromisoformat(first["interval_start"]) == datetime(
        2026, 1, 24, 12, 0, tzinfo=UTC
    )  # right after the last interval listed (Saturday 11:30)
    assert all(point["contacts"] >= 0 for point in figures["forecast"])
    assert figures["model"] in figures["backtest_wape"]
    assert figures["wape"] == figures["backtest_wape"][figures["model"]]


def test_progress_goes_to_stderr_once_a_run_is_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forecast_cli, "QUIET_S", 0.0)  # as if every step came after a second
    history = write_history(tmp_path / "h.csv", days=28)

    code, out, err = run("--history", str(history), "--json")

    assert code == 0, err
    assert "backtest 1/" in err
    assert json.loads(out)["model"]  # stdout holds only the JSON


def test_without_json_a_table_by_day(tmp_path: Path) -> None:
    code, out, err = run("--history", str(write_history(tmp_path / "h.csv")), "--horizon", "2d")
    assert code == 0, err
    assert "Mon 2026-01-26" in out and "WAPE" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("when,calls\n2026-01-05T09:00:00+00:00,3\n", "interval_start and contacts"),
        ("interval_start,contacts\n2026-01-05T09:00:00,3\n", "no offset"),
        ("interval_start,contacts\n2026-01-05T09:00:00+00:00,-4\n", "zero or more"),
        ("interval_start,contacts\n", "no rows"),
        ("", "interval_start and contacts"),
    ],
)
def test_a_bad_file_exits_2_with_a_message(tmp_path: Path, content: str, message: str) -> None:
    history = tmp_path / "bad.csv"
    history.write_text(content)

    code, out, err = run("--history", str(history), "--json")

    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert out == ""


def test_a_missing_file_or_bad_options_exit_2(tmp_path: Path) -> None:
    code, _, err = run("--history", str(tmp_path / "nope.csv"))
    assert code == 2 and "cannot read" in err
    history = str(write_history(tmp_path / "h.csv"))
    for option, value, message in [
        ("--interval", "20m", "15m, 30m or 60m"),
        ("--horizon", "soon", "48h, 7d or 2w"),
        ("--tz", "Mars/Olympus", "unknown time zone"),
        ("--holidays", "Christmas", "not a date"),
    ]:
        code, _, err = run("--history", history, option, value)
        assert code == 2 and message in err, (option, err)


def test_durations() -> None:
    assert parse_interval("30m") == 30
    assert parse_interval("1h") == 60
    assert parse_horizon("48h") == timedelta(hours=48)
    assert parse_horizon("2w") == timedelta(days=14)
    with pytest.raises(ValueError, match="62 days"):
        parse_horizon("90d")
