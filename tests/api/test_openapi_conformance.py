"""The app against its own OpenAPI document (schemathesis, in process, valid tokens).

Every operation of ``/openapi.json`` is called with generated valid and invalid input:
no answer may be a 5xx, every status code and media type must be documented, and JSON
bodies must match their declared schema. Operator token for ``/admin``, the office's
elsewhere, no bearer on the token endpoint. An answer in XML is asked for again in JSON,
so both renderings of a problem are checked. Bounded (25 examples per operation,
derandomized, no example database) to stay deterministic and quick in CI.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.config import Settings
from hws.domain.scopes import ADMIN, PUBLICATIONS, REQUESTS
from hws.service import Service, build_service
from hws.st96 import safexml
from hws.st96.examples import example_package
from tests.api.test_requests import bearer, drain, submit, valid_xml
from tests.conftest import enrol, make_service

API = "/webservices/api/v1"
BASE_URL = "http://hws.test"
PREFER_JSON = "application/problem+json, application/json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# POST /request takes the package as raw bytes: send generated binaries as they are.
schemathesis.serializer.alias("application/zip", "application/octet-stream")


@dataclass
class Running:
    session: ASGIClient  # schemathesis' in-process requests session; the lifespan is the TestClient's
    office: dict[str, str]
    operator: dict[str, str]

    def headers_for(self, path: str) -> dict[str, str]:
        if path.startswith(f"{API}/admin"):
            return self.operator
        if path.startswith(f"{API}/"):
            return self.office
        return {}


class _SettingsOnly:
    """The OpenAPI document depends on the settings alone (paths under ``public_url``);
    the operations are called on a real service in :func:`running`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


def _settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data", database_url=f"sqlite:///{root / 'hws.sqlite3'}", public_url=BASE_URL, worker_threads=0,
        scheduler=False, rate_limit_per_minute=0, max_concurrent_per_client=0, token_rate_per_minute=0,
        event_max_wait=1,  # the feed's long polls: a second at most per generated call
    )  # fmt: skip


schema = schemathesis.openapi.from_dict(create_app(_SettingsOnly(_settings(Path("/nonexistent")))).openapi())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("conformance")
    service = build_service(_settings(root))
    service.start()
    app = create_app(service)
    with TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 50000)) as client:
        office = bearer(client, enrol(service, office="KR", scopes=[REQUESTS, PUBLICATIONS], examining=True))
        operator = bearer(client, enrol(service, office="IB", scopes=[ADMIN]))
        # something to find: an import, and the service request 970000001 it became
        submit(client, office, example_package("application", office="KR"))
        drain(service)
        yield Running(ASGIClient(app, base_url=BASE_URL), office, operator)
    service.close()


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(case, running: Running) -> None:  # type: ignore[no-untyped-def]
    headers = running.headers_for(case.path)
    response = case.call(base_url=BASE_URL, session=running.session, headers=headers)
    case.validate_response(response, checks=CHECKS)
    if "xml" in response.headers.get("content-type", ""):
        # the same call preferring JSON: problem+json (and JSON listings) are checked against their schemas
        again = case.call(base_url=BASE_URL, session=running.session, headers={**headers, "Accept": PREFER_JSON})
        case.validate_response(again, checks=CHECKS)


def test_every_api_operation_documents_problems_in_both_media_types() -> None:
    document = schema.raw_schema
    assert "HTTPValidationError" not in str(document)  # invalid parameters are 400 problems, not FastAPI's 422
    for path, operations in document["paths"].items():
        if not path.startswith(f"{API}/"):
            continue
        for method, operation in operations.items():
            if "security" not in operation:  # the one public API resource: the published XSDs
                assert path == f"{API}/schemas/{{name}}", (method, path)
                continue
            for status in ("401", "403", "429", "503"):
                content = operation["responses"][status]["content"]
                assert set(content) == {"application/problem+xml", "application/problem+json"}, (method, path, status)


# Regressions for what the run above found: text a client sent, echoed into an XML
# answer, held characters XML 1.0 cannot carry, and building the document failed (500).


@pytest.fixture
def office_client(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Service, TestClient, dict[str, str]]]:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False)
    with TestClient(create_app(service), base_url=BASE_URL, client=("127.0.0.1", 50000)) as client:
        yield service, client, bearer(client, enrol(service, office="KR"))
    service.close()


def test_a_control_character_in_the_path_is_percent_encoded_in_the_problem(office_client) -> None:  # type: ignore[no-untyped-def]
    _service, client, headers = office_client
    as_xml = client.get(f"{API}/request/import/%1F", headers=headers)
    assert as_xml.status_code == 404
    assert as_xml.headers["content-type"] == "application/problem+xml"
    instance = safexml.parse(as_xml.content).findtext("{urn:ietf:rfc:7807}instance")
    assert instance == f"{API}/request/import/%1F"
    as_json = client.get(f"{API}/request/import/%1F", headers={**headers, "Accept": "application/problem+json"})
    assert as_json.status_code == 404 and as_json.json()["instance"] == f"{API}/request/import/%1F"


def test_a_control_character_in_the_ping_name_is_replaced(office_client) -> None:  # type: ignore[no-untyped-def]
    _service, client, headers = office_client
    response = client.get(f"{API}/pingMe", params={"name": "a\x1fb\x00c"}, headers=headers)
    assert response.status_code == 200
    valid_xml(response)
    assert safexml.parse(response.content).findtext("{urn:hws:xml:api:v1}Message") == "Hello a\ufffdb\ufffdc"


def test_a_rejected_package_with_control_characters_in_entry_names_reports_its_problems(office_client) -> None:  # type: ignore[no-untyped-def]
    service, client, headers = office_client
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("design\x01.xml", b"<a/>")
    received = submit(client, headers, package.getvalue())
    assert received.status_code == 202
    drain(service)
    status = client.get(received.headers["location"], headers=headers)
    assert status.status_code == 200, status.text
    valid_xml(status)
    assert b"<hws:ImportStatusCategory>Rejected</hws:ImportStatusCategory>" in status.content
    assert "design\ufffd.xml" in status.text
