"""Single use of client assertions, shared by every process through the database.

:func:`record_first_use` is the atomic check-and-insert: of any number of concurrent
calls with the same key, exactly one returns ``True``.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from hws.store.tables import assertion_uses


def record_first_use(engine: Engine, key: str, expires_at: int, now: int) -> bool:
    """Remember ``key`` until ``expires_at``; ``False`` if it is already remembered.

    A remembered key whose time has passed (not yet purged) is taken over.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(assertion_uses).values(key=key, expires_at=expires_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[assertion_uses.c.key],
        set_={"expires_at": stmt.excluded.expires_at},
        where=assertion_uses.c.expires_at < now,
    ).returning(assertion_uses.c.key)
    with engine.begin() as conn:
        return conn.execute(stmt).first() is not None


def purge_expired(engine: Engine, now: int) -> int:
    """Forget uses whose assertions can no longer be valid; returns how many."""
    with engine.begin() as conn:
        return conn.execute(delete(assertion_uses).where(assertion_uses.c.expires_at < now)).rowcount
