"""A doorbell rung, in this process, once a transaction that asked for it has committed.

A waiter notes :attr:`CommitSignal.generation` before it looks for work and
:meth:`~CommitSignal.wait` returns as soon as the generation moved, so a ring between the
look and the wait is not lost. A transaction asks with :meth:`~CommitSignal.mark`; the
ring comes when its connection is back in the pool (after the commit: SQLAlchemy's
``commit`` event comes just before it), never for a rolled-back transaction.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, event


class CommitSignal:
    #: the key in a pooled connection's ``info`` that says "ring after this transaction"
    key: ClassVar[str]

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Until the generation differs from ``seen`` (True) or ``timeout`` seconds (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != seen, timeout)

    @classmethod
    def mark(cls, conn: Connection) -> None:
        """Ring every watching signal of this kind once ``conn``'s transaction has committed."""
        conn.info[cls.key] = True

    def watch(self, engine: Engine) -> None:
        committed = f"{self.key}:committed"

        def committing(conn: Connection) -> None:
            if not conn.invalidated and conn.info.pop(self.key, False):
                conn.info[committed] = True

        def rolling_back(conn: Connection) -> None:
            if not conn.invalidated:  # an invalidated connection's info is gone with it; touching it would raise
                conn.info.pop(self.key, None)

        def returned(_dbapi_connection: Any, record: Any) -> None:
            if record is not None and record.info.pop(committed, False):
                self.ring()

        event.listen(engine, "commit", committing)
        event.listen(engine, "rollback", rolling_back)
        event.listen(engine, "checkin", returned)
