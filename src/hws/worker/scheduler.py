"""The scheduler: one leader among all processes runs the periodic work — the deadline
sweeper and the weekly publisher (catching up on weeks missed while down).

Leadership: on PostgreSQL a session-level advisory lock held on a dedicated connection
(lost, and retaken by another process, when that connection dies); on SQLite an
exclusive lock on ``<data>/scheduler.lock`` (SQLite serves processes of one machine).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hws.store.database import unavailable
from hws.usecases.examination import Examiner
from hws.usecases.publishing import Publisher

log = logging.getLogger("hws.worker.scheduler")

ADVISORY_KEY = 0x48575331  # "HWS1"


class Leadership:
    def __init__(self, service: Any) -> None:
        self._service = service
        self._conn: Any = None
        self._file: Any = None

    def acquire(self) -> bool:
        """True while this process is the leader (cheap to call repeatedly)."""
        if self._service.engine.dialect.name == "postgresql":
            return self._postgres()
        return self._file_lock()

    def _postgres(self) -> bool:
        try:
            if self._conn is not None:
                self._conn.execute(text("SELECT 1"))
                self._conn.rollback()  # never left idle in a transaction (the lock is the session's)
                return True
            conn = self._service.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        except Exception:  # the connection died: leadership is gone
            self.release()
            return False

    def _file_lock(self) -> bool:
        if self._file is not None:
            return True
        path = Path(self._service.settings.data_dir) / "scheduler.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - kept open while leading
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def tick(service: Any) -> dict[str, list[str]]:
    """One round of periodic work (the leader's)."""
    abandoned = Examiner(service).abandon_overdue()
    published = Publisher(service).catch_up()
    return {"abandoned": abandoned, "published": published}


class Scheduler:
    def __init__(self, service: Any) -> None:
        self.service = service
        self.leadership = Leadership(service)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hws-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self.leadership.release()

    def _run(self) -> None:
        interval = self.service.settings.scheduler_interval
        while not self._stop.is_set():
            try:
                if self.leadership.acquire():
                    done = tick(self.service)
                    if done["abandoned"] or done["published"]:
                        log.info("scheduler round", extra={"event": "scheduler.round", **done})
            except Exception as exc:  # keep the scheduler alive; the next round retries
                if unavailable(exc):
                    log.warning("scheduler round skipped: database unavailable", extra={"event": "scheduler.unavailable"})
                else:
                    log.exception("scheduler round failed", extra={"event": "scheduler.error"})
            self._stop.wait(interval)
