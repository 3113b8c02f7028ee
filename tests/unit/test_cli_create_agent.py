"""`threadline create-agent` on a real (SQLite) database: arguments are checked before the
password is asked for, an unknown organisation is refused unless --create-org says to create
it, and every refusal is one line with exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from threadline.cli import app
from threadline.migrate import upgrade

AGENT = ["--email", "ana@acme.example.com", "--name", "Ana Lima"]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("THREADLINE_DATABASE_URL", url)
    monkeypatch.setenv("THREADLINE_SECRET_KEY", "test-secret-key-for-the-cli-0123456789")
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    upgrade(url)
    return CliRunner()


def test_an_unknown_organisation_is_refused_before_the_password_prompt(runner: CliRunner) -> None:
    result = runner.invoke(app, ["create-agent", "--org", "acmee", *AGENT], input="")
    assert result.exit_code == 2
    assert "no organisation 'acmee'" in result.output
    assert "--create-org" in result.output
    assert "Password" not in result.output  # refused before asking
    assert "Traceback" not in result.output


def test_create_org_then_the_slug_is_known(runner: CliRunner) -> None:
    typed = "s3cret-pass\ns3cret-pass\n"
    first = runner.invoke(
        app, ["create-agent", "--org", "acme", "--create-org", *AGENT], input=typed
    )
    assert first.exit_code == 0, first.output
    assert "Password" in first.output and "created ana@acme.example.com" in first.output
    second = runner.invoke(
        app,
        ["create-agent", "--org", "acme", "--email", "rui@acme.example.com", "--name", "Rui"],
        input=typed,
    )
    assert second.exit_code == 0, second.output
    again = runner.invoke(app, ["create-agent", "--org", "acme", *AGENT], input=typed)
    assert again.exit_code == 1
    assert "Traceback" not in again.output


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--skills", "cards"], "'cards' is not SKILL:LEVEL"),
        (["--skills", "cards:high"], "'cards:high' is not SKILL:LEVEL"),
        (["--role", "boss"], "--role"),
        (["--email", "not-an-email"], "--email"),
        (["--languages", "english"], "--languages"),
    ],
)
def test_bad_arguments_are_refused_before_the_password_prompt(
    runner: CliRunner, args: list[str], reason: str
) -> None:
    result = runner.invoke(
        app, ["create-agent", "--org", "acme", "--create-org", *AGENT, *args], input=""
    )
    assert result.exit_code == 2, result.output
    assert reason in " ".join(result.output.split())
    assert "Password" not in result.output
    assert "Traceback" not in result.output


def test_a_short_password_is_one_clean_line(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["create-agent", "--org", "acme", "--create-org", *AGENT], input="short\nshort\n"
    )
    assert result.exit_code == 2
    assert "--password" in result.output and "at least 8" in result.output
    assert "Traceback" not in result.output


def test_a_database_without_the_schema_says_to_migrate_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["create-agent", "--org", "acme", *AGENT], input="")
    assert result.exit_code == 2
    assert "run `threadline migrate` first" in result.output
    assert "SELECT" not in result.output and "Traceback" not in result.output
    assert "Password" not in result.output
