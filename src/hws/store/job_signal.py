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

from sqlalchemy import Connection, Engine, func, select

from hws.store.commit_signal import CommitSignal
from hws.store.notification_listener import NotificationListener

CHANNEL = "hws_jobs"
APPLICATION_NAME = "hws-job-listener"


class JobSignal(CommitSignal):
    """Rung when a transaction that queued a job has committed (:meth:`ring_after_commit`)."""

    key = "hws_job_queued"

    def ring_after_commit(self, conn: Connection) -> None:
        """Ring once ``conn``'s current transaction has committed (not if it rolls back); on
        PostgreSQL, also tell the other processes (``NOTIFY``, delivered at commit)."""
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_notify(CHANNEL, "")))
        self.mark(conn)


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
