"""indexes: one agent's load, a contact's timeline entries

Measured on bench/startup.py's busy centre (100,000 contacts, 500,000 timeline entries,
SQLite):
- an agent's presence change re-read what that agent holds by scanning every contact
  (57 ms); now it reads the agent's own contacts (contacts.agent_id);
- analytics, for each batch of contacts that ended, read their entries by scanning the
  whole timeline table (74 ms, and PostgreSQL had no index to use either); now by
  thread_events.contact_id.

Revision ID: a1c3e5f7b9d2
Revises: f2b4d6e8a0c1
Create Date: 2026-12-07 11:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a1c3e5f7b9d2"
down_revision: str | None = "f2b4d6e8a0c1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_agent", "contacts", ["agent_id"], unique=False)
    op.create_index("ix_thread_events_contact", "thread_events", ["contact_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_thread_events_contact", table_name="thread_events")
    op.drop_index("ix_contacts_agent", table_name="contacts")
