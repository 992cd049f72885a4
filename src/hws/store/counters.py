"""Gap-free sequences (SRN, IRN) allocated inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from hws.store.tables import counters


def next_value(conn: Connection, name: str, start: int) -> int:
    """The next number of sequence ``name`` (``start`` first). Atomic: the row lock (or
    SQLite's write lock) serialises concurrent allocations until the caller commits."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(counters).values(name=name, value=start - 1).on_conflict_do_nothing())
    return int(
        conn.execute(
            update(counters).where(counters.c.name == name).values(value=counters.c.value + 1).returning(counters.c.value)
        ).scalar_one()
    )
