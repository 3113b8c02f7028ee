"""threads: a customer's newest thread by one index

Every inbound message looks up its customer's newest thread (customer, created_at, newest
first). With only an index on customer_id, SQLite (no planner statistics: nothing runs
ANALYZE) chose the organisation's (org_id, updated_at) index and sorted the organisation's
threads for each message: 6 ms a message with 20,000 threads, growing with them. An index
on (customer_id, created_at) answers it by one seek, on both databases; it replaces the
index on customer_id, its prefix.

Revision ID: f2b4d6e8a0c1
Revises: e3a9c5f1b7d4
Create Date: 2026-12-07 11:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f2b4d6e8a0c1"
down_revision: str | None = "e3a9c5f1b7d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_threads_customer_created", "threads", ["customer_id", "created_at"], unique=False
    )
    op.drop_index("ix_threads_customer_id", table_name="threads")


def downgrade() -> None:
    op.create_index("ix_threads_customer_id", "threads", ["customer_id"], unique=False)
    op.drop_index("ix_threads_customer_created", table_name="threads")
