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


def test_downgrade_past_packed_files_refuses_while_files_live_in_their_packages(sqlite_url: str) -> None:
    """Revision 0011 keeps a package's files inside the package; the revision before cannot
    read them, so going back is refused while any is recorded that way (data kept)."""
    import pytest
    from sqlalchemy import text

    engine = create_db_engine(sqlite_url)
    try:
        migration.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO blobs (sha256, size, created_at, packed_in, packed_offset, packed_size, packed_method) "
                "VALUES (:sha, 3, '2026-11-20 09:00:00.000000', :package, 40, 3, 0)"
            ), {"sha": "ab" * 32, "package": "cd" * 32})  # fmt: skip
        with pytest.raises(RuntimeError, match="1 stored files live inside their packages"):
            migration.downgrade(engine, "0010")
        assert migration.current_revision(engine) == migration.head_revision()
        with engine.begin() as conn:
            conn.execute(text("UPDATE blobs SET packed_in = NULL"))
        migration.downgrade(engine, "0010")
        assert migration.current_revision(engine) == "0010"
    finally:
        engine.dispose()
