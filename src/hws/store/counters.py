"""Gap-free sequences (SRN, IRN) allocated inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy import Connection, Executable, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from hws.store.tables import counters


# Built once (statements built per call cost more CPU than their execution); per dialect
# for the conflict clause. One statement: the first allocation inserts ``start``, every
# later one adds one to the row.
def _upsert(insert: postgresql.Insert | sqlite.Insert) -> Executable:
    values = insert.values(name=bindparam("counter"), value=bindparam("first"))
    return values.on_conflict_do_update(index_elements=[counters.c.name], set_={"value": counters.c.value + 1}).returning(
        counters.c.value
    )


_NEXT = {"postgresql": _upsert(postgresql.insert(counters)), "sqlite": _upsert(sqlite.insert(counters))}


def next_value(conn: Connection, name: str, start: int) -> int:
    """The next number of sequence ``name`` (``start`` first). Atomic: the row lock (or
    SQLite's write lock) serialises concurrent allocations until the caller commits."""
    statement = _NEXT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    return int(conn.execute(statement, {"counter": name, "first": start}).scalar_one())
