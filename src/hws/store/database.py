"""Database engines: SQLite (WAL) embedded default, PostgreSQL (psycopg 3) to scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from hws.store.sqlite_writers import BUSY_SECONDS, WriterConnection, begin_immediate

#: Seconds to wait for a PostgreSQL connection before giving up.
CONNECT_TIMEOUT = 5
POSTGRES_LIBPQ_DEFAULTS: dict[str, int] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


#: Execution option marking an engine or connection whose transactions only read.
READ_ONLY = "hws_read_only"


def _sqlite_begin(conn: Connection) -> None:
    # Take the write lock at BEGIN so concurrent writers queue instead of failing with
    # "database is locked" on lock upgrade: this process's threads on its writers' lock
    # (``sqlite_writers``: SQLite's busy handler sleeps between tries), other processes
    # on busy_timeout. Transactions marked read-only start DEFERRED: a WAL snapshot
    # that neither takes nor waits for the write lock.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    begin_immediate(conn.connection.dbapi_connection)


def read_only(engine: Engine) -> Engine:
    """``engine`` (same pool) for reads. Never write through it.

    On SQLite a transaction begins DEFERRED instead of IMMEDIATE, so readers do not
    queue behind writers for the write lock. On PostgreSQL the connection is in
    autocommit: a read is one round trip (no ``BEGIN`` before it, no ``ROLLBACK``
    after it), and each statement sees its own snapshot — read what must be
    consistent in one statement.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(**{READ_ONLY: True}, isolation_level="AUTOCOMMIT")
    return engine.execution_options(**{READ_ONLY: True})


def create_db_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine for ``url`` with the settings hws relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={
                "check_same_thread": False,
                "timeout": BUSY_SECONDS,
                "isolation_level": None,
                "factory": WriterConnection,
            },
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    # Noticed quickly when the server or the network goes (unless the URL says otherwise):
    # connecting gives up after CONNECT_TIMEOUT; an idle connection to a silent peer fails
    # after about a minute of unanswered keepalives; sent data unacknowledged for 30 s
    # fails the connection instead of hanging until the kernel gives up (~15 min).
    # No ping before each checkout (a round trip per use): a connection that died while
    # pooled fails its first statement instead, which invalidates the whole pool at once
    # (so after a server restart one call per process answers 503, and the next connects
    # afresh).
    connect_args = {k: v for k, v in POSTGRES_LIBPQ_DEFAULTS.items() if k not in parsed.query}
    return create_engine(parsed, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False, connect_args=connect_args)


def unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database cannot be reached right now (refused or
    lost connection, server shutting down, no pooled connection in time, SQLite disk
    I/O or lock timeout) — an outage to wait out, not a bug in the statement."""
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installations
        return False
    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def notification_connection(engine: Engine, application_name: str) -> Any:
    """A psycopg connection of its own (autocommit, the libpq defaults above) to ``engine``'s
    PostgreSQL database, for a thread that ``LISTEN``s; outside the pool."""
    import psycopg  # PostgreSQL deployments only

    args, kwargs = engine.dialect.create_connect_args(engine.url)
    kwargs = {**POSTGRES_LIBPQ_DEFAULTS, **kwargs, "autocommit": True, "application_name": application_name}
    return psycopg.connect(*args, **kwargs)
