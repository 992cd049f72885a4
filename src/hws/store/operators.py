"""Operator accounts (the console's people), as rows of ``operators``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from hws.domain.operator_roles import Role
from hws.store.tables import operators


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role
    password_hash: str | None
    totp_secret: str | None
    totp_required: bool
    totp_last_step: int | None
    failures: int
    locked_until: datetime | None
    disabled: bool
    sso_subject: str | None
    created_at: datetime
    updated_at: datetime
    last_sign_in_at: datetime | None
    last_sign_in_source: str | None

    def locked_at(self, when: datetime) -> bool:
        return self.locked_until is not None and when < self.locked_until

    def as_dict(self) -> dict[str, Any]:
        """What people and ``--json`` see (no hash, no secret)."""
        return {
            "name": self.name,
            "role": self.role.value,
            "sign_in": "sso" if self.sso_subject else "password",
            "totp": "set up" if self.totp_secret else ("required" if self.totp_required else "off"),
            "disabled": self.disabled,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "failures": self.failures,
            "created_at": self.created_at.isoformat(),
            "last_sign_in_at": self.last_sign_in_at.isoformat() if self.last_sign_in_at else None,
            "last_sign_in_source": self.last_sign_in_source,
        }


def _operator(row: Any) -> Operator:
    values = dict(row._mapping)
    values["role"] = Role(values["role"])
    return Operator(**values)


def get(conn: Connection | Engine, name: str) -> Operator | None:
    stmt = select(operators).where(operators.c.name == name)
    if isinstance(conn, Engine):
        with conn.connect() as c:
            row = c.execute(stmt).first()
    else:
        row = conn.execute(stmt).first()
    return _operator(row) if row is not None else None


def by_sso_subject(conn: Connection, subject: str) -> Operator | None:
    row = conn.execute(select(operators).where(operators.c.sso_subject == subject)).first()
    return _operator(row) if row is not None else None


def listing(engine: Engine) -> list[Operator]:
    with engine.connect() as conn:
        return [_operator(r) for r in conn.execute(select(operators).order_by(operators.c.name))]


def insert_operator(conn: Connection, **values: Any) -> None:
    conn.execute(insert(operators).values(**values))


def change(conn: Connection, name: str, **values: Any) -> None:
    conn.execute(update(operators).where(operators.c.name == name).values(**values))
