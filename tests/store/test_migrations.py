"""The Alembic migrations build exactly the schema the code declares, on both databases,
and downgrade cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hws.store import migration
from hws.store.database import create_db_engine
from hws.store.tables import metadata


def test_migrations_match_the_tables(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migration.upgrade(engine)
        assert migration.current_revision(engine) == migration.head_revision()
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
        assert diff == [], diff
        migration.downgrade(engine, "base")
        assert migration.current_revision(engine) is None
    finally:
        engine.dispose()
