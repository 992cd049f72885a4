"""The token endpoint's single use on SQLite: the group's three statements
(``_record_all_sqlite``) decide every use and leave the same rows as a statement per key
(``_record_all_driver``, the path PostgreSQL keeps), whatever the group holds: repeated
keys, expired rows taken over, a DPoP proof's key beside an assertion's."""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from hws.store import assertion_uses
from hws.store.tables import metadata

KEYS = st.sampled_from([f"{n:064x}" for n in range(6)])
USE = st.tuples(
    KEYS,
    st.integers(900, 1100),  # expires_at
    st.integers(950, 1050),  # now
    st.lists(st.tuples(KEYS, st.integers(900, 1100)), max_size=2),  # also
    st.booleans(),  # with an audit row
)


def _database(folder: Path, name: str, stored: dict[str, int]) -> tuple[sqlite3.Connection, object]:
    engine = create_engine(f"sqlite:///{folder / name}")
    metadata.create_all(engine)
    connection = sqlite3.connect(folder / name, isolation_level=None)
    connection.executemany("INSERT INTO assertion_uses (key, expires_at) VALUES (?, ?)", list(stored.items()))
    return connection, engine


def _uses(drawn: list[tuple[str, int, int, list[tuple[str, int]], bool]]) -> list[assertion_uses._Use]:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    return [
        assertion_uses._Use(
            key,
            expires,
            now,
            {"at": at, "actor": f"c{n}", "action": "auth.token", "outcome": "issued"} if audit else None,
            also=tuple(also),
        )
        for n, (key, expires, now, also, audit) in enumerate(drawn)
    ]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(KEYS, st.integers(900, 1100), max_size=4), st.lists(USE, min_size=1, max_size=8))
def test_three_statements_decide_as_a_statement_per_key(stored: dict[str, int], drawn) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for name, record in (
            ("one.sqlite3", assertion_uses._record_all_sqlite),
            ("each.sqlite3", assertion_uses._record_all_driver),
        ):
            connection, engine = _database(Path(folder), name, stored)
            uses = _uses(drawn)
            connection.execute("BEGIN IMMEDIATE")
            record(connection, engine.dialect, uses)  # type: ignore[attr-defined]
            connection.execute("COMMIT")
            rows = sorted(connection.execute("SELECT key, expires_at FROM assertion_uses").fetchall())
            audit = connection.execute("SELECT actor, at FROM audit_events ORDER BY id").fetchall()
            results.append(([(u.first, u.replayed) for u in uses], rows, audit))
            connection.close()
            engine.dispose()  # type: ignore[attr-defined]
        assert results[0] == results[1]


def test_a_group_larger_than_one_statement_holds() -> None:
    """More uses than rows per statement: every chunk is written."""
    with tempfile.TemporaryDirectory() as folder:
        connection, engine = _database(Path(folder), "big.sqlite3", {})
        count = assertion_uses._ROWS_PER_STATEMENT * 2 + 7
        uses = _uses([(f"{n:064x}", 2000, 1000, [], True) for n in range(count)] + [(f"{3:064x}", 2000, 1000, [], True)])
        connection.execute("BEGIN IMMEDIATE")
        assertion_uses._record_all_sqlite(connection, engine.dialect, uses)  # type: ignore[attr-defined]
        connection.execute("COMMIT")
        assert [u.first for u in uses] == [True] * count + [False]
        assert connection.execute("SELECT count(*) FROM assertion_uses").fetchone() == (count,)
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone() == (count,)
        connection.close()
        engine.dispose()  # type: ignore[attr-defined]
