"""planned agents: the roster per queue, weekday and half hour (the planning page)

Revision ID: 5e1a7c3b9d20
Revises: b3c7d1e9f042
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e1a7c3b9d20"
down_revision: str | None = "b3c7d1e9f042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "planned_agents",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("queue_id", sa.String(length=36), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_planned_agents_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_planned_agents_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "queue_id", "weekday", "minute", name=op.f("pk_planned_agents")
        ),
    )


def downgrade() -> None:
    op.drop_table("planned_agents")
