"""The migrations build exactly the schema the models describe (SQLite and PostgreSQL): a
model changed without its migration fails here, not on a customer's upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from threadline.db import Base
from threadline.models import import_models
from threadline.selfservice.knowledge.search import described_by_models


def test_migrations_match_the_models(database_url: str) -> None:
    import_models()
    engine = create_engine(database_url.replace("+aiosqlite", ""), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "render_as_batch": True,
                    "compare_type": True,
                    "include_name": described_by_models,
                },
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], differences
