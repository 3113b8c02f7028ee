"""incidents: outage mode

Revision ID: a883a8c07819
Revises: c4e8a2f61b07
Create Date: 2026-12-06 12:40:08.144926
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "a883a8c07819"
down_revision: str | None = "c4e8a2f61b07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = threadline.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("products", JSON, nullable=False),
        sa.Column("regions", JSON, nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("intents", JSON, nullable=False),
        sa.Column("messages", JSON, nullable=False),
        sa.Column("resolution_messages", JSON, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("starts_at", UTC, nullable=False),
        sa.Column("expected_end_at", UTC, nullable=True),
        sa.Column("resolved_at", UTC, nullable=True),
        sa.Column("declared_by", sa.String(length=36), nullable=True),
        sa.Column("resolved_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_incidents_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_org_status", ["org_id", "status"], unique=False)

    op.create_table(
        "incident_notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("thread_id", sa.String(length=36), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("outage_status", sa.String(length=12), nullable=True),
        sa.Column("told_at", UTC, nullable=True),
        sa.Column("told_on", sa.String(length=16), nullable=True),
        sa.Column("skip_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_incident_notices_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_notices_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_incident_notices_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_notices")),
        sa.UniqueConstraint(
            "incident_id", "customer_id", name=op.f("uq_incident_notices_incident_id_customer_id")
        ),
    )
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_notices_incident_status", ["incident_id", "status"], unique=False
        )

    op.create_table(
        "incident_threads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("tagged_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_threads_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_incident_threads_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_incident_threads_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_threads")),
        sa.UniqueConstraint(
            "incident_id", "thread_id", name=op.f("uq_incident_threads_incident_id_thread_id")
        ),
    )
    with op.batch_alter_table("incident_threads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_threads_thread_id"), ["thread_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_threads_thread_id"))

    op.drop_table("incident_threads")
    with op.batch_alter_table("incident_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_notices_incident_status")

    op.drop_table("incident_notices")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_org_status")

    op.drop_table("incidents")
