"""wrap-up: a queue's after-contact work time, and each contact's wrap-up span

Revision ID: 7b3d5f9a1c24
Revises: c9e1f3a5b7d2
Create Date: 2026-12-06 21:10:00

Plain ADD COLUMNs (no batch mode: SQLite adds a column in place, so the tables and the
triggers on them stay as they are).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.db

revision: str = "7b3d5f9a1c24"
down_revision: str | None = "c9e1f3a5b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = threadline.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "queues", sa.Column("wrapup_s", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("contacts", sa.Column("wrapup_started_at", UTC, nullable=True))
    op.add_column("contacts", sa.Column("wrapup_ended_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("wrapup_ended_at")
        batch.drop_column("wrapup_started_at")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("wrapup_s")
