"""The token endpoint's client look-up: always read from the database, cheaply.

Every token request reads the client's current record and keys (rule 6: a client
disabled a moment ago, by any process, is refused at once — so there is no time-based
cache). What is avoided is the work around that read: the record and its keys are
fetched in one statement through the driver, and the raw rows are compared with the
rows last seen for that client. Equal rows — the usual case — reuse the
:class:`Client` (with its parsed allow-list), the :class:`ClientKey` list and the parsed
public keys built from them last time; different rows (any change: disabled, scopes, networks, validity, a key
added or removed) are read again through the registry and replace the entry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from hws.keys.jose import JoseKey, verification_key
from hws.store.clients import CLIENT_WITH_KEYS, Client, ClientKey
from hws.store.database import read_only

#: Entries kept at most (one per client that asked for a token recently).
MAX_ENTRIES = 4096


@dataclass(frozen=True)
class ClientSnapshot:
    client: Client
    keys: list[ClientKey]
    public_keys: dict[str, JoseKey]  # kid → parsed public key

    def public_key(self, key: ClientKey) -> JoseKey:
        parsed = self.public_keys.get(key.kid)
        return parsed if parsed is not None else verification_key(key.public_jwk)


@dataclass(frozen=True)
class _Entry:
    rows: tuple[tuple[Any, ...], ...]
    snapshot: ClientSnapshot


def snapshot_of(client: Client, keys: Sequence[ClientKey]) -> ClientSnapshot:
    parsed: dict[str, JoseKey] = {}
    for key in keys:
        try:
            parsed[key.kid] = verification_key(key.public_jwk)
        except ValueError:
            continue  # not a key we can use: verification skips it as before
    return ClientSnapshot(client, list(keys), parsed)


class ClientLookup:
    """``lookup(client_id)`` → :class:`ClientSnapshot` or ``None``; one read each call."""

    def __init__(self, engine: Engine, load: Callable[[str], tuple[Client, list[ClientKey]] | None]) -> None:
        self._engine = engine
        self._reader = read_only(engine)
        self._load = load
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._thread = threading.local()
        compiled = CLIENT_WITH_KEYS.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)

    def _rows(self, client_id: str) -> tuple[tuple[Any, ...], ...]:
        try:
            return self._read(client_id)
        except self._engine.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy would raise it
            raise DBAPIError.instance(self._sql, None, exc, self._engine.dialect.loaded_dbapi.Error) from exc

    def _read(self, client_id: str) -> tuple[tuple[Any, ...], ...]:
        params: Any = (client_id,) if self._positional else {"client_id": client_id}
        if self._engine.dialect.name == "sqlite":
            # Each thread keeps one driver connection of its own for this read (taken out
            # of the pool, so it holds no pool slot), in autocommit mode: one SELECT is one
            # snapshot, and no transaction stays open between reads.
            connection = getattr(self._thread, "connection", None)
            if connection is not None and self._thread.pool is not self._engine.pool:  # disposed
                self._thread.connection = None
                connection.close()
                connection = None
            if connection is None:
                raw = self._engine.raw_connection()
                raw.detach()
                assert raw.dbapi_connection is not None  # just checked out
                connection = self._thread.connection = raw.dbapi_connection
                self._thread.pool = self._engine.pool
            try:
                return tuple(connection.execute(self._sql, params).fetchall())  # rows are tuples
            except Exception:
                self._thread.connection = None  # a fresh connection next time
                connection.close()
                raise
        with self._reader.connect() as conn:  # PostgreSQL: autocommit, one round trip
            return tuple(tuple(row) for row in conn.exec_driver_sql(self._sql, params).fetchall())

    def __call__(self, client_id: str) -> ClientSnapshot | None:
        rows = self._rows(client_id)
        if not rows:
            with self._lock:
                self._entries.pop(client_id, None)
            return None
        entry = self._entries.get(client_id)
        if entry is not None and entry.rows == rows:
            return entry.snapshot
        found = self._load(client_id)  # changed (or first seen): build it the registry's way
        if found is None:
            return None
        snapshot = snapshot_of(*found)
        if self._rows(client_id) != rows:  # changed while loading: use it, remember nothing
            return snapshot
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[client_id] = _Entry(rows, snapshot)
        return snapshot
