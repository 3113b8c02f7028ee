"""the durable event log and its consumers' positions

Revision ID: 5b1e0c7d9a21
Revises: 284e3a016240
Create Date: 2026-12-06 06:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.db

revision: str = "5b1e0c7d9a21"
down_revision: str | None = "284e3a016240"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_log",
        sa.Column("position", POSITION, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_event_log")),
    )
    op.create_index("ix_event_log_occurred_at", "event_log", ["occurred_at"], unique=False)
    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", POSITION, nullable=False),
        sa.Column("updated_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )


def downgrade() -> None:
    op.drop_table("event_consumers")
    op.drop_index("ix_event_log_occurred_at", table_name="event_log")
    op.drop_table("event_log")
