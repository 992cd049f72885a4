"""Every transaction kind, built by the package builder, validates against WIPO's
official V6.0 schema, passes `hws package check`, and reaches Imported with an SRN
through the real server with that schema set installed."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.schemaset import SchemaSet
from hws.st96.transactions import TransactionKind

pytestmark = pytest.mark.e2e


def test_every_kind_is_imported_through_the_real_server(server, tmp_path, st96_dir) -> None:
    installed = json.loads(server.hws("admin", "schemas", "install", str(st96_dir / "V6_0"), "--json").stdout)
    assert "V6_0" in json.dumps(installed)
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["checks"]["st96_schemas"]["installed"] == ["V6_0"]

    files = generate("KR", tmp_path / "keys")
    client_id = json.loads(
        server.hws(
            "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32", "--json"
        ).stdout
    )["client_id"]
    submitted: dict[str, str] = {}
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        headers = {"Authorization": f"Bearer {hws.token()}", "Content-Type": "application/zip"}
        schemas = SchemaSet(st96_dir)
        for kind in TransactionKind:
            package = example_package(kind, office="KR")
            report = validate_package(package, office="KR", schemas=schemas)
            assert report.ok and report.schema_checked, (kind, report.codes)
            if kind is TransactionKind.APPLICATION:  # the office's command, once
                path = tmp_path / "application.zip"
                path.write_bytes(package)
                check = server.hws("package", "check", str(path), "--schemas", str(st96_dir), "--json", check=False)
                assert check.returncode == 0 and json.loads(check.stdout)["schemaChecked"], check.stdout
            response = httpx.post(f"{server.api_url}/request", content=package, headers=headers)
            assert response.status_code == 202, response.text
            submitted[kind.value] = response.headers["location"]
        deadline = time.monotonic() + 60
        results: dict[str, bytes] = {}
        while len(results) < len(submitted) and time.monotonic() < deadline:
            for kind, location in submitted.items():
                if kind not in results:
                    body = httpx.get(location, headers=headers).content
                    if b"Pending" not in body:
                        results[kind] = body
            time.sleep(0.2)
    assert set(results) == set(submitted), "some imports never finished"
    srns = set()
    for kind, body in results.items():
        assert b"<hws:ImportStatusCategory>Imported</hws:ImportStatusCategory>" in body, (kind, body)
        assert f"<hws:TransactionCategory>{kind}</hws:TransactionCategory>".encode() in body
        assert b"xsd-not-installed" not in body  # validated against the official schema
        srns.add(re.search(rb"<com:RecordIdentifier>(970\d{6})</com:RecordIdentifier>", body).group(1))
    assert len(srns) == len(TransactionKind)
