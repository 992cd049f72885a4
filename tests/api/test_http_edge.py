"""The HTTP edge, in process: where the caller's address comes from, 405 answers,
multipart framing, Range digits, settings of the edge, logging of API processes.
The same defects are reproduced against the real server in tests/e2e/test_edge_attacks.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hws import embedded, logs
from hws.api import upload
from hws.api.app import create_app
from hws.api.downloads import _range
from hws.api.problems import Problem
from hws.auth.source_address import parse_networks
from hws.client import profile
from hws.config import AudiencePolicy, Settings
from hws.store.blobs import FilesystemBlobStore
from tests.api.test_upload_pipeline import body, leftovers, request_of, upload_threads
from tests.conftest import make_service

API = "/webservices/api/v1"


def _scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"type": "http", "client": (peer, 50000), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


# The one place that decides the caller's address --------------------------------------------


def test_source_address_is_the_socket_unless_the_peer_is_a_trusted_proxy() -> None:
    from hws.api.security import source_address

    none: tuple = ()
    assert source_address(_scope("127.0.0.1", "10.9.8.7"), none) == ipaddress.ip_address("127.0.0.1")
    proxies = parse_networks(["127.0.0.1/32"])
    assert source_address(_scope("127.0.0.1", "10.9.8.7"), proxies) == ipaddress.ip_address("10.9.8.7")
    assert source_address(_scope("192.0.2.1", "10.9.8.7"), proxies) == ipaddress.ip_address("192.0.2.1")
    assert source_address({"type": "http", "headers": []}, proxies) is None


def test_serve_runs_uvicorn_without_its_proxy_headers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Both paths of ``hws serve`` (one process, ``--workers N``) turn uvicorn's
    ProxyHeadersMiddleware off: hws alone reads X-Forwarded-For."""
    from hws.cli import serve

    calls: list[dict[str, Any]] = []
    built: list[Any] = []
    real_build = serve.build_service
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(serve.signal, "signal", lambda *a: None)
    monkeypatch.setattr(serve, "build_service", lambda settings: built.append(real_build(settings)) or built[-1])
    monkeypatch.setattr(serve.logs, "configure", lambda *a, **k: None)
    for var in ("HWS_DATABASE_URL", "HWS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    # what serve() writes into the environment is restored by monkeypatch afterwards
    monkeypatch.setenv("HWS_PUBLIC_URL", "http://127.0.0.1:8999")
    monkeypatch.setenv("HWS_AUTO_MIGRATE", "true")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "unused"))
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HWS_WORKER_THREADS", "0")
    try:
        serve.serve(host="127.0.0.1", port=8999, workers=1, data_dir=None)
        serve.serve(host="127.0.0.1", port=8999, workers=2, data_dir=None)  # closes its service before uvicorn.run
    finally:
        built[0].close()
    assert len(calls) == 2
    for kwargs in calls:
        assert kwargs["proxy_headers"] is False
        assert kwargs["http"] is serve.HeaderDeadlineProtocol


# 405 ---------------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path, sqlite_url: str) -> Iterator[TestClient]:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False)
    with TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000)) as test_client:
        yield test_client
    service.close()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_the_token_endpoint_answers_other_methods_with_rfc6749_json(client: TestClient, method: str) -> None:
    response = client.request(method, "/oauth2/access_token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_request"


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    ping = client.post(f"{API}/pingMe")
    assert ping.status_code == 405 and ping.headers["allow"] == "GET"
    bulletin = client.post(f"{API}/publication/bulletin/202401", headers={"Accept": "application/problem+json"})
    assert bulletin.status_code == 405
    assert {m.strip() for m in bulletin.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert bulletin.json()["code"] == "method-not-allowed"
    jwks = client.delete("/oauth2/jwks")
    assert jwks.status_code == 405 and "GET" in jwks.headers["allow"]


# Multipart framing -------------------------------------------------------------------------

HEAD = b'--B\r\nContent-Disposition: form-data; name="file"; filename="p.zip"\r\n\r\n'


@pytest.mark.parametrize(
    "chunks",
    [
        [HEAD, b"PK\x03\x04 data\r\n"],
        [HEAD, b"PK\x03\x04 data\r\n--B"],
        [HEAD, b"PK\x03\x04 da"],
        [HEAD[:20]],
        [HEAD, b"PK\x03\x04 data\r\n--B\r\n"],  # a second part begun, never finished
    ],
    ids=["no-closing-boundary", "no-closing-dashes", "cut-in-the-file", "cut-in-the-headers", "cut-after-a-boundary"],
)
def test_multipart_without_its_closing_boundary_is_refused(tmp_path: Path, chunks: list[bytes]) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    with pytest.raises(Problem) as raised:
        asyncio.run(upload.receive(request_of(body(chunks), "multipart/form-data; boundary=B"), store.writer(), limit=1 << 20))
    assert raised.value.status == 400 and raised.value.code == "invalid-request"
    assert leftovers(store) == [] and upload_threads() == []


@pytest.mark.parametrize("ending", [b"--B--", b"--B--\r\n", b"--B--\r\nepilogue"])
def test_multipart_with_its_closing_boundary_is_received(tmp_path: Path, ending: bytes) -> None:
    store = FilesystemBlobStore(tmp_path / "blobs")
    writer = store.writer()
    request = request_of(body([HEAD, b"PK\x03\x04 data\r\n", ending]), "multipart/form-data; boundary=B")
    asyncio.run(upload.receive(request, writer, limit=1 << 20))
    assert writer.size == len(b"PK\x03\x04 data")
    writer.abort()


# Range: ASCII digits only -----------------------------------------------------------------


def test_a_range_in_other_digits_is_ignored() -> None:
    assert _range("bytes=0-9", 100) == (0, 9)
    assert _range("bytes=\u0661-\u0669", 100) is None  # Arabic-Indic 1-9: not a range, the whole file
    assert _range("bytes=-\uff15", 100) is None  # fullwidth 5


# Settings of the edge ----------------------------------------------------------------------


def test_edge_timeouts_have_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HWS_UPLOAD_IDLE_TIMEOUT", "HWS_HEADER_READ_TIMEOUT", "HWS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.upload_idle_timeout < 20  # a byte every 20 s is cut
    assert 0 < settings.header_read_timeout <= 60
    monkeypatch.setenv("HWS_HEADER_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("HWS_UPLOAD_IDLE_TIMEOUT", "0.5")
    assert Settings().header_read_timeout == 0.5 and Settings().upload_idle_timeout == 0.5


def test_the_service_and_the_office_kit_do_not_share_an_audience_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One shell, both sides: the service's strict mode does not break the office kit, and
    the office kit's choice of aud does not break the service's settings."""
    monkeypatch.setenv("HWS_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("HWS_CONFIG", raising=False)
    monkeypatch.delenv("HWS_PROFILE", raising=False)
    monkeypatch.setenv("HWS_ASSERTION_AUDIENCE", "strict")
    monkeypatch.setenv("HWS_CLIENT_ID", "kr-1")
    monkeypatch.setenv("HWS_PRIVATE_KEY", "key.pem")
    assert Settings().assertion_audience is AudiencePolicy.STRICT
    assert profile.load().require().audience == "issuer"
    monkeypatch.setenv("HWS_CLIENT_ASSERTION_AUDIENCE", "token_endpoint")
    assert profile.load().require().audience == "token_endpoint"
    assert Settings().assertion_audience is AudiencePolicy.STRICT
    assert profile.ENVIRONMENT["audience"] != "HWS_ASSERTION_AUDIENCE"


def test_the_docs_name_the_office_kit_audience_setting() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    office = (docs / "office-guide.md").read_text()
    assert "HWS_CLIENT_ASSERTION_AUDIENCE" in office


# Logging of API processes ------------------------------------------------------------------


def test_the_api_process_factory_configures_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``hws serve --workers N`` runs this factory in each API process: logging must be set
    up there, or refused tokens and published weeks go unrecorded."""
    configured: list[tuple[str, str]] = []
    monkeypatch.setattr(logs, "configure", lambda level="INFO", fmt="json": configured.append((level, fmt)))
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HWS_LOG_FORMAT", "text")
    monkeypatch.setenv("HWS_LOG_LEVEL", "DEBUG")
    for var in ("HWS_DATABASE_URL", "HWS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = embedded.app_from_environment()
        app.state.service.close()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert configured == [("DEBUG", "text")]
