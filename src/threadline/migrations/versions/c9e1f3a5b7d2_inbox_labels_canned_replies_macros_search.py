"""inbox: thread queue/channel/snooze columns and view indexes, labels, canned replies,
macros, and the message and customer search indexes

Revision ID: c9e1f3a5b7d2
Revises: 5e1a7c3b9d20
Create Date: 2026-12-06 19:30:00

The search indexes depend on the database (inbox/search.py) and are kept in step by
triggers, so every write path (a message, an erasure, a retention purge) updates them in
its own transaction: FTS5 tables on SQLite, tables of tsvectors under GIN indexes on
PostgreSQL. SQLite's batch mode recreates a table it alters: a later migration that
batch-alters thread_events or customers must create these triggers again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import threadline.db

revision: str = "c9e1f3a5b7d2"
down_revision: str | None = "5e1a7c3b9d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
UTC = threadline.db.UTCDateTime(timezone=True)
TOKENIZE = "tokenize = 'unicode61 remove_diacritics 2'"

SQLITE = (
    # messages and notes: an external-content FTS5 table over thread_events (rowid = id)
    f"CREATE VIRTUAL TABLE inbox_search_messages USING fts5(body,"
    f" content='thread_events', content_rowid='id', {TOKENIZE})",
    "CREATE TRIGGER inbox_search_messages_ai AFTER INSERT ON thread_events"
    " WHEN new.body IS NOT NULL BEGIN"
    " INSERT INTO inbox_search_messages(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER inbox_search_messages_ad AFTER DELETE ON thread_events"
    " WHEN old.body IS NOT NULL BEGIN"
    " INSERT INTO inbox_search_messages(inbox_search_messages, rowid, body)"
    " VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER inbox_search_messages_au AFTER UPDATE OF body ON thread_events BEGIN"
    " INSERT INTO inbox_search_messages(inbox_search_messages, rowid, body)"
    " SELECT 'delete', old.id, old.body WHERE old.body IS NOT NULL;"
    " INSERT INTO inbox_search_messages(rowid, body)"
    " SELECT new.id, new.body WHERE new.body IS NOT NULL; END",
    "INSERT INTO inbox_search_messages(rowid, body)"
    " SELECT id, body FROM thread_events WHERE body IS NOT NULL",
    # customers: name, email, phone (the phone also without its +)
    f"CREATE VIRTUAL TABLE inbox_search_customers USING fts5(customer_id UNINDEXED,"
    f" org_id UNINDEXED, name, email, phone, {TOKENIZE})",
    "CREATE TRIGGER inbox_search_customers_ai AFTER INSERT ON customers BEGIN"
    " INSERT INTO inbox_search_customers(customer_id, org_id, name, email, phone)"
    " VALUES (new.id, new.org_id, new.name, new.email, new.phone); END",
    "CREATE TRIGGER inbox_search_customers_ad AFTER DELETE ON customers BEGIN"
    " DELETE FROM inbox_search_customers WHERE customer_id = old.id; END",
    "CREATE TRIGGER inbox_search_customers_au AFTER UPDATE OF name, email, phone ON customers"
    " BEGIN DELETE FROM inbox_search_customers WHERE customer_id = old.id;"
    " INSERT INTO inbox_search_customers(customer_id, org_id, name, email, phone)"
    " VALUES (new.id, new.org_id, new.name, new.email, new.phone); END",
    "INSERT INTO inbox_search_customers(customer_id, org_id, name, email, phone)"
    " SELECT id, org_id, name, email, phone FROM customers",
)

# an email address is one lexeme for PostgreSQL's parser: its parts are added beside it, as
# FTS5's tokenizer splits them
# the thread's language picks the stemmer; 'simple' beside it keeps every word as written
PG_CONFIG = (
    "CASE t.language WHEN 'en' THEN 'english' WHEN 'pt' THEN 'portuguese'"
    " WHEN 'es' THEN 'spanish' WHEN 'ru' THEN 'russian' ELSE 'simple' END"
)
PG_CUSTOMER_DOC = (
    "to_tsvector('simple', coalesce(NEW.name, '') || ' ' || coalesce(NEW.email, '')"
    " || ' ' || translate(coalesce(NEW.email, ''), '@.+_-', '     ')"
    " || ' ' || coalesce(NEW.phone, '') || ' ' || translate(coalesce(NEW.phone, ''), '+', ''))"
)
POSTGRES = (
    "CREATE TABLE inbox_search_messages (event_id INTEGER PRIMARY KEY"
    " REFERENCES thread_events (id) ON DELETE CASCADE, org_id VARCHAR(36) NOT NULL,"
    " thread_id VARCHAR(36) NOT NULL, document TSVECTOR NOT NULL)",
    "CREATE INDEX ix_inbox_search_messages_document ON inbox_search_messages"
    " USING gin (document)",
    "CREATE FUNCTION inbox_search_message() RETURNS trigger LANGUAGE plpgsql AS $$"
    " DECLARE config regconfig; BEGIN"
    " IF NEW.body IS NULL THEN"
    "  DELETE FROM inbox_search_messages WHERE event_id = NEW.id; RETURN NULL; END IF;"
    f" SELECT CAST({PG_CONFIG} AS regconfig) INTO config FROM threads t"
    "  WHERE t.id = NEW.thread_id;"
    " INSERT INTO inbox_search_messages (event_id, org_id, thread_id, document)"
    "  VALUES (NEW.id, NEW.org_id, NEW.thread_id,"
    "  to_tsvector(coalesce(config, 'simple'), NEW.body) || to_tsvector('simple', NEW.body))"
    "  ON CONFLICT (event_id) DO UPDATE SET document = EXCLUDED.document;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER inbox_search_messages AFTER INSERT OR UPDATE OF body ON thread_events"
    " FOR EACH ROW EXECUTE FUNCTION inbox_search_message()",
    "CREATE TABLE inbox_search_customers (customer_id VARCHAR(36) PRIMARY KEY"
    " REFERENCES customers (id) ON DELETE CASCADE, org_id VARCHAR(36) NOT NULL,"
    " document TSVECTOR NOT NULL)",
    "CREATE INDEX ix_inbox_search_customers_document ON inbox_search_customers"
    " USING gin (document)",
    "CREATE FUNCTION inbox_search_customer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " INSERT INTO inbox_search_customers (customer_id, org_id, document)"
    f"  VALUES (NEW.id, NEW.org_id, {PG_CUSTOMER_DOC})"
    "  ON CONFLICT (customer_id) DO UPDATE SET document = EXCLUDED.document;"
    " RETURN NULL; END $$",
    "CREATE TRIGGER inbox_search_customers AFTER INSERT OR UPDATE OF name, email, phone"
    " ON customers FOR EACH ROW EXECUTE FUNCTION inbox_search_customer()",
    # what exists already: touching the column runs the trigger
    "UPDATE thread_events SET body = body WHERE body IS NOT NULL",
    "UPDATE customers SET name = name",
)


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("snoozed_until", UTC, nullable=True))
        batch_op.create_index("ix_threads_org_updated", ["org_id", "updated_at"])
        batch_op.create_index(
            "ix_threads_org_agent_updated", ["org_id", "assigned_agent_id", "updated_at"]
        )
        batch_op.create_index("ix_threads_org_queue_updated", ["org_id", "queue_id", "updated_at"])
    # existing threads: the queue and channel of their latest contact
    op.execute(
        "UPDATE threads SET queue_id = (SELECT c.queue_id FROM contacts c"
        " WHERE c.thread_id = threads.id ORDER BY c.enqueued_at DESC LIMIT 1),"
        " channel = (SELECT c.channel FROM contacts c"
        " WHERE c.thread_id = threads.id ORDER BY c.enqueued_at DESC LIMIT 1)"
    )
    op.create_table(
        "labels",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_labels_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labels")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_labels_org_id_name")),
    )
    op.create_table(
        "thread_labels",
        sa.Column("thread_id", sa.String(length=36), nullable=False),
        sa.Column("label_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["labels.id"],
            name=op.f("fk_thread_labels_label_id_labels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_thread_labels_org_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_thread_labels_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("thread_id", "label_id", name=op.f("pk_thread_labels")),
    )
    op.create_index("ix_thread_labels_org_label", "thread_labels", ["org_id", "label_id"])
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("owner_agent_id", sa.String(length=36), nullable=True),
        sa.Column("shortcut", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_canned_replies_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    op.create_index(
        "ix_canned_replies_org_owner", "canned_replies", ["org_id", "owner_agent_id"]
    )
    op.create_table(
        "macros",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("label_ids", JSON, nullable=False),
        sa.Column("then", sa.String(length=12), nullable=True),
        sa.Column("resolve_reason", sa.String(length=100), nullable=True),
        sa.Column("snooze_minutes", sa.Integer(), nullable=True),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_macros_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_macros_org_id_name")),
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS inbox_search_messages_{name}")
            op.execute(f"DROP TRIGGER IF EXISTS inbox_search_customers_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS inbox_search_messages ON thread_events")
        op.execute("DROP TRIGGER IF EXISTS inbox_search_customers ON customers")
        op.execute("DROP FUNCTION IF EXISTS inbox_search_message()")
        op.execute("DROP FUNCTION IF EXISTS inbox_search_customer()")
    op.execute("DROP TABLE IF EXISTS inbox_search_messages")
    op.execute("DROP TABLE IF EXISTS inbox_search_customers")
    op.drop_table("macros")
    op.drop_index("ix_canned_replies_org_owner", table_name="canned_replies")
    op.drop_table("canned_replies")
    op.drop_index("ix_thread_labels_org_label", table_name="thread_labels")
    op.drop_table("thread_labels")
    op.drop_table("labels")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_org_queue_updated")
        batch_op.drop_index("ix_threads_org_agent_updated")
        batch_op.drop_index("ix_threads_org_updated")
        batch_op.drop_column("snoozed_until")
        batch_op.drop_column("channel")
        batch_op.drop_column("queue_id")
