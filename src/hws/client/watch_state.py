"""What ``hws watch`` remembers between runs: one SQLite file (the standard library's
``sqlite3``; the office kit needs no database server).

- ``followed``: the imports and service requests being followed, with the last state seen;
- ``downloads``: the publications already downloaded and verified;
- ``events``: the outbox of events, each with a stable key (``bulletin:202648``,
  ``import:<id>:Imported``…) that is UNIQUE, so an event is recorded once however often
  it is seen; its hook state (``pending``, ``done``, ``failed``, ``none`` when no hook
  is configured) says whether its hook still has to run;
- ``settings``: the office, the first week to download.

Every change of state is written with its event in one transaction (``synchronous=FULL``,
WAL): a watcher killed at any moment finds, at its restart, either both or neither, and
runs the hooks of the recorded events that have not run yet. One watcher per state file:
a second one is refused (an advisory lock on ``<state>.lock``).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hws.client.errors import InvalidArgument

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS followed (
    kind TEXT NOT NULL CHECK (kind IN ('import', 'request')),
    id TEXT NOT NULL,
    state TEXT,
    final INTEGER NOT NULL DEFAULT 0,
    package TEXT,
    sha256 TEXT,
    since TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS followed_open ON followed (final, kind);
CREATE INDEX IF NOT EXISTS followed_sha256 ON followed (sha256);
CREATE TABLE IF NOT EXISTS downloads (
    kind TEXT NOT NULL,
    week TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, week)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    at TEXT NOT NULL,
    hook_state TEXT NOT NULL CHECK (hook_state IN ('pending', 'done', 'failed', 'none')),
    hook_attempts INTEGER NOT NULL DEFAULT 0,
    hook_error TEXT,
    hook_at TEXT
);
CREATE INDEX IF NOT EXISTS events_pending ON events (hook_state, seq);
"""


class StateError(InvalidArgument):
    """The state file cannot be used: another watcher holds it, it is another office's, or not a
    state file at all (a setting to fix: exit status 2)."""


@dataclass(frozen=True)
class Event:
    """Something that happened, recorded once: ``type`` (``import.imported``,
    ``bulletin.downloaded``…), ``key`` (stable: the same event always has the same key),
    ``seq`` (its order), ``payload`` (what a hook needs)."""

    seq: int
    key: str
    type: str
    payload: dict[str, Any]
    at: str
    hook_state: str = "none"
    hook_attempts: int = 0
    hook_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.key, "event": self.type, "at": self.at, **self.payload}


@dataclass(frozen=True)
class Followed:
    kind: str  # import | request
    id: str
    state: str | None
    package: str | None = None
    sha256: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WatchState:
    """The state file of one watcher (see the module's description)."""

    def __init__(self, path: Path, *, lock: bool = True, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = None
        if lock:
            self._lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                self._lock_fd = None
                raise StateError(f"{path} is in use by another hws watch (one watcher per state file)") from None
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(f"{path} was written by a newer hws (state version {version}); upgrade hws")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StateError(f"{path} is not an hws watch state file ({exc})") from None

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> WatchState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> str:
        return self._clock().isoformat(timespec="seconds")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------------ settings

    def setting(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self._db.execute("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                         (name, value))  # fmt: skip

    # ------------------------------------------------------------------ followed

    def follow(self, kind: str, id: str, *, package: str | None = None, sha256: str | None = None) -> bool:
        """Start following an import or a service request; False when it already was."""
        cursor = self._db.execute(
            "INSERT INTO followed (kind, id, package, sha256, since, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO NOTHING",
            (kind, id, package, sha256, self._now(), self._now()),
        )
        return cursor.rowcount == 1

    def open_items(self, kind: str) -> list[Followed]:
        rows = self._db.execute(
            "SELECT kind, id, state, package, sha256 FROM followed WHERE kind = ? AND final = 0 ORDER BY since, id", (kind,)
        )
        return [Followed(**dict(row)) for row in rows]

    def all_items(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT kind, id, state, final, package, since, updated_at FROM followed ORDER BY since, id")
        return [{**dict(row), "final": bool(row["final"])} for row in rows]

    def import_of_package(self, sha256: str) -> Followed | None:
        row = self._db.execute(
            "SELECT kind, id, state, package, sha256 FROM followed WHERE kind = 'import' AND sha256 = ? ORDER BY since DESC",
            (sha256,),
        ).fetchone()
        return None if row is None else Followed(**dict(row))

    def set_state(self, db: sqlite3.Connection, kind: str, id: str, state: str, *, final: bool) -> None:
        db.execute(
            "UPDATE followed SET state = ?, final = ?, updated_at = ? WHERE kind = ? AND id = ?",
            (state, int(final), self._now(), kind, id),
        )

    # ------------------------------------------------------------------ downloads

    def downloaded(self, kind: str, week: str) -> bool:
        return self._db.execute("SELECT 1 FROM downloads WHERE kind = ? AND week = ?", (kind, week)).fetchone() is not None

    def downloads(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db.execute("SELECT * FROM downloads ORDER BY kind, week")]

    def add_download(self, db: sqlite3.Connection, kind: str, week: str, path: str, size: int, sha256: str) -> None:
        db.execute(
            "INSERT INTO downloads (kind, week, path, size, sha256, at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, week) DO NOTHING",
            (kind, week, path, size, sha256, self._now()),
        )

    # ------------------------------------------------------------------ events

    def add_event(self, db: sqlite3.Connection, key: str, type: str, payload: dict[str, Any], *, hook: bool) -> Event | None:
        """Record an event (in the caller's transaction); None when ``key`` was recorded before."""
        at = self._now()
        state = "pending" if hook else "none"
        cursor = db.execute(
            "INSERT INTO events (key, type, payload, at, hook_state) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, type, json.dumps(payload, sort_keys=True, default=str), at, state),
        )
        if cursor.rowcount != 1:
            return None
        return Event(int(cursor.lastrowid or 0), key, type, payload, at, state)

    def pending_hooks(self) -> list[Event]:
        rows = self._db.execute("SELECT * FROM events WHERE hook_state = 'pending' ORDER BY seq")
        return [self._event(row) for row in rows]

    def events(self, *, limit: int | None = None) -> list[Event]:
        sql = "SELECT * FROM events ORDER BY seq DESC" + (" LIMIT ?" if limit else "")
        rows = self._db.execute(sql, (limit,) if limit else ())
        return list(reversed([self._event(row) for row in rows]))

    def hook_ran(self, seq: int, *, ok: bool, error: str | None, give_up: bool) -> None:
        state = "done" if ok else ("failed" if give_up else "pending")
        self._db.execute(
            "UPDATE events SET hook_state = ?, hook_attempts = hook_attempts + 1, hook_error = ?, hook_at = ? WHERE seq = ?",
            (state, error, self._now(), seq),
        )

    @staticmethod
    def _event(row: sqlite3.Row) -> Event:
        return Event(
            row["seq"], row["key"], row["type"], json.loads(row["payload"]), row["at"],
            row["hook_state"], row["hook_attempts"], row["hook_error"],
        )  # fmt: skip
