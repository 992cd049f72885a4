"""A point read built once with SQLAlchemy and run on a plain ``sqlite3`` connection.

The status poll is most of HWS's traffic. When the read cache misses (the import or
service request changed since it was kept), reading the row through an ``Engine`` costs
about 0.4 ms of CPU — pool check-out, the ``BEGIN`` event, the statement's execution
context, ``ROLLBACK`` — and a hop to a worker thread, for a SELECT that SQLite answers in
microseconds. A :class:`CompiledRead` keeps what SQLAlchemy would do per call, done once:
the SQL text and parameter order of the compiled statement, and the result processors of
its columns (so a ``UTCDateTime`` comes back exactly as through the engine). It returns a
row whose fields are read by name, like an engine's ``Row``, so the store's own mapping
functions turn it into a record unchanged.

Only for SELECTs of plain columns by bound parameters, on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import Dialect, Select


class DirectReadUnavailable(Exception):
    """No direct connection now (the change feed is down): read through the engine."""


class CompiledRead:
    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._dialect: Dialect | None = None
        self._sql = ""
        self._names: tuple[str, ...] = ()
        self._binds: tuple[Callable[[Any], Any] | None, ...] = ()
        self._results: tuple[tuple[int, Callable[[Any], Any]], ...] = ()
        self._row: type[tuple[Any, ...]] = tuple

    def _compile(self, dialect: Dialect) -> None:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise ValueError(f"{dialect.name} does not use positional parameters")
        names = tuple(compiled.positiontup)
        binds = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        results = []
        for index, column in enumerate(self.statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                results.append((index, processor))
        self._sql = compiled.string
        self._names = names
        self._binds = binds
        self._results = tuple(results)
        self._row = namedtuple("Row", [column.key for column in self.statement.selected_columns])  # type: ignore[misc]
        self._dialect = dialect

    def fetch_one(self, db: sqlite3.Connection, dialect: Dialect, params: Mapping[str, Any]) -> Any:
        """The first row (fields by name), or ``None``."""
        if self._dialect is not dialect:
            self._compile(dialect)
        values = [
            params[name] if bind is None else bind(params[name]) for name, bind in zip(self._names, self._binds, strict=True)
        ]
        found = db.execute(self._sql, values).fetchone()
        if found is None:
            return None
        if self._results:
            found = list(found)
            for index, processor in self._results:
                found[index] = processor(found[index])
        return self._row(*found)


class DirectReader(Protocol):
    """What a store function reads through instead of an ``Engine`` for a direct read
    (:class:`hws.store.sqlite_change_feed.SqliteChangeFeed`); raises
    :class:`DirectReadUnavailable` when it cannot read now."""

    def fetch_one(self, read: CompiledRead, params: Mapping[str, Any]) -> Any: ...
