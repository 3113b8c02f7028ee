"""Secrets at rest: provider credentials and signing secrets are stored as Fernet tokens
(AES-128-CBC + HMAC-SHA256, `cryptography`), so a leaked database or backup does not hand
them out. Keys come from THREADLINE_ENCRYPTION_KEYS (comma-separated: the first encrypts,
all decrypt, which is how keys are rotated), else from a key file written on first use.

The keyring is wired to an engine (`attach`), not held in a global: `EncryptedText` finds it
on the dialect the value is bound for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import MetaData, Text, column, inspect, select, table, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from threadline.config import Settings

_DIALECT_ATTRIBUTE = "threadline_keyring"


class EncryptionError(RuntimeError):
    """The stored secrets cannot be read or written: no key, or not the key they need."""


class BadKey(EncryptionError):
    """A configured key is not a Fernet key (32 url-safe base64-encoded bytes)."""


class CannotDecrypt(EncryptionError):
    """A stored value was not encrypted with any configured key (or was tampered with)."""


@dataclass(frozen=True)
class Keyring:
    """The encryption keys, newest first: the first encrypts, every one decrypts."""

    keys: tuple[str, ...]
    source: str  # where they came from, for messages: never the keys themselves
    generated: bool = False  # none was configured: a new key was written to the key file

    def __post_init__(self) -> None:
        if not self.keys:
            raise BadKey(f"no encryption key in {self.source}")
        for number, key in enumerate(self.keys, start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError) as exc:
                raise BadKey(
                    f"encryption key #{number} in {self.source} is not a Fernet key "
                    "(32 url-safe base64 bytes; make one with `threadline generate-key`)"
                ) from exc

    @property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in self.keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise CannotDecrypt(
                f"a stored secret cannot be decrypted with the keys from {self.source}: "
                "configure THREADLINE_ENCRYPTION_KEYS with the key it was encrypted with "
                "(see docs/operations.md, 'Secrets at rest')"
            ) from exc

    def rotate(self, token: str) -> str:
        """The token re-encrypted with the first key (its plaintext unchanged)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise CannotDecrypt(
                f"a stored secret cannot be decrypted with the keys from {self.source}"
            ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(value: str, source: str) -> Keyring:
    return Keyring(tuple(key.strip() for key in value.split(",") if key.strip()), source)


def configured_keyring(settings: Settings) -> Keyring | None:
    """The keys the operator configured (environment, else the key file), or None."""
    configured = settings.encryption_keys.get_secret_value().strip()
    if configured:
        return parse_keys(configured, "THREADLINE_ENCRYPTION_KEYS")
    path = settings.encryption_key_file
    if path.exists():
        return parse_keys(path.read_text(), str(path))
    return None


def keyring_for(settings: Settings) -> Keyring:
    """The configured keys; with none configured, a key generated now and written to the
    key file (owner-only), so that a first start or the demo works. A server that finds
    secrets it cannot decrypt with it refuses to start (`check_readable`)."""
    keyring = configured_keyring(settings)
    if keyring is not None:
        return keyring
    path = settings.encryption_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(generate_key() + "\n")
    return Keyring(parse_keys(path.read_text(), str(path)).keys, str(path), generated=True)


def attach(engine: AsyncEngine, keyring: Keyring) -> None:
    """Let `EncryptedText` columns of this engine's sessions use these keys."""
    setattr(engine.sync_engine.dialect, _DIALECT_ATTRIBUTE, keyring)


def _keyring_of(dialect: Dialect) -> Keyring:
    keyring = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if not isinstance(keyring, Keyring):
        raise EncryptionError("no encryption keys attached to this database engine")
    return keyring


class EncryptedText(TypeDecorator[str]):
    """A secret stored as a Fernet token, read back as the plaintext string."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _keyring_of(dialect).encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _keyring_of(dialect).decrypt(value)


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    primary_key: str
    column: str


def encrypted_columns(metadata: MetaData) -> list[EncryptedColumn]:
    """Every column of the schema stored with `EncryptedText`."""
    found = []
    for schema_table in metadata.sorted_tables:
        (primary_key, *_) = schema_table.primary_key.columns
        found += [
            EncryptedColumn(schema_table.name, primary_key.name, stored.name)
            for stored in schema_table.columns
            if isinstance(stored.type, EncryptedText)
        ]
    return found


def _raw(where: EncryptedColumn) -> TableClause:
    # untyped columns: the stored tokens as they are, not through EncryptedText
    return table(where.table, column(where.primary_key), column(where.column))


async def check_readable(engine: AsyncEngine, metadata: MetaData, keyring: Keyring) -> int:
    """Decrypt one stored value of every encrypted column, raising `CannotDecrypt` if the
    keys cannot: called at start-up so that a missing or wrong key stops the server at once
    instead of failing every send later. Returns how many values were checked."""
    checked = 0
    async with engine.connect() as connection:
        present = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        for where in (found for found in encrypted_columns(metadata) if found.table in present):
            raw = _raw(where)
            value = await connection.scalar(
                select(raw.c[where.column]).where(raw.c[where.column].is_not(None)).limit(1)
            )
            if value is not None:
                _check_one(keyring, value)
                checked += 1
    return checked


def _check_one(keyring: Keyring, token: str) -> None:
    if keyring.generated:
        # a key made just now cannot read what is stored: the configured one is missing
        Path(keyring.source).unlink(missing_ok=True)
        raise EncryptionError(
            "the database holds encrypted secrets but no encryption key is configured: set "
            "THREADLINE_ENCRYPTION_KEYS (or restore the key file "
            f"{keyring.source}) to the key they were encrypted with; see docs/operations.md"
        )
    keyring.decrypt(token)


async def rotate_all(engine: AsyncEngine, metadata: MetaData, keyring: Keyring) -> int:
    """Re-encrypt every stored secret with the first key (`threadline rotate-keys`), in one
    transaction: afterwards the older keys can be removed. Returns the values rewritten."""
    rotated = 0
    async with engine.begin() as connection:
        for where in encrypted_columns(metadata):
            raw = _raw(where)
            rows = await connection.execute(
                select(raw.c[where.primary_key], raw.c[where.column]).where(
                    raw.c[where.column].is_not(None)
                )
            )
            for ident, token in rows.all():
                await connection.execute(
                    update(raw)
                    .where(raw.c[where.primary_key] == ident)
                    .values({where.column: keyring.rotate(token)})
                )
                rotated += 1
    return rotated
