"""Gap-free sequences (SRN, IRN) allocated inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.dialects import postgresql, sqlite

from hws.store.tables import counters

# Built once (statements built per call cost more CPU than their execution); per dialect
# for the conflict clause.
_START = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(counters)
    .values(name=bindparam("counter"), value=bindparam("before_first"))
    .on_conflict_do_nothing()
    for dialect in (postgresql, sqlite)
}
_NEXT = (
    update(counters).where(counters.c.name == bindparam("counter")).values(value=counters.c.value + 1).returning(counters.c.value)
)


def next_value(conn: Connection, name: str, start: int) -> int:
    """The next number of sequence ``name`` (``start`` first). Atomic: the row lock (or
    SQLite's write lock) serialises concurrent allocations until the caller commits."""
    conn.execute(
        _START["postgresql" if conn.dialect.name == "postgresql" else "sqlite"], {"counter": name, "before_first": start - 1}
    )
    return int(conn.execute(_NEXT, {"counter": name}).scalar_one())
