"""contacts: indexes routing's start-up reads by (waiting and held contacts by status, each
queue's last ended contacts for the wait estimator)

Revision ID: c4e8a2f61b07
Revises: 9d3c5e7f1a2b
Create Date: 2026-12-06 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4e8a2f61b07"
down_revision: str | None = "9d3c5e7f1a2b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index("ix_contacts_status_agent", ["status", "agent_id"], unique=False)
        batch_op.create_index("ix_contacts_queue_ended", ["queue_id", "ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_queue_ended")
        batch_op.drop_index("ix_contacts_status_agent")
