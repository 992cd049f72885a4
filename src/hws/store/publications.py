"""Published weeks: the bulletin (office "") and confidential copies, immutable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from hws.store.tables import publications

BULLETIN, CONFIDENTIAL = "bulletin", "confidential"


@dataclass(frozen=True)
class Publication:
    kind: str
    week: str
    office: str
    sha256: str | None  # None: the week had nothing to publish (ST.96 has no empty bulletin)
    size: int
    registrations: int
    decisions: int
    published_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.sha256}"'


def _record(row: Any) -> Publication:
    return Publication(row.kind, row.week, row.office, row.sha256, row.size, row.registrations, row.decisions, row.published_at)


def get(engine: Engine, kind: str, week: str, office: str = "") -> Publication | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(publications).where(publications.c.kind == kind, publications.c.week == week, publications.c.office == office)
        ).first()
    return _record(row) if row else None


def listing(engine: Engine, kind: str, office: str = "") -> list[Publication]:
    """Published files of ``kind`` (weeks with nothing to publish are left out)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(publications)
            .where(publications.c.kind == kind, publications.c.office == office, publications.c.sha256.is_not(None))
            .order_by(publications.c.week.desc())
        ).all()
    return [_record(r) for r in rows]


def latest_week(engine: Engine, kind: str = BULLETIN) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(publications.c.week)).where(publications.c.kind == kind)).scalar()


def insert(conn: Connection, record: Publication) -> bool:
    """Write a publication once; ``False`` if that week was already published."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = conn.execute(
        dialect.insert(publications)
        .values(
            kind=record.kind,
            week=record.week,
            office=record.office,
            sha256=record.sha256,
            size=record.size,
            registrations=record.registrations,
            decisions=record.decisions,
            published_at=record.published_at,
        )
        .on_conflict_do_nothing()
        .returning(publications.c.week)
    ).first()
    return inserted is not None


def for_week(engine: Engine, week: str) -> list[Publication]:
    """Every publication of ``week``: the bulletin and each office's copy."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(publications).where(publications.c.week == week).order_by(publications.c.kind, publications.c.office)
        ).all()
    return [_record(r) for r in rows]


def recent(engine: Engine, *, limit: int = 50, offset: int = 0) -> tuple[list[Publication], int]:
    """Every publication (bulletins and copies, weeks with nothing to publish included),
    newest week first: one page and how many there are in all."""
    page = (
        select(publications)
        .order_by(publications.c.week.desc(), publications.c.kind, publications.c.office)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        rows = conn.execute(page).all()
        total = conn.execute(select(func.count()).select_from(publications)).scalar_one()
    return [_record(r) for r in rows], int(total)
