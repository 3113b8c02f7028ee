"""customers: when their personal data was erased

Revision ID: 8c3f0e2d6a41
Revises: 5d1e7a3c9b20
Create Date: 2026-12-06 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.db

revision: str = "8c3f0e2d6a41"
down_revision: str | None = "5d1e7a3c9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("erased_at", threadline.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("erased_at")
