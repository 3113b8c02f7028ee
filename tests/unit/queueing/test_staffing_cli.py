"""`threadline staffing`, run through Typer's CliRunner on an app built with ``register``."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from threadline.queueing.staffing_cli import parse_duration, register

EXAMPLE = ["--arrivals", "100", "--interval", "30m", "--aht", "180s", "--answer-within", "20s"]
KEYS = {"agents", "p_wait", "service_level", "asa_s", "p_abandon", "occupancy"}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command, so that `staffing` is a sub-command as in cli.py
        """Placeholder."""

    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["staffing", *args])
    return result.exit_code, result.output


def test_the_issue_example_recommends_14_agents_as_json(app: typer.Typer) -> None:
    code, output = run(app, *EXAMPLE, "--target", "0.8", "--json")
    assert code == 0, output
    figures = json.loads(output)
    assert set(figures) == KEYS
    assert figures["agents"] == 14
    assert figures["service_level"] == pytest.approx(0.8884, abs=5e-4)
    assert figures["p_abandon"] is None  # Erlang C: abandonment is not modelled


def test_patience_switches_to_erlang_a(app: typer.Typer) -> None:
    code, output = run(app, *EXAMPLE, "--patience", "300s", "--target", "0.8", "--json")
    assert code == 0, output
    figures = json.loads(output)
    assert set(figures) == KEYS
    assert 0.0 < figures["p_abandon"] < 0.1
    assert figures["agents"] <= 14  # impatient callers who leave shorten everyone's wait


def test_given_agents_print_a_table(app: typer.Typer) -> None:
    code, output = run(app, *EXAMPLE, "--patience", "5m", "--agents", "13")
    assert code == 0, output
    assert "agents" in output and "13" in output
    for label in ("p_wait", "service_level", "asa_s", "p_abandon", "occupancy"):
        assert label in output


def test_too_few_agents_is_reported_not_crashed(app: typer.Typer) -> None:
    code, output = run(app, *EXAMPLE, "--agents", "9", "--json")
    assert code == 0, output
    figures = json.loads(output)
    assert figures["p_wait"] == 1.0
    assert figures["asa_s"] is None  # infinite: the queue grows without bound
    code, output = run(app, *EXAMPLE, "--agents", "9")
    assert "unstable" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "0.8", "--agents", "13"], "exactly one of --target or --agents"),
        ([], "exactly one of --target or --agents"),
        (["--target", "1.5"], "target"),
        (["--agents", "0"], "agents"),
    ],
)
def test_bad_choices_are_usage_errors(app: typer.Typer, args: list[str], message: str) -> None:
    code, output = run(app, *EXAMPLE, *args)
    assert code == 2
    assert message in output


@pytest.mark.parametrize(
    ("option", "value"), [("--aht", "3 minutes"), ("--interval", "0m"), ("--patience", "-5s")]
)
def test_bad_durations_are_usage_errors(app: typer.Typer, option: str, value: str) -> None:
    args = [*EXAMPLE, "--target", "0.8"]
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    code, output = run(app, *args)
    assert code == 2
    assert option in output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("180s", 180.0), ("30m", 1800.0), ("1h", 3600.0), ("2.5m", 150.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 min", "1d", "1h30m", "-1s", "abc"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
