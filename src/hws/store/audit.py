"""The audit log: every authentication, submission, status change, publication and
download — who, what, when, from where. Append-only (database triggers refuse UPDATE
and DELETE).

Events that change state are written in the same transaction as the change
(:func:`record`), so the log and the data never disagree. Events of reads
(token issuance, downloads) go through :class:`AuditLog`, which batches them in the
background (one commit for many, flushed every ``interval`` seconds and at shutdown):
on a hard crash the last fraction of a second of read events can be lost, never a
state change.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from hws.domain.clock import Clock
from hws.store.tables import audit_events

log = logging.getLogger("hws.audit")


@dataclass(frozen=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    outcome: str = "ok"
    office: str | None = None
    target: str | None = None
    source: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "actor": self.actor[:100],
            "office": self.office,
            "action": self.action,
            "target": self.target[:100] if self.target else None,
            "outcome": self.outcome,
            "source": self.source,
            "detail": json.dumps(self.detail, sort_keys=True, default=str) if self.detail else None,
        }


_INSERT = insert(audit_events)  # built once; the row's values are the parameters


def record(conn: Connection, event: AuditEvent) -> None:
    """Write ``event`` inside the caller's transaction."""
    conn.execute(_INSERT, event.row())


class AuditLog:
    """Batched, background writer for read events; :meth:`close` flushes."""

    def __init__(self, engine: Engine, clock: Clock, *, interval: float = 0.2, capacity: int = 100_000) -> None:
        self._engine = engine
        self.clock = clock
        self._queue: queue.Queue[AuditEvent | None] = queue.Queue(capacity)
        self._interval = interval
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.dropped = 0

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hws-audit", daemon=True)
                self._thread.start()

    def log(self, actor: str, action: str, **fields: Any) -> None:
        event = AuditEvent(at=self.clock.now(), actor=actor, action=action, **fields)
        self._start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            log.error("audit queue full: event dropped", extra={"event": "audit.dropped", "action": action})

    def _drain(self, batch: list[AuditEvent]) -> bool:
        """Move what is queued into ``batch``; ``True`` when the stop marker was seen."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)

    def _write(self, batch: list[AuditEvent]) -> None:
        if not batch:
            return
        for attempt in range(5):
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(audit_events), [e.row() for e in batch])
                return
            except Exception:  # database briefly unavailable: retry, then report
                threading.Event().wait(0.5 * (attempt + 1))
        self.dropped += len(batch)
        log.error("audit events could not be written", extra={"event": "audit.lost", "count": len(batch)})

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stop = first is None or self._drain(batch)
            self._write(batch)
            if stop:
                return
            self._closing.wait(self._interval)  # batch for a while, unless closing

    def flush(self, timeout: float = 10) -> None:
        """Write everything logged so far (tests, shutdown); logging may go on after."""
        self.close(timeout)
        with self._lock:
            self._thread = None
            self._closing = threading.Event()

    def close(self, timeout: float = 10) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._closing.set()
            self._queue.put(None)
            self._thread.join(timeout)


def query(
    engine: Engine,
    *,
    actor: str | None = None,
    action: str | None = None,
    office: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Events matching every filter given, newest first (``action`` may hold ``*``
    wildcards); ``before``: only events older than the one with that id (the next page)."""
    stmt = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(audit_events.c.id < before)
    if actor:
        stmt = stmt.where(audit_events.c.actor == actor)
    if action:
        stmt = stmt.where(audit_events.c.action.like(action.replace("*", "%")))
    if office:
        stmt = stmt.where(audit_events.c.office == office)
    if target:
        stmt = stmt.where(audit_events.c.target == target)
    if since:
        stmt = stmt.where(audit_events.c.at >= since)
    if until:
        stmt = stmt.where(audit_events.c.at < until)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        {
            "id": r.id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "office": r.office,
            "action": r.action,
            "target": r.target,
            "outcome": r.outcome,
            "source": r.source,
            "detail": json.loads(r.detail) if r.detail else {},
        }
        for r in rows
    ]
