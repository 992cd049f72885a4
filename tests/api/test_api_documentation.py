"""The API documents itself: security schemes, a schema and examples for every status
document in XML and JSON, the XSDs served, and the reference pages with no network
(the browser test is ``tests/e2e/test_api_docs_browser.py``). Content negotiation:
``Accept: application/json`` gets JSON for every status document, XML stays the default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.api.representations import examples, import_status_json, request_status_json
from hws.st96 import safexml
from hws.st96.api_documents import read_import_status, read_ping_response, read_request_status, schema
from hws.st96.examples import example_package
from tests.api.test_requests import API, bearer, drain, submit
from tests.conftest import enrol, make_service

JSON = "application/json"


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    yield service, client
    client.close()
    service.close()


def _document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_security_schemes_name_the_token_endpoint_and_every_call_its_scope(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    document = _document(client)
    schemes = document["components"]["securitySchemes"]
    flow = schemes["OAuth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == service.settings.token_endpoint
    assert set(flow["scopes"]) == {"hws/requests", "hws/publications", "hws/admin"}
    assert schemes["BearerToken"] == {**schemes["BearerToken"], "type": "http", "scheme": "bearer"}

    needed = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "security" in operation:
                needed[(method, path)] = operation["security"]
    assert needed[("get", f"{API}/request/import/{{importId}}")] == [{"OAuth2": ["hws/requests"]}, {"BearerToken": []}]
    assert needed[("post", f"{API}/request")][0] == {"OAuth2": ["hws/requests"]}
    assert needed[("get", f"{API}/publication/bulletin")][0] == {"OAuth2": ["hws/publications"]}
    assert needed[("get", f"{API}/pingMe")][0] == {"OAuth2": []}
    assert all(security[0]["OAuth2"] == ["hws/admin"] for (_m, path), security in needed.items() if "/admin/" in path)
    # every API call but the published XSDs needs a token; the token endpoint and probes none
    public = {path for path, ops in document["paths"].items() for op in ops.values() if "security" not in op}
    assert {p for p in public if p.startswith(API)} == {f"{API}/schemas/{{name}}"}
    assert "/oauth2/access_token" in public and "/healthz" in public


def test_status_documents_have_schemas_and_examples_in_both_representations(setup) -> None:  # type: ignore[no-untyped-def]
    _service, client = setup
    document = _document(client)
    components = document["components"]["schemas"]
    answers = {
        f"{API}/request/import/{{importId}}": "ImportStatus",
        f"{API}/request/{{serviceRequestId}}": "ServiceRequestStatus",
        f"{API}/pingMe": "PingResponse",
    }
    xsd = schema("hws-api-v1.xsd")
    for path, name in answers.items():
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert content[JSON]["schema"] == {"$ref": f"#/components/schemas/{name}"}
        assert "hws-api-v1.xsd" in content["application/xml"]["schema"]["externalDocs"]["url"]
        for example in content["application/xml"]["examples"].values():
            xsd.assertValid(safexml.parse(example["value"].encode()))  # the XML examples are valid documents
        validator = jsonschema.Draft202012Validator({**components[name], "components": {"schemas": components}})
        for example in content[JSON]["examples"].values():
            validator.validate(example["value"])
    # the submission's 202 is an import status too
    accepted = document["paths"][f"{API}/request"]["post"]["responses"]["202"]["content"]
    assert accepted[JSON]["schema"] == {"$ref": "#/components/schemas/ImportStatus"}


def test_the_examples_say_the_same_in_xml_and_json() -> None:
    readers = {
        "ImportStatus": (read_import_status, import_status_json),
        "ServiceRequestStatus": (read_request_status, request_status_json),
    }
    for name, (xml, as_json) in examples().items():
        if name == "PingResponse":
            view = read_ping_response(xml)
            assert {"message": view.message, "client_id": view.client_id, "office": view.office,
                    "response_datetime": view.timestamp} == as_json  # fmt: skip
            continue
        read, write = readers[name.removesuffix("Rejected")]
        assert write(read(xml)) == as_json


def test_accept_json_gets_json_for_every_status_document_xml_stays_the_default(setup) -> None:  # type: ignore[no-untyped-def]
    service, client = setup
    headers = bearer(client, enrol(service, office="KR"))
    accepted = submit(client, headers, example_package("application", office="KR"), Accept=JSON)
    assert accepted.status_code == 202 and accepted.headers["content-type"] == JSON
    assert accepted.json()["status"] == "Pending" and accepted.headers["vary"] == "Accept"
    import_id = accepted.json()["import_id"]
    drain(service)

    status_url = f"{API}/request/import/{import_id}"
    as_xml = client.get(status_url, headers=headers)
    assert as_xml.headers["content-type"] == "application/xml" and as_xml.headers["vary"] == "Accept"
    as_json = client.get(status_url, headers={**headers, "Accept": JSON})
    assert as_json.headers["content-type"] == JSON and as_json.headers["vary"] == "Accept"
    assert as_json.json() == import_status_json(read_import_status(as_xml.content))  # the same fields
    assert as_json.json()["status"] == "Imported"
    srn = as_json.json()["srn"]

    # each representation has its own ETag: If-None-Match never answers 304 for the other one
    assert as_json.headers["etag"] != as_xml.headers["etag"]
    assert (
        client.get(status_url, headers={**headers, "Accept": JSON, "If-None-Match": as_json.headers["etag"]}).status_code == 304
    )
    assert client.get(status_url, headers={**headers, "Accept": JSON, "If-None-Match": as_xml.headers["etag"]}).status_code == 200
    assert client.get(status_url, headers={**headers, "If-None-Match": as_xml.headers["etag"]}).status_code == 304

    request_url = f"{API}/request/{srn}"
    sr_xml = client.get(request_url, headers={**headers, "Accept": "application/xml, application/json;q=0.5"})
    sr_json = client.get(request_url, headers={**headers, "Accept": "application/xml;q=0.5, application/json"})
    assert sr_xml.headers["content-type"] == "application/xml"
    assert sr_json.json() == request_status_json(read_request_status(sr_xml.content))
    assert re.fullmatch(r"970\d{6}", sr_json.json()["srn"])

    ping = client.get(f"{API}/pingMe", params={"name": "KIPO"}, headers={**headers, "Accept": JSON})
    assert ping.json()["message"] == "Hello KIPO" and ping.json()["office"] == "KR"
    assert client.get(f"{API}/pingMe", headers={**headers, "Accept": "*/*"}).headers["content-type"] == "application/xml"

    listing = client.get(f"{API}/publication/bulletin", headers={**headers, "Accept": JSON})
    assert listing.json() == [] and listing.headers["vary"] == "Accept"


def test_the_xsds_are_published_without_a_token(setup) -> None:  # type: ignore[no-untyped-def]
    _service, client = setup
    for name in ("hws-api-v1.xsd", "st96-common-subset.xsd", "problem-rfc9457.xsd"):
        response = client.get(f"{API}/schemas/{name}")
        assert response.status_code == 200 and response.headers["content-type"] == "application/xml"
        assert safexml.parse(response.content).getroot().tag == "{http://www.w3.org/2001/XMLSchema}schema"
    missing = client.get(f"{API}/schemas/..%2Fconfig.py")
    assert missing.status_code == 404


def test_the_reference_pages_load_nothing_from_elsewhere(setup) -> None:  # type: ignore[no-untyped-def]
    _service, client = setup
    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # this service's own paths only
        for url in urls:
            assert client.get(url).status_code == 200, url
    assert "validatorUrl" in client.get("/docs").text  # no call to the public validator either
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert len(script.content) > 100_000
    assert json.loads(client.get("/openapi.json").text)["info"]["title"].startswith("Hague Web Services")
