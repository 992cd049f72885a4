"""A store test's database: ``engine`` on SQLite, ``both_engines`` on SQLite and a fresh
PostgreSQL database. A test module may pin the service's clock with a module-level
``CLOCK_AT`` (an aware datetime)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hws.domain.clock import FixedClock
from tests.conftest import make_service


def _engine(request: pytest.FixtureRequest, tmp_path: Path, url: str) -> Iterator[Engine]:
    at = getattr(request.module, "CLOCK_AT", None)
    clock = FixedClock(at.timestamp()) if at is not None else None
    service = make_service(tmp_path, url, clock=clock, worker_threads=0, scheduler=False)
    yield service.engine
    service.close()


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_url: str) -> Iterator[Engine]:
    yield from _engine(request, tmp_path, sqlite_url)


@pytest.fixture
def both_engines(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[Engine]:
    """SQLite and PostgreSQL (each with its own dialect's statements)."""
    yield from _engine(request, tmp_path, database_url)
