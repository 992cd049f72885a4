"""The sandbox calendar: the system clock plus an offset kept in the database, so every
process of a sandbox sees the same "now" after ``hws admin clock advance``.

Only the business calendar moves (deadlines, registration dates, publication weeks);
authentication always uses the real clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hws.domain.clock import Clock
from hws.store.tables import sandbox_clock

CACHE_SECONDS = 0.5


class SandboxClock:
    def __init__(self, engine: Engine, base: Clock) -> None:
        self._engine = engine
        self._base = base
        self._lock = threading.Lock()
        self._offset = 0
        self._read_at = -1.0

    def offset(self, *, fresh: bool = False) -> int:
        with self._lock:
            if fresh or time.monotonic() - self._read_at > CACHE_SECONDS:
                with self._engine.connect() as conn:
                    value = conn.execute(select(sandbox_clock.c.offset_seconds).where(sandbox_clock.c.id == 1)).scalar()
                self._offset = int(value or 0)
                self._read_at = time.monotonic()
            return self._offset

    def timestamp(self) -> float:
        return self._base.timestamp() + self.offset()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def advance(self, seconds: int) -> int:
        """Move the calendar forward (never backward: published weeks stay published)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        with self._engine.begin() as conn:
            conn.execute(
                dialect.insert(sandbox_clock).values(id=1, offset_seconds=0, updated_at=self._base.now()).on_conflict_do_nothing()
            )
            conn.execute(
                update(sandbox_clock)
                .where(sandbox_clock.c.id == 1)
                .values(offset_seconds=sandbox_clock.c.offset_seconds + seconds, updated_at=self._base.now())
            )
        return self.offset(fresh=True)
