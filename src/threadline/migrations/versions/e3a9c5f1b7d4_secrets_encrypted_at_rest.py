"""secrets encrypted at rest

Endpoint provider secrets and webhook signing secrets become Fernet tokens (encryption.py):
the columns widen to text and every stored value is encrypted; downgrade decrypts them.
The keys: those handed to `upgrade(..., keyring=)`, else the configured ones (Settings).

Revision ID: e3a9c5f1b7d4
Revises: d4f6a8b0c2e1
Create Date: 2026-12-06 23:30:00.000000
"""

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import context, op

if TYPE_CHECKING:
    from threadline.encryption import Keyring

revision: str = 'e3a9c5f1b7d4'
down_revision: str | None = 'd4f6a8b0c2e1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, primary key, column, nullable, type before)
_SECRETS = (
    ("endpoints", "id", "secret", True, sa.String(length=4000)),
    ("webhook_subscriptions", "id", "secret", False, sa.String(length=200)),
)


def _keyring() -> "Keyring":
    from threadline.config import Settings
    from threadline.encryption import keyring_for

    given: Keyring | None = context.config.attributes.get("keyring")
    return given if given is not None else keyring_for(Settings())


def _rewrite(change: Callable[["Keyring", str], str]) -> None:
    """Apply `change(keyring, value)` to every stored secret (the keyring made only if any)."""
    connection = op.get_bind()
    keyring: Keyring | None = None
    for table_name, key, column, _nullable, _type in _SECRETS:
        raw = sa.table(table_name, sa.column(key), sa.column(column))
        rows = connection.execute(
            sa.select(raw.c[key], raw.c[column]).where(raw.c[column].is_not(None))
        ).all()
        for ident, value in rows:
            keyring = keyring or _keyring()
            connection.execute(
                sa.update(raw).where(raw.c[key] == ident).values({column: change(keyring, value)})
            )


def upgrade() -> None:
    for table_name, _key, column, nullable, before in _SECRETS:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=before, type_=sa.Text(), existing_nullable=nullable
            )
    _rewrite(lambda keyring, value: keyring.encrypt(value))


def downgrade() -> None:
    _rewrite(lambda keyring, value: keyring.decrypt(value))
    for table_name, _key, column, nullable, before in _SECRETS:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column(
                column, existing_type=sa.Text(), type_=before, existing_nullable=nullable
            )
