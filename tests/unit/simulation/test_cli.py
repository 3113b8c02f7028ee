"""`threadline simulate`, run through Typer's CliRunner on an app built with ``register``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from threadline.simulation.cli import _plan, register

SHORT = ["--hours", "2", "--arrivals-per-hour", "120", "--agents", "8", "--volume", "1.3"]
RUN_KEYS = {
    "arrivals",
    "answered",
    "abandoned",
    "failed_callbacks",
    "still_waiting",
    "service_level",
    "asa_s",
    "p_abandon",
    "p_wait",
    "occupancy",
    "callbacks",
    "ewt",
    "intervals",
}
CALLBACK_KEYS = {
    "offered",
    "accepted",
    "declined",
    "answered",
    "answered_by_attempt",
    "failed",
    "pending",
    "calls",
    "mean_delay_s",
}
INTERVAL_KEYS = {
    "start",
    "agents",
    "arrivals",
    "service_level",
    "asa_s",
    "p_abandon",
    "mean_waiting",
    "max_waiting",
    "occupancy",
    "callbacks_offered",
    "callbacks_accepted",
    "callbacks_failed",
    "ewt_predicted_s",
    "ewt_actual_s",
}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so that `simulate` is a sub-command as in cli.py
        """Placeholder."""

    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.stdout, result.output


def test_json_compares_callbacks_off_and_on_with_the_documented_keys(app: typer.Typer) -> None:
    code, stdout, output = run(app, *SHORT, "--json")
    assert code == 0, output
    report = json.loads(stdout)  # stdout is pure JSON: the progress bar goes to stderr
    assert set(report) == {"scenario", "runs"}
    assert report["scenario"]["volume"] == 1.3
    assert report["scenario"]["staffing"] == [["09:00", 8]]
    assert list(report["runs"]) == ["off", "on"]
    off, on = report["runs"]["off"], report["runs"]["on"]
    for figures in (off, on):
        assert set(figures) == RUN_KEYS
        assert set(figures["callbacks"]) == CALLBACK_KEYS
        assert set(figures["ewt"]) == {"scored", "range_coverage", "rase", "bias_s"}
        assert set(figures["ewt"]["rase"]) == {"blend", "ql", "les", "hol"}
        assert len(figures["intervals"]) == 4
        assert all(set(i) == INTERVAL_KEYS for i in figures["intervals"])
        assert figures["arrivals"] == (
            figures["answered"]
            + figures["abandoned"]
            + figures["failed_callbacks"]
            + figures["still_waiting"]
        )
    assert off["arrivals"] == on["arrivals"]  # the same arrivals, callbacks switched
    assert off["callbacks"]["offered"] == 0 < on["callbacks"]["accepted"]
    assert [i["start"] for i in on["intervals"]] == ["09:00", "09:30", "10:00", "10:30"]


def test_one_mode_and_a_plan(app: typer.Typer) -> None:
    code, stdout, output = run(
        app, *SHORT, "--plan", "9:00-10:00=4,10:00-11:00=12", "--callbacks", "on", "--json"
    )
    assert code == 0, output
    report = json.loads(stdout)
    assert list(report["runs"]) == ["on"]
    assert report["scenario"]["staffing"] == [["09:00", 4], ["10:00", 12]]
    agents = [i["agents"] for i in report["runs"]["on"]["intervals"]]
    assert agents == [4, 4, 12, 12]


def test_the_table_names_every_figure(app: typer.Typer) -> None:
    code, _, output = run(app, *SHORT, "--handle", "lognormal", "--rate-profile", "day")
    assert code == 0, output
    for label in (
        "callbacks off",
        "callbacks on",
        "service level",
        "average speed of answer",
        "abandoned",
        "callbacks answered",
        "callbacks failed",
        "wait shown to callers",
        "Per interval",
    ):
        assert label in output
    for jargon in ("RASE", "EWT", "ql /", "les", "hol"):  # the estimators' names: --json only
        assert jargon not in output


def test_every_duration_the_help_allows_runs_with_the_defaults(app: typer.Typer) -> None:
    """--hours accepts 0.25: the default interval shrinks to the run instead of refusing."""
    code, stdout, output = run(app, "--hours", "0.25", "--json")
    assert code == 0, output
    report = json.loads(stdout)
    assert report["scenario"]["interval_s"] == 900.0
    assert len(report["runs"]["on"]["intervals"]) == 1


def test_the_defaults_show_what_callbacks_change(app: typer.Typer) -> None:
    """Out of the box, the busy hour makes callers wait past the offer: callbacks are
    offered, taken, and fewer callers hang up than without them."""
    code, stdout, output = run(app, "--hours", "4", "--json")
    assert code == 0, output
    runs = json.loads(stdout)["runs"]
    on, off = runs["on"], runs["off"]
    assert on["callbacks"]["accepted"] >= 20
    assert on["p_abandon"] < off["p_abandon"]


def test_chart_and_html_are_written(app: typer.Typer, tmp_path: Path) -> None:
    png, page = tmp_path / "sim.png", tmp_path / "sim.html"
    code, stdout, output = run(app, *SHORT, "--json", "--chart", str(png), "--html", str(page))
    assert code == 0, output
    json.loads(stdout)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 30_000
    text = page.read_text(encoding="utf-8")
    assert "Chart.js v4" in text  # inlined: the page opens offline
    assert "<script src" not in text and "http://" not in text.replace("http://www.w3", "")
    payload = text.split('<script id="report" type="application/json">')[1].split("</script>")[0]
    assert json.loads(payload)["runs"]["on"]["arrivals"] > 0
    for canvas in ("sl", "queue", "abandon", "ewt"):
        assert f'<canvas id="{canvas}">' in text


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--plan", "9-12=3"], "HH:MM-HH:MM=AGENTS"),
        (["--plan", "9:00-12:00=3,11:00-13:00=2"], "overlap"),
        (["--plan", "12:00-9:00=3"], "ends before it starts"),
        (["--start", "25:00"], "not a time of day"),
        (["--aht", "soon"], "not a duration"),
        (["--interval", "3h"], "longer than the run"),
        (["--max-attempts", "0"], "max_attempts must be between 1 and 10"),
        (["--retry-after", "5s"], "retry_after_s must be between 30"),
        (["--handle", "gamma"], "gamma"),
        (["--callbacks", "maybe"], "maybe"),
        (["--accept-share", "1.5"], "accept-share"),
        (["--arrivals-per-hour", "0"], "no arrivals"),
        (["--chart", "/no/such/folder/x.png"], "no folder"),
    ],
)
def test_bad_options_exit_2_with_a_reason(app: typer.Typer, args: list[str], reason: str) -> None:
    code, _, output = run(app, *SHORT, *args)
    assert code == 2
    assert reason in " ".join(output.split())  # rich wraps long messages in a box
    assert "Traceback" not in output


def test_a_plan_hands_over_between_ranges_and_falls_back_outside_them() -> None:
    nine = 9 * 3600.0
    steps = _plan("9:00-12:00=12, 12:00-17:00=10", nine, 0)
    assert steps == [(0.0, 12), (3 * 3600.0, 10), (8 * 3600.0, 0)]
    assert _plan("10:00-11:00=5", nine, 3) == [(0.0, 3), (3600.0, 5), (7200.0, 3)]
    assert _plan("8:00-10:00=6", nine, 2) == [(0.0, 6), (3600.0, 2)]  # started before the run
