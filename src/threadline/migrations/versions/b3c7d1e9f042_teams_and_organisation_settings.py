"""teams, agents' team, organisations' phone region and languages

Revision ID: b3c7d1e9f042
Revises: a52b53fb7091
Create Date: 2026-12-06 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "b3c7d1e9f042"
down_revision: str | None = "a52b53fb7091"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("supervisor_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", threadline.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_teams_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_teams_org_id_name")),
    )
    op.create_index(op.f("ix_teams_org_id"), "teams", ["org_id"], unique=False)
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("team_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(op.f("fk_agents_team_id_teams"), "teams", ["team_id"], ["id"])
        batch.create_index(op.f("ix_agents_team_id"), ["team_id"], unique=False)
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("phone_region", sa.String(length=2), nullable=True))
        batch.add_column(
            sa.Column("languages", JSON, nullable=False, server_default=sa.text("'[\"en\"]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("languages")
        batch.drop_column("phone_region")
    with op.batch_alter_table("agents") as batch:
        batch.drop_index(op.f("ix_agents_team_id"))
        batch.drop_constraint(op.f("fk_agents_team_id_teams"), type_="foreignkey")
        batch.drop_column("team_id")
    op.drop_index(op.f("ix_teams_org_id"), table_name="teams")
    op.drop_table("teams")
