"""Webhook endpoints and their deliveries.

An endpoint is sent to by one delivery worker at a time: :func:`claim_due` leases an
enabled endpoint whose oldest pending delivery is due (compare-and-set on
``lease_owner``/``lease_expires_at``, epoch ms of the real clock), so its deliveries go
out one by one in sequence order. A worker that dies loses the lease when it expires;
the next one sends what was not marked delivered (at least once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, or_, select, update

from hws.domain.events import Event
from hws.store.database import read_only
from hws.store.events import PENDING
from hws.store.tables import events, webhook_deliveries, webhook_endpoints

DELIVERED, DEAD = "delivered", "dead"


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: str
    office: str
    url: str
    secret: str
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    last_success_at: datetime | None
    created_by: str
    created_at: datetime

    def as_dict(self, *, with_secret: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.endpoint_id,
            "office": self.office,
            "url": self.url,
            "description": self.description,
            "enabled": self.enabled,
            "disabledReason": self.disabled_reason,
            "failingSince": self.failing_since.isoformat() if self.failing_since else None,
            "lastSuccessAt": self.last_success_at.isoformat() if self.last_success_at else None,
            "createdBy": self.created_by,
            "createdAt": self.created_at.isoformat(),
        }
        if with_secret:
            shown["secret"] = self.secret
        return shown


@dataclass(frozen=True)
class Delivery:
    id: int
    endpoint_id: str
    sequence: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    event: Event

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint_id,
            "eventId": self.event.event_id,
            "type": self.event.type,
            "subject": self.event.subject,
            "sequence": self.sequence,
            "status": self.status,
            "attempts": self.attempts,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.status == PENDING else None,
            "lastAttemptAt": self.last_attempt_at.isoformat() if self.last_attempt_at else None,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "deliveredAt": self.delivered_at.isoformat() if self.delivered_at else None,
        }


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        row.endpoint_id,
        row.office,
        row.url,
        row.secret,
        row.description,
        bool(row.enabled),
        row.disabled_reason,
        row.failing_since,
        row.last_success_at,
        row.created_by,
        row.created_at,
    )


_DELIVERY_COLUMNS = (
    webhook_deliveries,
    events.c.event_id,
    events.c.office,
    events.c.type,
    events.c.subject,
    events.c.time,
    events.c.data,
)


def _delivery(row: Any) -> Delivery:
    event = Event(row.event_id, row.office, int(row.sequence), row.type, row.subject, row.time, json.loads(row.data))
    return Delivery(
        row.id,
        row.endpoint_id,
        int(row.sequence),
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_attempt_at,
        row.last_status,
        row.last_error,
        row.delivered_at,
        event,
    )


# Endpoints ------------------------------------------------------------------------------


def add(
    conn: Connection,
    *,
    endpoint_id: str,
    office: str,
    url: str,
    secret: str,
    description: str,
    created_by: str,
    now: datetime,
) -> Endpoint:
    conn.execute(
        webhook_endpoints.insert().values(
            endpoint_id=endpoint_id,
            office=office,
            url=url,
            secret=secret,
            description=description[:200],
            enabled=True,
            created_by=created_by[:100],
            created_at=now,
            updated_at=now,
        )
    )
    found = get(conn, endpoint_id)
    assert found is not None
    return found


def get(conn: Engine | Connection, endpoint_id: str) -> Endpoint | None:
    query = select(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id)
    if isinstance(conn, Connection):
        row = conn.execute(query).first()
    else:
        with read_only(conn).connect() as c:
            row = c.execute(query).first()
    return _endpoint(row) if row else None


def listing(engine: Engine, office: str | None = None) -> list[Endpoint]:
    query = select(webhook_endpoints).order_by(webhook_endpoints.c.office, webhook_endpoints.c.created_at)
    if office:
        query = query.where(webhook_endpoints.c.office == office)
    with read_only(engine).connect() as conn:
        return [_endpoint(r) for r in conn.execute(query).all()]


def count(conn: Connection, office: str) -> int:
    return int(conn.execute(select(func.count()).where(webhook_endpoints.c.office == office)).scalar_one())


def remove(conn: Connection, endpoint_id: str) -> bool:
    conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id))
    return bool(conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id)).rowcount)


def set_enabled(conn: Connection, endpoint_id: str, enabled: bool, reason: str | None, now: datetime) -> bool:
    values: dict[str, Any] = {"enabled": enabled, "disabled_reason": None if enabled else reason, "updated_at": now}
    if enabled:
        values["failing_since"] = None
    return bool(
        conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.endpoint_id == endpoint_id).values(**values)).rowcount
    )


# Deliveries -----------------------------------------------------------------------------


def _due_statement() -> Any:
    """Up to 8 endpoints with a due delivery at the head of their queue and no live lease."""
    earlier = webhook_deliveries.alias("earlier")
    behind = (
        select(earlier.c.id)
        .where(
            earlier.c.endpoint_id == webhook_deliveries.c.endpoint_id,
            earlier.c.status == PENDING,
            earlier.c.sequence < webhook_deliveries.c.sequence,
        )
        .exists()
    )
    return (
        select(webhook_deliveries.c.endpoint_id)
        .join(webhook_endpoints, webhook_endpoints.c.endpoint_id == webhook_deliveries.c.endpoint_id)
        .where(
            webhook_deliveries.c.status == PENDING,
            ~behind,
            webhook_deliveries.c.next_attempt_at <= bindparam("due_by", type_=webhook_deliveries.c.next_attempt_at.type),
            webhook_endpoints.c.enabled.is_(True),
            or_(
                webhook_endpoints.c.lease_owner.is_(None),
                webhook_endpoints.c.lease_expires_at < bindparam("now_ms", type_=webhook_endpoints.c.lease_expires_at.type),
            ),
        )
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(8)
    )


#: built once: every sender looks at every event this process records and every poll interval
_DUE = _due_statement()


def claim_due(engine: Engine, owner: str, now: datetime, now_ms: int, lease_ms: int) -> str | None:
    """Lease one enabled endpoint whose oldest pending delivery is due; its id, or None."""
    with read_only(engine).connect() as reading:  # most looks find nothing: no write lock for them
        candidates = list(dict.fromkeys(reading.execute(_DUE, {"due_by": now, "now_ms": now_ms}).scalars()))
    if not candidates:
        return None
    with engine.begin() as conn:
        for endpoint_id in candidates:
            taken = conn.execute(
                update(webhook_endpoints)
                .where(
                    webhook_endpoints.c.endpoint_id == endpoint_id,
                    or_(webhook_endpoints.c.lease_owner.is_(None), webhook_endpoints.c.lease_expires_at < now_ms),
                )
                .values(lease_owner=owner, lease_expires_at=now_ms + lease_ms)
            ).rowcount
            if taken:
                return str(endpoint_id)
    return None


def release(engine: Engine, endpoint_id: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.endpoint_id == endpoint_id, webhook_endpoints.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


def extend(engine: Engine, endpoint_id: str, owner: str, until_ms: int) -> bool:
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.endpoint_id == endpoint_id, webhook_endpoints.c.lease_owner == owner)
                .values(lease_expires_at=until_ms)
            ).rowcount
        )


def head(engine: Engine, endpoint_id: str) -> Delivery | None:
    """The endpoint's oldest pending delivery (due or not): the only one that may go next."""
    with read_only(engine).connect() as conn:
        row = conn.execute(
            select(*_DELIVERY_COLUMNS)
            .join(events, events.c.id == webhook_deliveries.c.event)
            .where(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == PENDING)
            .order_by(webhook_deliveries.c.sequence, webhook_deliveries.c.id)
            .limit(1)
        ).first()
    return _delivery(row) if row else None


def _owned(endpoint_id: str, owner: str) -> Any:
    return select(webhook_endpoints.c.endpoint_id).where(
        webhook_endpoints.c.endpoint_id == endpoint_id, webhook_endpoints.c.lease_owner == owner
    )


def mark_delivered(
    engine: Engine, delivery: Delivery, owner: str, *, status: int, attempted_at: datetime, now: datetime
) -> tuple[bool, bool]:
    """Record a 2xx answer (if ``owner`` still holds the endpoint's lease): whether it was
    recorded, and whether the lease was given back in the same transaction because no
    other delivery of the endpoint is due."""
    released = False
    with engine.begin() as conn:
        changed = conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery.id,
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.endpoint_id.in_(_owned(delivery.endpoint_id, owner)),
            )
            .values(
                status=DELIVERED,
                attempts=webhook_deliveries.c.attempts + 1,
                last_attempt_at=attempted_at,
                last_status=status,
                last_error=None,
                delivered_at=now,
            )
        ).rowcount
        if changed:
            conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.endpoint_id == delivery.endpoint_id)
                .values(failing_since=None, last_success_at=now)
            )
            more = conn.execute(
                select(webhook_deliveries.c.id)
                .where(
                    webhook_deliveries.c.endpoint_id == delivery.endpoint_id,
                    webhook_deliveries.c.status == PENDING,
                    webhook_deliveries.c.next_attempt_at <= now,
                )
                .limit(1)
            ).first()
            if more is None:
                conn.execute(
                    update(webhook_endpoints)
                    .where(webhook_endpoints.c.endpoint_id == delivery.endpoint_id, webhook_endpoints.c.lease_owner == owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
                released = True
    return bool(changed), released


def mark_failed(
    engine: Engine,
    delivery: Delivery,
    owner: str,
    *,
    status: int | None,
    error: str,
    attempted_at: datetime,
    retry_at: datetime | None,
) -> datetime | None:
    """Record a failed try: pending again at ``retry_at``, or dead when it is None. Returns
    since when the endpoint has been failing (None if the lease was lost)."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == delivery.id,
                webhook_deliveries.c.status == PENDING,
                webhook_deliveries.c.endpoint_id.in_(_owned(delivery.endpoint_id, owner)),
            )
            .values(
                status=PENDING if retry_at is not None else DEAD,
                attempts=webhook_deliveries.c.attempts + 1,
                next_attempt_at=retry_at if retry_at is not None else delivery.next_attempt_at,
                last_attempt_at=attempted_at,
                last_status=status,
                last_error=error[:2000],
            )
        ).rowcount
        if not changed:
            return None
        conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.endpoint_id == delivery.endpoint_id, webhook_endpoints.c.failing_since.is_(None))
            .values(failing_since=attempted_at)
        )
        since = conn.execute(
            select(webhook_endpoints.c.failing_since).where(webhook_endpoints.c.endpoint_id == delivery.endpoint_id)
        ).scalar()
    return since if isinstance(since, datetime) else attempted_at


def deliveries(engine: Engine, endpoint_id: str, *, status: str | None = None, limit: int = 100) -> list[Delivery]:
    query = (
        select(*_DELIVERY_COLUMNS)
        .join(events, events.c.id == webhook_deliveries.c.event)
        .where(webhook_deliveries.c.endpoint_id == endpoint_id)
        .order_by(webhook_deliveries.c.sequence.desc(), webhook_deliveries.c.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(webhook_deliveries.c.status == status)
    with read_only(engine).connect() as conn:
        return [_delivery(r) for r in conn.execute(query).all()]


def get_delivery(engine: Engine, delivery_id: int) -> Delivery | None:
    with read_only(engine).connect() as conn:
        row = conn.execute(
            select(*_DELIVERY_COLUMNS)
            .join(events, events.c.id == webhook_deliveries.c.event)
            .where(webhook_deliveries.c.id == delivery_id)
        ).first()
    return _delivery(row) if row else None


def redeliver(conn: Connection, endpoint_id: str, now: datetime, delivery_ids: list[int] | None = None) -> list[int]:
    """Put the endpoint's dead deliveries (or those named) back in its queue, due now,
    with a fresh set of tries; returns their ids."""
    condition = and_(webhook_deliveries.c.endpoint_id == endpoint_id, webhook_deliveries.c.status == DEAD)
    if delivery_ids is not None:
        condition = and_(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.id.in_(delivery_ids),
            webhook_deliveries.c.status != PENDING,
        )
    ids = [int(i) for i in conn.execute(select(webhook_deliveries.c.id).where(condition)).scalars()]
    if ids:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id.in_(ids))
            .values(status=PENDING, attempts=0, next_attempt_at=now, delivered_at=None)
        )
    return ids


def counts(engine: Engine, endpoint_id: str) -> dict[str, int]:
    with read_only(engine).connect() as conn:
        rows = conn.execute(
            select(webhook_deliveries.c.status, func.count())
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .group_by(webhook_deliveries.c.status)
        ).all()
    return {str(status): int(n) for status, n in rows}
