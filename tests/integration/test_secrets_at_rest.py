"""Secrets at rest: endpoint and webhook secrets are Fernet tokens in the database (a raw
SELECT or a backup shows no plaintext), read back through the models, re-encrypted by key
rotation, and a missing or wrong key stops the server's start instead of losing them."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from tests.conftest import WIDGET_SECRET, make_world
from threadline.app import build_context, running
from threadline.channels.models import Endpoint
from threadline.config import Settings
from threadline.context import Context
from threadline.db import Base
from threadline.encryption import (
    CannotDecrypt,
    EncryptionError,
    Keyring,
    generate_key,
    keyring_for,
    parse_keys,
    rotate_all,
)
from threadline.webhooks.models import WebhookSubscription

HOOK_SECRET = "whsec_c2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz"


async def _store_secrets(ctx: Context) -> str:
    world = await make_world(ctx)
    async with ctx.uow() as uow:
        uow.session.add(
            WebhookSubscription(
                org_id=world.org_id,
                url="https://hooks.example.com/in",
                event_types=["*"],
                secret=HOOK_SECRET,
            )
        )
    return world.widget.id


async def _raw_secrets(ctx: Context) -> list[str]:
    async with ctx.db.engine.connect() as connection:
        endpoints = await connection.execute(text("SELECT secret FROM endpoints"))
        hooks = await connection.execute(text("SELECT secret FROM webhook_subscriptions"))
        return [value for (value,) in [*endpoints.all(), *hooks.all()] if value is not None]


async def test_a_raw_select_shows_no_plaintext_and_the_models_read_it_back(
    ctx: Context,
) -> None:
    widget_id = await _store_secrets(ctx)
    raw = await _raw_secrets(ctx)
    assert len(raw) == 2
    assert all(WIDGET_SECRET not in v and HOOK_SECRET not in v for v in raw)
    assert all(v.startswith("gAAAAA") for v in raw)  # Fernet tokens (version byte 0x80)
    async with ctx.db.sessions() as session:
        endpoint = await session.get(Endpoint, widget_id)
        hook = await session.scalar(select(WebhookSubscription))
    assert endpoint is not None and endpoint.secret == WIDGET_SECRET
    assert hook is not None and hook.secret == HOOK_SECRET
    assert sorted(ctx.db.keyring.decrypt(v) for v in raw) == sorted(  # type: ignore[union-attr]
        [WIDGET_SECRET, HOOK_SECRET]
    )


async def test_rotation_re_encrypts_with_the_first_key_and_the_old_one_can_go(
    ctx: Context,
) -> None:
    await _store_secrets(ctx)
    before = await _raw_secrets(ctx)
    old = ctx.db.keyring
    assert old is not None
    new_key = generate_key()
    both = parse_keys(f"{new_key},{','.join(old.keys)}", "test")
    assert await rotate_all(ctx.db.engine, Base.metadata, both) == 2
    after = await _raw_secrets(ctx)
    assert set(after).isdisjoint(before)
    only_new = parse_keys(new_key, "test")
    assert sorted(only_new.decrypt(v) for v in after) == sorted([WIDGET_SECRET, HOOK_SECRET])
    with pytest.raises(CannotDecrypt):
        old.decrypt(after[0])


async def test_a_wrong_key_stops_the_start_with_a_clear_error(
    ctx: Context, settings: Settings
) -> None:
    await _store_secrets(ctx)
    wrong = settings.model_copy(update={"encryption_keys": SecretStr(generate_key())})
    other = build_context(wrong)
    with pytest.raises(CannotDecrypt, match="THREADLINE_ENCRYPTION_KEYS"):
        async with running(other):
            pass
    await other.db.dispose()


async def test_no_key_configured_with_stored_secrets_stops_the_start(
    ctx: Context, settings: Settings, tmp_path: Path
) -> None:
    await _store_secrets(ctx)
    key_file = tmp_path / "data" / "encryption.key"
    unconfigured = settings.model_copy(
        update={"encryption_keys": SecretStr(""), "encryption_key_file": key_file}
    )
    other = build_context(unconfigured)
    assert other.db.keyring is not None and other.db.keyring.generated
    with pytest.raises(EncryptionError, match="no encryption key is configured"):
        async with running(other):
            pass
    await other.db.dispose()
    assert not key_file.exists()  # the useless new key is not left to be mistaken for one


def test_a_first_start_writes_an_owner_only_key_file_and_reuses_it(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "encryption.key"
    settings = Settings(encryption_keys="", encryption_key_file=key_file, _env_file=None)  # type: ignore[call-arg]
    first = keyring_for(settings)
    assert first.generated
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = keyring_for(settings)
    assert not again.generated and again.keys == first.keys


def test_a_key_that_is_not_a_fernet_key_is_refused_with_its_position() -> None:
    with pytest.raises(EncryptionError, match="key #2"):
        parse_keys(f"{generate_key()},not-a-key", "THREADLINE_ENCRYPTION_KEYS")


def test_a_tampered_token_does_not_decrypt() -> None:
    keyring = Keyring((generate_key(),), "test")
    token = keyring.encrypt("auth-token-" + uuid.uuid4().hex)
    tampered = token[:-8] + ("A" if token[-8] != "A" else "B") + token[-7:]
    with pytest.raises(CannotDecrypt):
        keyring.decrypt(tampered)
