"""Console sessions, as rows of ``operator_sessions``. The cookie carries a random token;
the table keeps its SHA-256 only, so a copy of the database opens no session."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy import insert as insert_statement

from hws.store.tables import operator_sessions


@dataclass(frozen=True)
class OperatorSession:
    token_hash: str
    operator: str
    stage: str
    csrf_token: str
    via: str
    source: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    pending_secret: str | None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get(conn: Connection, token: str) -> OperatorSession | None:
    row = conn.execute(select(operator_sessions).where(operator_sessions.c.token_hash == token_hash(token))).first()
    return OperatorSession(**row._mapping) if row is not None else None


def insert(conn: Connection, row: OperatorSession) -> None:
    conn.execute(insert_statement(operator_sessions).values(**asdict(row)))


def change(conn: Connection, token: str, **values: Any) -> None:
    conn.execute(update(operator_sessions).where(operator_sessions.c.token_hash == token_hash(token)).values(**values))


def revoke_all(conn: Connection, operator: str, when: datetime) -> int:
    """End every open session of ``operator``; how many were open."""
    result = conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.operator == operator, operator_sessions.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return int(result.rowcount or 0)


def open_sessions(conn: Connection, operator: str, now: datetime) -> int:
    rows = conn.execute(
        select(operator_sessions.c.token_hash).where(
            operator_sessions.c.operator == operator,
            operator_sessions.c.revoked_at.is_(None),
            operator_sessions.c.expires_at > now,
        )
    ).all()
    return len(rows)
