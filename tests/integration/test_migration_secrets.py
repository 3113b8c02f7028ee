"""The migration that encrypts stored secrets (e3a9c5f1b7d4), on a populated SQLite file and
a populated PostgreSQL database: plaintext before, Fernet tokens after, plaintext again on
downgrade."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import _admin_execute, _postgres_database_url, sqlite_url
from threadline.encryption import Keyring, generate_key
from threadline.migrate import downgrade, sync_url, upgrade

BEFORE = "7b3d5f9a1c24"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
HOOK_SECRET = "whsec_bWlncmF0aW9uLXRlc3Q="


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "old.db")
        return
    name = f"threadline_migr_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_database_url(name)
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _execute(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(sql), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
    finally:
        engine.dispose()


def _populate(url: str) -> None:
    _execute(
        url,
        "INSERT INTO organizations (id, slug, name, timezone, languages, created_at) "
        "VALUES ('o1', 'bank', 'Bank', 'UTC', '[\"en\"]', CURRENT_TIMESTAMP)",
    )
    _execute(
        url,
        "INSERT INTO endpoints (id, org_id, channel, key, name, secret, settings, active, "
        "created_at) VALUES ('e1', 'o1', 'sms', '+351210000000', 'Line', :secret, '{}', "
        "true, CURRENT_TIMESTAMP), ('e2', 'o1', 'chat', 'widget', 'Site', NULL, '{}', true, "
        "CURRENT_TIMESTAMP)",
        secret=TWILIO_TOKEN,
    )
    _execute(
        url,
        "INSERT INTO webhook_subscriptions (id, org_id, url, description, event_types, secret, "
        "active, consecutive_failures, created_at, updated_at, active_since) VALUES ('w1', "
        "'o1', 'https://hooks.example.com/', '', '[\"*\"]', :secret, true, 0, "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        secret=HOOK_SECRET,
    )


def _stored(url: str) -> dict[str, object]:
    rows = _execute(url, "SELECT id, secret FROM endpoints")
    rows += _execute(url, "SELECT id, secret FROM webhook_subscriptions")
    return {str(ident): secret for ident, secret in rows}


def test_existing_secrets_are_encrypted_and_decrypted_on_downgrade(empty_database: str) -> None:
    url = empty_database
    upgrade(url, BEFORE)
    _populate(url)
    assert _stored(url) == {"e1": TWILIO_TOKEN, "e2": None, "w1": HOOK_SECRET}
    keyring = Keyring((generate_key(),), "test")
    upgrade(url, "head", keyring=keyring)
    stored = _stored(url)
    assert stored["e2"] is None
    assert TWILIO_TOKEN not in str(stored) and HOOK_SECRET not in str(stored)
    assert keyring.decrypt(str(stored["e1"])) == TWILIO_TOKEN
    assert keyring.decrypt(str(stored["w1"])) == HOOK_SECRET
    downgrade(url, BEFORE, keyring=keyring)
    assert _stored(url) == {"e1": TWILIO_TOKEN, "e2": None, "w1": HOOK_SECRET}
