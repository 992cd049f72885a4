"""The event outbox and the office's feed.

:func:`record` writes an event inside the caller's transaction, numbered with the
office's own sequence (a counter row, locked until the commit, so sequence order is
commit order), and queues one delivery per enabled webhook endpoint of the office in
the same statement. :class:`EventSignal` wakes, in this process, the feed's long polls
and the delivery workers once that transaction commits; other processes notice the new
rows at their next look (``HWS_EVENT_POLL_INTERVAL``, ``HWS_WORKER_POLL_INTERVAL``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hws.domain.events import FEED_TYPES, Event
from hws.store.commit_signal import CommitSignal
from hws.store.counters import next_value
from hws.store.database import read_only
from hws.store.tables import clients, counters, event_cursors, events, webhook_deliveries, webhook_endpoints

PENDING = "pending"


def _counter(office: str) -> str:
    return f"events:{office}"


def _pruned_counter(office: str) -> str:
    return f"events-pruned:{office}"


class EventSignal(CommitSignal):
    """A doorbell rung after a transaction that recorded events commits (this process)."""

    key = "hws_event_recorded"


def _event(row: Any) -> Event:
    return Event(row.event_id, row.office, int(row.sequence), row.type, row.subject, row.time, json.loads(row.data))


# Built once (a statement built per call costs more CPU than its execution; an event is
# recorded in the transaction of every change an office is told about).
_INSERT_EVENT = insert(events).returning(events.c.id)


def _queue(to_one: bool) -> Any:
    """A delivery of the event to each enabled endpoint of its office (or to one)."""
    targets = select(
        webhook_endpoints.c.endpoint_id,
        bindparam("event_pk", type_=webhook_deliveries.c.event.type),
        bindparam("event_sequence", type_=webhook_deliveries.c.sequence.type),
        literal(PENDING),
        literal(0),
        bindparam("due", type_=webhook_deliveries.c.next_attempt_at.type),
        bindparam("stamp", type_=webhook_deliveries.c.created_at.type),
    ).where(webhook_endpoints.c.office == bindparam("event_office"), webhook_endpoints.c.enabled.is_(True))
    if to_one:
        targets = targets.where(webhook_endpoints.c.endpoint_id == bindparam("endpoint"))
    return insert(webhook_deliveries).from_select(
        ["endpoint_id", "event", "sequence", "status", "attempts", "next_attempt_at", "created_at"], targets
    )


_QUEUE_DELIVERIES = _queue(False)
_QUEUE_TEST_DELIVERY = _queue(True)


def record(
    conn: Connection,
    *,
    office: str,
    type: str,
    subject: str,
    data: dict[str, Any],
    time: datetime,
    now: datetime,
    endpoint: str | None = None,
) -> Event:
    """Record an event of ``office`` in the caller's transaction and queue its deliveries
    (to ``endpoint`` only, when given: a test event); ``time`` is when the change happened
    (the business calendar), ``now`` the real time (retention)."""
    sequence = next_value(conn, _counter(office), 1)
    event_id = str(uuid.uuid4())
    values = {
        "event_id": event_id,
        "office": office,
        "sequence": sequence,
        "type": type,
        "subject": subject[:100],
        "time": time,
        "data": json.dumps(data, sort_keys=True, separators=(",", ":")),
        "created_at": now,
    }
    event_pk = conn.execute(_INSERT_EVENT, values).scalar_one()
    queued = {"event_pk": event_pk, "event_sequence": sequence, "event_office": office, "due": time, "stamp": now}
    if endpoint is None:
        conn.execute(_QUEUE_DELIVERIES, queued)
    else:
        conn.execute(_QUEUE_TEST_DELIVERY, {**queued, "endpoint": endpoint})
    EventSignal.mark(conn)
    return Event(event_id, office, sequence, type, subject[:100], time, data)


@dataclass(frozen=True)
class Page:
    events: list[Event]
    #: the sequence of the last event returned, else the ``after`` asked for
    last: int
    #: more events follow the page
    more: bool


class CursorExpired(LookupError):
    """The cursor names events that were pruned (past retention)."""

    def __init__(self, oldest: int) -> None:
        super().__init__(oldest)
        self.oldest = oldest


def latest(engine: Engine | Connection, office: str) -> int:
    """The office's last sequence number (0: no event yet)."""
    query = select(counters.c.value).where(counters.c.name == _counter(office))
    if isinstance(engine, Connection):
        value = engine.execute(query).scalar()
    else:
        with read_only(engine).connect() as conn:
            value = conn.execute(query).scalar()
    return int(value or 0)


def page(engine: Engine, office: str, after: int, limit: int) -> Page:
    """The office's events after sequence ``after``, oldest first, at most ``limit``.
    Raises :class:`CursorExpired` when events after ``after`` were pruned."""
    with read_only(engine).connect() as conn:
        pruned = conn.execute(select(counters.c.value).where(counters.c.name == _pruned_counter(office))).scalar()
        if pruned is not None and after < int(pruned):
            raise CursorExpired(int(pruned))
        rows = conn.execute(
            select(events)
            .where(events.c.office == office, events.c.sequence > after, events.c.type.in_(FEED_TYPES))
            .order_by(events.c.sequence)
            .limit(limit + 1)
        ).all()
    found = [_event(r) for r in rows[:limit]]
    return Page(found, found[-1].sequence if found else after, len(rows) > limit)


def acknowledged(engine: Engine, client_id: str) -> int | None:
    """The sequence ``client_id`` acknowledged last (None: it never read the feed)."""
    with read_only(engine).connect() as conn:
        value = conn.execute(select(event_cursors.c.acknowledged).where(event_cursors.c.client_id == client_id)).scalar()
    return None if value is None else int(value)


def acknowledge(engine: Engine, client_id: str, office: str, sequence: int, now: datetime) -> None:
    """Move ``client_id``'s cursor forward to ``sequence`` (never back)."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as conn:
        conn.execute(
            dialect.insert(event_cursors)
            .values(client_id=client_id, office=office, acknowledged=sequence, updated_at=now)
            .on_conflict_do_nothing()
        )
        conn.execute(
            update(event_cursors)
            .where(event_cursors.c.client_id == client_id, event_cursors.c.acknowledged < sequence)
            .values(acknowledged=sequence, office=office, updated_at=now)
        )


def get(engine: Engine, event_id: str) -> Event | None:
    with read_only(engine).connect() as conn:
        row = conn.execute(select(events).where(events.c.event_id == event_id)).first()
    return _event(row) if row else None


def prune(engine: Engine, before: datetime) -> int:
    """Delete events recorded before ``before`` that no pending delivery still needs;
    remember, per office, the highest sequence pruned (older cursors get 410)."""
    waiting = exists().where(webhook_deliveries.c.event == events.c.id, webhook_deliveries.c.status == PENDING)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    with engine.begin() as conn:
        doomed = conn.execute(
            select(events.c.office, func.max(events.c.sequence))
            .where(events.c.created_at < before, ~waiting)
            .group_by(events.c.office)
        ).all()
        removed = 0
        for office, highest in doomed:
            removed += conn.execute(
                delete(events).where(
                    events.c.office == office, events.c.sequence <= highest, events.c.created_at < before, ~waiting
                )
            ).rowcount
            name = _pruned_counter(office)
            conn.execute(dialect.insert(counters).values(name=name, value=int(highest)).on_conflict_do_nothing())
            conn.execute(update(counters).where(counters.c.name == name, counters.c.value < highest).values(value=highest))
    return removed


def offices(conn: Connection) -> list[str]:
    """The offices with an active client: who is told about a bulletin."""
    rows = conn.execute(select(clients.c.office).where(clients.c.active.is_(True)).distinct().order_by(clients.c.office))
    return [str(office) for office in rows.scalars()]
