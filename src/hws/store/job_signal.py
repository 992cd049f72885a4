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

import threading
from typing import Any

from sqlalchemy import Connection, Engine, event, func, select

from hws.store.notification_listener import NotificationListener

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


class JobListener(NotificationListener):
    """One thread with its own PostgreSQL connection, ``LISTEN hws_jobs``: each
    notification rings ``signal``. Connection lost: retried with backoff (runners poll
    meanwhile)."""

    channel = CHANNEL
    application_name = APPLICATION_NAME
    thread_name = "hws-job-listener"
    down_event = "jobs.listener_down"

    def __init__(self, engine: Engine, signal: JobSignal, *, retry_seconds: float = 1.0, max_retry_seconds: float = 30.0):
        super().__init__(engine, retry_seconds=retry_seconds, max_retry_seconds=max_retry_seconds)
        self.signal = signal

    def _listening(self) -> None:
        self.signal.ring()  # jobs queued while not listening are looked for now

    def _heard(self, payload: str) -> None:
        self.signal.ring()
