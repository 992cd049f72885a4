"""How job runners learn that a job was queued, instead of finding it at their next poll.

- In one process (``hws serve``: the API and its job-runner threads): the queue rings a
  :class:`JobSignal` when the transaction that queued a job commits; the runners waiting
  on it wake at once.
- Across processes on PostgreSQL (API processes and ``hws worker`` processes): queuing a
  job also sends ``NOTIFY hws_jobs`` in the same transaction (PostgreSQL delivers it at
  commit, never for a rolled-back one); each runner process keeps a
  :class:`JobListener` that rings its own signal when it hears one.

Polling stays as the fallback (``HWS_WORKER_POLL_INTERVAL``): a missed ring costs at most
one poll interval, never a job.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine, event, func, select

from hws.store.database import notification_connection

log = logging.getLogger("hws.store.job_signal")

CHANNEL = "hws_jobs"
APPLICATION_NAME = "hws-job-listener"
#: in the pooled connection's ``info``: this transaction queued a job / it committed
_QUEUED = "hws_job_queued"
_COMMITTED = "hws_job_queued_committed"


class JobSignal:
    """A doorbell with a counter: a runner notes :attr:`generation` before it looks for a
    job, and :meth:`wait` returns as soon as it moved (so a ring between the look and the
    wait is not lost)."""

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

    def watch(self, engine: Engine) -> None:
        """Ring when a transaction of ``engine`` that queued a job (:meth:`ring_after_commit`)
        has committed: its connection back in the pool is after the commit, whereas
        SQLAlchemy's ``commit`` event comes just before it."""
        event.listen(engine, "commit", _committing)
        event.listen(engine, "rollback", _rolling_back)
        event.listen(engine, "checkin", self._returned)

    def ring_after_commit(self, conn: Connection) -> None:
        """Ring once ``conn``'s current transaction has committed (not if it rolls back); on
        PostgreSQL, also tell the other processes (``NOTIFY``, delivered at commit)."""
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_notify(CHANNEL, "")))
        conn.info[_QUEUED] = True

    def _returned(self, _dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            self.ring()


def _committing(conn: Connection) -> None:
    if conn.invalidated:
        return
    if conn.info.pop(_QUEUED, False):
        conn.info[_COMMITTED] = True


def _rolling_back(conn: Connection) -> None:
    if conn.invalidated:  # the connection is gone (an outage): its info with it; touching it would raise
        return
    conn.info.pop(_QUEUED, None)


class JobListener:
    """One thread with its own PostgreSQL connection, ``LISTEN hws_jobs``: each
    notification rings ``signal``. Connection lost: retried with backoff (runners poll
    meanwhile)."""

    def __init__(self, engine: Engine, signal: JobSignal, *, retry_seconds: float = 1.0, max_retry_seconds: float = 30.0):
        if engine.dialect.name != "postgresql":
            raise ValueError("job notifications need PostgreSQL")
        self.engine = engine
        self.signal = signal
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        #: stopped, connecting, listening, down: …
        self.state = "stopped"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = "connecting"
        self._thread = threading.Thread(target=self._run, name="hws-job-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.cancel_safe(timeout=1.0)  # wakes notifies()
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.state = "stopped"

    def _connect(self) -> Any:
        connection = notification_connection(self.engine, APPLICATION_NAME)
        connection.execute(f"LISTEN {CHANNEL}")
        return connection

    def _run(self) -> None:
        delay = self.retry_seconds
        while not self._stop.is_set():
            try:
                self._connection = self._connect()
            except Exception as exc:  # the database may be down: runners poll meanwhile
                self.state = f"down: {type(exc).__name__}"
                log.info("job listener cannot connect: %s", exc, extra={"event": "jobs.listener_down"})
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_seconds)
                continue
            delay = self.retry_seconds
            self.state = "listening"
            self.signal.ring()  # jobs queued while not listening are looked for now
            try:
                while not self._stop.is_set():
                    for _note in self._connection.notifies(timeout=5.0):
                        self.signal.ring()
                    if not self._stop.is_set():
                        self._connection.execute("SELECT 1")  # a quiet channel: is the connection alive?
            except Exception as exc:
                if not self._stop.is_set():
                    self.state = f"down: {type(exc).__name__}"
                    log.warning("job listener lost: %s", exc, extra={"event": "jobs.listener_down"})
            finally:
                try:
                    self._connection.close()
                except Exception:
                    pass
                self._connection = None
            self._stop.wait(delay)
