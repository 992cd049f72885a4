"""The job queue: a table in the service's database, claimed with leases.

- :meth:`JobQueue.enqueue` inserts a job inside the caller's transaction, so a job exists
  exactly when the row it works on was committed. :class:`JobKind` names what a job does.
- :meth:`JobQueue.claim` takes the oldest runnable job — queued and due, or running with
  an expired lease (its worker died) — and leases it. PostgreSQL uses
  ``FOR UPDATE SKIP LOCKED`` so workers never wait for each other; on SQLite the
  write lock taken at ``BEGIN IMMEDIATE`` serialises claims.
- A worker finishes a job with :meth:`JobQueue.complete` *in the same transaction as its
  effect*, guarded by its lease: a worker that lost its lease cannot commit its work twice.
- Failures are retried with backoff; after ``max_attempts`` the job is ``dead``, its error kept.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BindParameter, Connection, Engine, Select, Update, and_, bindparam, func, insert, or_, select, update

from hws.domain.clock import Clock
from hws.store.job_signal import JobSignal
from hws.store.tables import jobs

QUEUED, RUNNING, DONE, DEAD = "queued", "running", "done", "dead"


class JobKind(StrEnum):
    #: validate a received package and open its service request (or reject it)
    IMPORT = "import"
    #: automatic examination of a service request (``HWS_EXAMINATION=auto``)
    EXAMINE = "examine"


def worker_identity() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _ms(clock: Clock) -> int:
    return int(clock.timestamp() * 1000)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    ref: str
    status: str
    attempts: int
    max_attempts: int
    lease_owner: str | None
    last_error: str | None


#: the job statuses an operator watches, by the name the metrics give them
BACKLOG_STATES = {QUEUED: "pending", RUNNING: "leased", DEAD: "dead"}


@dataclass(frozen=True)
class Backlog:
    """The queue at one moment.

    ``counts``: jobs per ``(kind, state)``: ``pending`` (queued: due, or waiting for a
    retry after a failure), ``leased`` (held by a worker; a dead worker's job stays leased
    until its lease expires and another worker retakes it), ``dead`` (attempts exhausted,
    waiting for an operator). ``oldest_pending_seconds``: per kind with pending jobs, how
    long the one that became due first has been waiting (0 while none is due yet)."""

    counts: dict[tuple[str, str], int]
    oldest_pending_seconds: dict[str, float]


class LeaseLost(Exception):
    """The job's lease expired and another worker may have taken it."""


# The queue's busiest statements, built once (building one per call costs more CPU than
# executing it): the values are the parameters.
_INSERT = insert(jobs).returning(jobs.c.id)
_COMPLETE = (
    update(jobs)
    .where(jobs.c.id == bindparam("job_id"), jobs.c.lease_owner == bindparam("owner"), jobs.c.status == RUNNING)
    .values(status=DONE, lease_expires_at=None, updated_at=bindparam("stamp"))
    .returning(jobs.c.id)
)


@functools.cache
def _candidate(postgres: bool, by_kind: bool) -> Select[tuple[int]]:
    """The next runnable job's id: due and queued, or running with its lease expired."""
    now: BindParameter[int] = bindparam("now", type_=jobs.c.run_after.type)
    runnable = or_(
        and_(jobs.c.status == QUEUED, jobs.c.run_after <= now),
        and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now),
    )
    candidate = select(jobs.c.id).where(runnable).order_by(jobs.c.run_after, jobs.c.id).limit(1)
    if by_kind:
        candidate = candidate.where(jobs.c.kind.in_(bindparam("kinds", expanding=True)))
    if postgres:
        candidate = candidate.with_for_update(skip_locked=True)
    return candidate


@functools.cache
def _claim(postgres: bool, by_kind: bool) -> Update:
    """Lease the next runnable job in one statement (its row back, or none): the
    candidate is a subquery of the UPDATE."""
    return (
        update(jobs)
        .where(jobs.c.id == _candidate(postgres, by_kind).scalar_subquery())
        .values(
            status=RUNNING,
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("lease_until"),
            attempts=jobs.c.attempts + 1,
            updated_at=bindparam("stamp"),
        )
        .returning(*jobs.c)
    )


@contextmanager
def lease_commit(conn: Connection) -> Iterator[None]:
    """A transaction that only takes or renews a lease, committed without waiting for the
    disk: SQLite's ``synchronous=NORMAL`` for that one commit (WAL mode), PostgreSQL's
    ``synchronous_commit`` off for it. Lost in a power cut, a lease is harmless — the job
    is queued again, or its lease expires, and it is retaken; its effect is committed
    durably (FULL) with ``complete``, and that commit makes every earlier one durable too
    (the log is written in order). It saves a disk flush per job (~1-4 ms here)."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield
        finally:
            try:
                raw.execute("PRAGMA synchronous=FULL")
            except Exception:
                conn.invalidate()  # never back in the pool committing without a flush
                raise
    else:
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            yield


def _insert(conn: Connection, *, kind: str, ref: str, now: datetime, max_attempts: int, run_after_ms: int) -> int:
    values = {
        "kind": kind,
        "ref": ref,
        "status": QUEUED,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after_ms,
        "created_at": now,
        "updated_at": now,
    }
    return int(conn.execute(_INSERT, values).scalar_one())


def _job(row: Any) -> Job:
    return Job(row.id, row.kind, row.ref, row.status, row.attempts, row.max_attempts, row.lease_owner, row.last_error)


class JobQueue:
    def __init__(self, engine: Engine, clock: Clock, *, lease_seconds: int, max_attempts: int = 5) -> None:
        self._engine = engine
        self._clock = clock
        self._lease_ms = lease_seconds * 1000
        self._max_attempts = max_attempts
        #: rung when a transaction that queued a job has committed (runners wait on it)
        self.signal = JobSignal()
        self.signal.watch(engine)

    def enqueue(self, conn: Connection, kind: JobKind | str, ref: str, *, max_attempts: int | None = None) -> int:
        """A job runnable now, inserted in the caller's transaction; returns its id. The
        runners are woken once that transaction commits (:mod:`hws.store.job_signal`)."""
        self.signal.ring_after_commit(conn)
        return _insert(
            conn,
            kind=str(kind),
            ref=ref,
            now=self._clock.now(),
            max_attempts=self._max_attempts if max_attempts is None else max_attempts,
            run_after_ms=_ms(self._clock),
        )

    def claim(self, owner: str, kinds: tuple[str, ...] | None = None) -> Job | None:
        now = _ms(self._clock)
        params: dict[str, Any] = {"now": now, "owner": owner, "lease_until": now + self._lease_ms, "stamp": self._clock.now()}
        if kinds:
            params["kinds"] = list(kinds)
        postgres = self._engine.dialect.name == "postgresql"
        with self._engine.connect() as conn, lease_commit(conn):
            row = conn.execute(_claim(postgres, bool(kinds)), params).first()
        return _job(row) if row else None

    def extend(self, job: Job) -> None:
        """Renew the lease of a long job; raises :class:`LeaseLost` if it was taken."""
        with self._engine.connect() as conn, lease_commit(conn):
            changed = conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.lease_owner == job.lease_owner, jobs.c.status == RUNNING)
                .values(lease_expires_at=_ms(self._clock) + self._lease_ms)
                .returning(jobs.c.id)
            ).first()
        if changed is None:
            raise LeaseLost(job.id)

    def complete(self, conn: Connection, job: Job) -> None:
        """Mark ``job`` done inside the caller's transaction (which holds its effect)."""
        changed = conn.execute(_COMPLETE, {"job_id": job.id, "owner": job.lease_owner, "stamp": self._clock.now()}).first()
        if changed is None:
            raise LeaseLost(job.id)

    def fail(self, job: Job, error: str) -> str:
        """Record a failure: retry later with backoff, or ``dead`` after the last attempt."""
        dead = job.attempts >= job.max_attempts
        delay_ms = min(2**job.attempts, 300) * 1000
        with self._engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.lease_owner == job.lease_owner)
                .values(
                    status=DEAD if dead else QUEUED,
                    run_after=_ms(self._clock) + delay_ms,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=error[:4000],
                    updated_at=self._clock.now(),
                )
            )
        return DEAD if dead else QUEUED

    def backlog(self) -> Backlog:
        """The queue as an operator watches it, read with one grouped query over the jobs
        not done (the status index): how many per kind and state, the oldest due job's wait."""
        query = (
            select(jobs.c.kind, jobs.c.status, func.count(), func.min(jobs.c.run_after))
            .where(jobs.c.status.in_(tuple(BACKLOG_STATES)))
            .group_by(jobs.c.kind, jobs.c.status)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        now = _ms(self._clock)
        counts: dict[tuple[str, str], int] = {}
        waiting: dict[str, float] = {}
        for kind, status, n, first_run_after in rows:
            counts[(kind, BACKLOG_STATES[status])] = int(n)
            if status == QUEUED:
                waiting[kind] = max(now - int(first_run_after), 0) / 1000
        return Backlog(counts, waiting)

    def counts(self) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
        return {status: int(n) for status, n in rows}

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Job]:
        query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if status:
            query = query.where(jobs.c.status == status)
        with self._engine.connect() as conn:
            return [_job(r) for r in conn.execute(query).all()]

    def retry(self, job_id: int) -> bool:
        """Put a dead job back in the queue (operator action)."""
        with self._engine.begin() as conn:
            return (
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == DEAD)
                    .values(status=QUEUED, attempts=0, run_after=_ms(self._clock), updated_at=self._clock.now())
                    .returning(jobs.c.id)
                ).first()
                is not None
            )
