"""Decisions only from designated offices, on the real server over HTTP (issue 9, item 9).

Before: a grant of protection from KR against DM/200001 (an application that designates
US and CH) was imported, registered and published in the bulletin. Now it is rejected at
import with ``decision-office-not-designated`` naming the IRN and the offices it
designates, while the same grant from US, a designated office, is registered.
"""

from __future__ import annotations

import pytest

from hws.client import HagueClient
from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, start_server, until

pytestmark = pytest.mark.e2e


@pytest.fixture
def sandbox(tmp_path):  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    yield server
    server.stop()


def test_a_grant_from_an_office_not_designated_is_rejected(sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = sandbox
    kr, us, jp = server.enrol("KR"), server.enrol("US"), server.enrol("JP")

    def send(client: HagueClient, name: str, package: bytes):  # type: ignore[no-untyped-def]
        path = tmp_path / f"{name}.zip"
        path.write_bytes(package)
        return client.wait_for_import(client.submit(path).import_id, timeout=60)

    application = send(kr, "application", example_package(
        "application", office="KR", office_reference="KR-DES-1", designations=[{"code": "US", "act": "Act1999"}, "CH"],
    ))  # fmt: skip
    assert application.imported, application.problems
    registered = until(lambda: (s := kr.request_status(application.srn)).irn and s, timeout=60)
    irn = registered.irn
    assert registered.status == "Registered"

    # KR filed it but is not designated: as the office of filing, no grant
    from_filing_office = send(kr, "grant-kr", example_package("grant", office="KR", irn=irn))
    # JP is neither designated nor the office of filing
    from_stranger = send(jp, "grant-jp", example_package("grant", office="JP", irn=irn))
    for rejected, office in ((from_filing_office, "KR"), (from_stranger, "JP")):
        assert rejected.status == "Rejected" and rejected.srn is None, rejected
        errors = [p for p in rejected.problems if p.severity == "error"]
        assert [p.code for p in errors] == ["decision-office-not-designated"], errors
        assert f"{irn} does not designate {office} (it designates CH, US)" in errors[0].message or (
            f"{office} filed {irn} but is not designated by it (it designates CH, US)" in errors[0].message
        ), errors[0].message
        assert errors[0].xml_path and errors[0].xml_path.endswith("com:InternationalRegistrationNumber")

    # US is designated: its grant is imported and recorded against the registration
    granted = send(us, "grant-us", example_package("grant", office="US", irn=irn))
    assert granted.imported, granted.problems
    recorded = until(lambda: (s := us.request_status(granted.srn)).status == "Registered" and s, timeout=60)
    assert recorded.transaction == "HagueGrantProtectionRequest"
    for client in (kr, us, jp):
        client.close()
