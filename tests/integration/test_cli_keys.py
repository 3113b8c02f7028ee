"""`threadline rotate-keys` re-encrypts stored secrets with the first key, and `threadline
serve` refuses to start, saying why, when the stored secrets cannot be decrypted (a wrong
key, or none configured). The CLI as an operator runs it, on a migrated SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from tests.conftest import sqlite_url
from threadline.cli import app
from threadline.encryption import Keyring, generate_key
from threadline.migrate import sync_url, upgrade

TOKEN = "telegram-bot-token-123456:ABC"


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, Keyring]:
    url = sqlite_url(tmp_path / "ops.db")
    upgrade(url)
    keyring = Keyring((generate_key(),), "test")
    engine = create_engine(sync_url(url), poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organizations (id, slug, name, timezone, languages, created_at) "
                "VALUES ('o1', 'bank', 'Bank', 'UTC', '[\"en\"]', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO endpoints (id, org_id, channel, key, name, secret, settings, "
                "active, created_at) VALUES ('e1', 'o1', 'telegram', 'bankbot', 'Bot', :s, "
                "'{}', true, CURRENT_TIMESTAMP)"
            ),
            {"s": keyring.encrypt(TOKEN)},
        )
    engine.dispose()
    return url, keyring


def _stored(url: str) -> str:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    with engine.connect() as connection:
        value = connection.scalar(text("SELECT secret FROM endpoints"))
    engine.dispose()
    return str(value)


def test_rotate_keys_re_encrypts_with_the_first_key(database: tuple[str, Keyring]) -> None:
    url, old = database
    new = generate_key()
    result = CliRunner().invoke(
        app,
        ["rotate-keys"],
        env={"THREADLINE_DATABASE_URL": url, "THREADLINE_ENCRYPTION_KEYS": f"{new},{old.keys[0]}"},
    )
    assert result.exit_code == 0, result.output
    assert "1 secrets re-encrypted" in result.output
    assert Keyring((new,), "test").decrypt(_stored(url)) == TOKEN


def test_serve_refuses_a_wrong_key_or_none(database: tuple[str, Keyring], tmp_path: Path) -> None:
    url, _ = database
    wrong = CliRunner().invoke(
        app,
        ["serve"],
        env={"THREADLINE_DATABASE_URL": url, "THREADLINE_ENCRYPTION_KEYS": generate_key()},
    )
    assert wrong.exit_code == 2
    assert "cannot be decrypted" in wrong.output
    key_file = tmp_path / "data" / "encryption.key"
    missing = CliRunner().invoke(
        app,
        ["serve"],
        env={
            "THREADLINE_DATABASE_URL": url,
            "THREADLINE_ENCRYPTION_KEYS": "",
            "THREADLINE_ENCRYPTION_KEY_FILE": str(key_file),
        },
    )
    assert missing.exit_code == 2
    assert "no encryption key is configured" in " ".join(missing.output.split())
    assert not key_file.exists()
