"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hws.config import Settings
from hws.domain.clock import SystemClock
from hws.keys.certificates import read_certificate
from hws.service import Service, build_service
from tests.support.certificates import self_signed
from tests.support.databases import fresh_postgres_database
from tests.support.jose import new_ec_key
from tests.support.servers import RunningServer, start_server

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")

REPO = Path(__file__).resolve().parents[1]
SHARED_ST96 = REPO.parent / "shared" / "st96"


@pytest.fixture(scope="session")
def st96_dir() -> Path:
    """WIPO's official ST.96 material, loaded from ../shared/st96 (never copied)."""
    if not (SHARED_ST96 / "V6_0").is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"WIPO's ST.96 schemas are required under CI at {SHARED_ST96}")
        pytest.skip(f"WIPO's ST.96 schemas not found at {SHARED_ST96}: put the shared/ folder beside the repository")
    return SHARED_ST96


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hws.sqlite3'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hws.sqlite3'}"


def make_service(tmp_path: Path, database_url: str, clock: Any = None, calendar: Any = None, **settings: Any) -> Service:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "public_url": "http://hws.test",
        # the suite installs no schema set unless a test does: the example packages (V6_0)
        # are imported with structural checks, as the operator allows here explicitly
        "structural_only_versions": ["V6_0"],
    }
    values.update(settings)
    service = build_service(Settings(**values), clock=clock or SystemClock(), calendar=calendar)
    service.start()
    return service


@pytest.fixture
def service(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    svc = make_service(tmp_path, sqlite_url)
    yield svc
    svc.close()


@dataclass
class Office:
    client_id: str
    key: Any
    cert_pem: bytes
    kid: str


def enrol(
    service: Service, *, office: str = "KR", networks: tuple[str, ...] = ("127.0.0.1/32",), key: Any = None, **kwargs: Any
) -> Office:
    key = key or new_ec_key()
    cert = self_signed(key)
    info = read_certificate(cert)
    client = service.registry.add(office=office, certificate=info, networks=networks, **kwargs)
    return Office(client.client_id, key, cert, info.kid)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """The real server (uvicorn, SQLite) on a free port."""
    running = start_server(tmp_path / "server")
    yield running
    running.stop(wait=False)  # nothing reads its data folder again


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[RunningServer]:
    """The real server on a fresh PostgreSQL database."""
    with fresh_postgres_database() as url:
        running = start_server(tmp_path / "server", database_url=url)
        yield running
        running.stop()


@pytest.hookimpl(trylast=True)  # after pytest-xdist's own step (see _join_xdist_groups)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first: the year-end reruns, then the end-to-end tests, then the rest, each
    in its collected order. With two workers the short tests then fill the end of the run,
    instead of one long test running alone while the other worker has nothing left."""

    def weight(item: pytest.Item) -> int:
        if item.nodeid.startswith("tests/e2e/test_year_end.py"):
            return 0
        return 1 if item.get_closest_marker("e2e") else 2

    items.sort(key=weight)
    _join_xdist_groups(config, items)


def _join_xdist_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--dist loadgroup``: a test marked ``xdist_group(name)`` gets ``@name`` after its
    node ID in a worker, and the tests of one group go to the same worker. pytest-xdist
    3.8 writes ``item._nodeid``, which pytest 9.2 no longer reads (it keeps the node ID as
    ``item._id``): the groups were silently ignored, a module-scoped server started once
    per worker. Done here when xdist's own step left the node ID unchanged."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks})
        if not names or item.nodeid.rfind("@") > item.nodeid.rfind("]"):
            continue
        grouped = f"{item.nodeid}@{'_'.join(names)}"
        if hasattr(item, "_id"):
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(grouped)
        else:  # pytest before 9.2
            item._nodeid = grouped
