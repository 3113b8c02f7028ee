"""retention policy: organisations' retention_days, threads' content_purged_at

Revision ID: e6b94d27c1f8
Revises: 8c3f0e2d6a41
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.db

revision: str = "e6b94d27c1f8"
down_revision: str | None = "8c3f0e2d6a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("threads") as batch:
        batch.add_column(
            sa.Column("content_purged_at", threadline.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("content_purged_at")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("retention_days")
