"""an index of the open threads, newest activity first

Measured on bench/startup.py's busy centre (100,000 threads of which 20,460 open, SQLite):
the inbox's "queues" view (open threads of the agent's queues, newest first) walked the
organisation's threads through (org_id, updated_at), resolved ones included: 244 ms for a
page when those queues had no open thread. This partial index holds the open threads only:
44 ms in that worst case, and the usual page stops after its first rows.

Revision ID: c3e5a7b9d1f4
Revises: a1c3e5f7b9d2
Create Date: 2026-12-07 14:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3e5a7b9d1f4"
down_revision: str | None = "a1c3e5f7b9d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("status != 'resolved'")


def upgrade() -> None:
    op.create_index(
        "ix_threads_open_updated",
        "threads",
        ["org_id", "updated_at"],
        unique=False,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_threads_open_updated", table_name="threads")
