"""bot: each thread's conversation (flow state) and what it came to (deflection, hand-off)

Revision ID: b07c0a11e5d1
Revises: 7b2f4e9c1d30
Create Date: 2026-12-06 13:03:12.844315
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "b07c0a11e5d1"
down_revision: str | None = "7b2f4e9c1d30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "bot_conversations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("flow_version", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("started_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_bot_conversations_endpoint_id_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_bot_conversations_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_bot_conversations_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_conversations")),
    )
    with op.batch_alter_table("bot_conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bot_conversations_thread_done", ["thread_id", "done"], unique=False
        )

    op.create_table(
        "bot_outcomes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("conversation_id", sa.String(length=36), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("intent", sa.String(length=100), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("article_id", sa.String(length=64), nullable=True),
        sa.Column("contact_id", sa.String(length=36), nullable=True),
        sa.Column("at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["bot_conversations.id"],
            name=op.f("fk_bot_outcomes_conversation_id_bot_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_bot_outcomes_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_bot_outcomes_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_outcomes")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_bot_outcomes_conversation_id")),
    )
    with op.batch_alter_table("bot_outcomes", schema=None) as batch_op:
        batch_op.create_index("ix_bot_outcomes_org_at", ["org_id", "at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("bot_outcomes", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_outcomes_org_at")

    op.drop_table("bot_outcomes")
    with op.batch_alter_table("bot_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_conversations_thread_done")

    op.drop_table("bot_conversations")
