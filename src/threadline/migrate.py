"""Schema migrations (Alembic), run programmatically by `threadline migrate` and tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from threadline.encryption import Keyring

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(sync_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url)
    return config


def sync_url(database_url: str) -> str:
    """The synchronous twin of an async database URL (Alembic runs synchronously)."""
    return database_url.replace("+aiosqlite", "").replace("+psycopg_async", "+psycopg")


def upgrade(database_url: str, revision: str = "head", keyring: Keyring | None = None) -> None:
    """Migrate; `keyring` encrypts the stored secrets (default: the configured keys)."""
    config = alembic_config(sync_url(database_url))
    config.attributes["keyring"] = keyring
    command.upgrade(config, revision)


def downgrade(database_url: str, revision: str, keyring: Keyring | None = None) -> None:
    config = alembic_config(sync_url(database_url))
    config.attributes["keyring"] = keyring
    command.downgrade(config, revision)


def make_revision(database_url: str, message: str) -> None:
    command.revision(alembic_config(sync_url(database_url)), message=message, autogenerate=True)


def known_revisions() -> set[str]:
    """Every schema revision this version of Threadline can upgrade from (or is at)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {script.revision for script in scripts.walk_revisions()}
