"""contact reasons taxonomy, alerts and the contact reason columns

Revision ID: a52b53fb7091
Revises: 48527d6d23f6
Create Date: 2026-12-06 17:12:37.072315
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "a52b53fb7091"
down_revision: str | None = "48527d6d23f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reason_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Double(), nullable=False),
        sa.Column("limit", sa.Double(), nullable=False),
        sa.Column("at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_reason_alerts_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reason_alerts")),
        sa.UniqueConstraint(
            "org_id", "reason", "day", name=op.f("uq_reason_alerts_org_id_reason_day")
        ),
    )
    op.create_table(
        "reason_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("intents", JSON, nullable=False),
        sa.Column("ivr", JSON, nullable=False),
        sa.Column("wrapup", JSON, nullable=False),
        sa.Column("created_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_reason_codes_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reason_codes")),
        sa.UniqueConstraint("org_id", "code", name=op.f("uq_reason_codes_org_id_code")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reason_source", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("reason_confidence", sa.Double(), nullable=True))
        batch_op.create_index(
            "ix_contacts_org_reason_enqueued",
            ["org_id", "reason_code", "enqueued_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_org_reason_enqueued")
        batch_op.drop_column("reason_confidence")
        batch_op.drop_column("reason_source")
        batch_op.drop_column("reason_code")

    op.drop_table("reason_codes")
    op.drop_table("reason_alerts")
