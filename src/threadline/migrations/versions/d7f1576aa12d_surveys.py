"""surveys: one per contact (CSAT, CES, comment), and each organisation's survey settings

Revision ID: d7f1576aa12d
Revises: f10e0d17a3c5
Create Date: 2026-12-06 16:01:23.349571
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "d7f1576aa12d"
down_revision: str | None = "f10e0d17a3c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_settings",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "channels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "questions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("comment", sa.Boolean(), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("reply_hours", sa.Integer(), nullable=False),
        sa.Column("link_days", sa.Integer(), nullable=False),
        sa.Column("whatsapp_template", sa.String(length=200), nullable=True),
        sa.Column("updated_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_survey_settings_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_survey_settings")),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("queue_id", sa.String(length=36), nullable=True),
        sa.Column("agent_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column(
            "questions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("comment_asked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("step", sa.String(length=8), nullable=False),
        sa.Column("skip_reason", sa.String(length=300), nullable=True),
        sa.Column("csat", sa.Integer(), nullable=True),
        sa.Column("ces", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", threadline.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", threadline.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_at", threadline.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_surveys_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_surveys_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_surveys_contact_id")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index("ix_surveys_customer_sent", ["customer_id", "sent_at"], unique=False)
        batch_op.create_index("ix_surveys_org_answered", ["org_id", "answered_at"], unique=False)
        batch_op.create_index("ix_surveys_thread_status", ["thread_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("ix_surveys_thread_status")
        batch_op.drop_index("ix_surveys_org_answered")
        batch_op.drop_index("ix_surveys_customer_sent")

    op.drop_table("surveys")
    op.drop_table("survey_settings")
