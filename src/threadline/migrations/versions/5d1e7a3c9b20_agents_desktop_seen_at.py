"""agents: when a desktop was last seen open (presence that tells the truth)

Revision ID: 5d1e7a3c9b20
Revises: b07c0a11e5d1
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import threadline.db

revision: str = "5d1e7a3c9b20"
down_revision: str | None = "b07c0a11e5d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("desktop_seen_at", threadline.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("desktop_seen_at")
