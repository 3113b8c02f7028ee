"""overflow to a named queue: a queue's contacts may overflow to another queue's agents

Revision ID: d4f6a8b0c2e1
Revises: 7b3d5f9a1c24
Create Date: 2026-12-06 23:30:00

A nullable column referencing queues. SQLite adds it in place (ADD COLUMN ... REFERENCES,
no batch: the table and the rows that reference it stay as they are); PostgreSQL adds the
column, then its named foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4f6a8b0c2e1"
down_revision: str | None = "7b3d5f9a1c24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_queues_overflow_queue_id_queues"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE queues ADD COLUMN overflow_queue_id VARCHAR(36) "
            f"CONSTRAINT {FK} REFERENCES queues (id)"
        )
        return
    op.add_column("queues", sa.Column("overflow_queue_id", sa.String(36), nullable=True))
    op.create_foreign_key(FK, "queues", "queues", ["overflow_queue_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(FK, "queues", type_="foreignkey")
    with op.batch_alter_table("queues") as batch:
        batch.drop_column("overflow_queue_id")
