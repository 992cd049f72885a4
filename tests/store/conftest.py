"""A store test's database: ``engine`` on SQLite, ``both_engines`` on SQLite and a fresh
PostgreSQL database. A test module may pin the service's clock with a module-level
``CLOCK_AT`` (an aware datetime)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hws.domain.clock import FixedClock
from hws.service import Service
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


@pytest.fixture
def s3_service(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """A service on SQLite whose blobs are in a bucket of their own (moto on loopback)."""
    from tests.support.s3 import CREDENTIALS, moto_endpoint, new_bucket

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    service = make_service(
        tmp_path, sqlite_url, worker_threads=0, scheduler=False,
        blob_store="s3", s3_bucket=new_bucket(), s3_endpoint_url=moto_endpoint(),
    )  # fmt: skip
    yield service
    service.close()
