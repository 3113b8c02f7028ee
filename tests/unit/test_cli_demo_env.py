"""`threadline demo` keeps a stable secret and points the bot at the demo's intent models in
.env, once, without touching what the operator wrote there."""

from __future__ import annotations

from pathlib import Path

from threadline.cli import _ensure_secret
from threadline.config import Settings


def test_the_env_file_gets_a_secret_and_the_models_dir_once(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("THREADLINE_PORT=9000\n")
    _ensure_secret(env)
    _ensure_secret(env)
    lines = env.read_text().splitlines()
    assert lines[0] == "THREADLINE_PORT=9000"
    assert sum(line.startswith("THREADLINE_SECRET_KEY=") for line in lines) == 1
    assert lines.count("THREADLINE_INTENT_MODELS_DIR=data/intents") == 1
    assert env.stat().st_mode & 0o777 == 0o600
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.intent_models_dir == Path("data/intents")
    assert settings.port == 9000


def test_an_operators_models_dir_is_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("THREADLINE_INTENT_MODELS_DIR=/srv/models\n")
    _ensure_secret(env)
    assert "THREADLINE_INTENT_MODELS_DIR=data/intents" not in env.read_text()


def test_the_demo_turns_the_simulated_providers_and_the_smtp_server_on_once(
    tmp_path: Path,
) -> None:
    env = tmp_path / ".env"
    env.write_text("THREADLINE_EMAIL_SMTP_PORT=2600\n")  # the operator's port is kept
    _ensure_secret(env)
    _ensure_secret(env)
    lines = env.read_text().splitlines()
    assert lines.count("THREADLINE_DEMO_SIMULATED=true") == 1
    assert [line for line in lines if "SMTP_PORT" in line] == ["THREADLINE_EMAIL_SMTP_PORT=2600"]
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.demo_simulated is True and settings.email_smtp_port == 2600
    assert Settings(_env_file=None).demo_simulated is False  # type: ignore[call-arg]
