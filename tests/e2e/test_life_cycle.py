"""The whole loop on the real server, with the sandbox clock: submission, automatic
examination with an irregularity cured by the office, registration, the examining
office's confidential copy, the weekly bulletin a year later, abandonment after a
deadline, and every forbidden transition refused."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

import httpx
import pytest

from hws.domain.weeks import Schedule, Week
from hws.st96 import safexml
from hws.st96.examples import example_package
from hws.st96.schemaset import SchemaSet
from tests.support import servers
from tests.support.servers import start_server, until

pytestmark = pytest.mark.e2e

SANDBOX = {**servers.SANDBOX, "HWS_AUTO_IRREGULARITY": "always"}  # the first examination finds one


def xml_of(blob: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".xml"))
        return archive.read(name)


@pytest.fixture
def sandbox(tmp_path):  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    yield server
    server.stop()


def test_sandbox_life_cycle(sandbox, tmp_path, st96_dir) -> None:
    server = sandbox
    kr = server.enrol("KR")
    us = server.enrol("US", "--examining")
    jp = server.enrol("JP")
    ib = server.enrol("IB", "--scope", "hws/admin")
    schedule = Schedule()

    def status(srn: str) -> bytes:
        return kr.request("GET", f"/request/{srn}").content

    def state(srn: str) -> str:
        return re.search(rb"<hws:ProcessingStatusCategory>([^<]+)<", status(srn)).group(1).decode()

    # Two applications designating US (examining) and JP (not), twelve-month publication.
    srns = []
    for reference in ("KR-APP-1", "KR-APP-2"):
        package = tmp_path / f"{reference}.zip"
        package.write_bytes(
            example_package("application", office="KR", office_reference=reference, deferment=None, immediate_publication=False)
        )
        receipt = kr.submit(package)
        srns.append(kr.wait_for_import(receipt.import_id, timeout=60).srn)
    first, second = srns
    until(lambda: state(first) == "Pending Regularization" and state(second) == "Pending Regularization", what="irregularities")
    assert re.search(rb"<hws:RegularizationDeadlineDate>", status(first))

    # The office cures the first one with a communication carrying its reference.
    cure = tmp_path / "cure.zip"
    cure.write_bytes(example_package("HagueGenericOfficeCommunication", office="KR", office_reference="KR-APP-1", irn=None,
                                     category="Application", documents=[{"file": "cure.pdf", "kind": "MISCELLANEOUS"}]))  # fmt: skip
    kr.wait_for_import(kr.submit(cure).import_id, timeout=60)
    until(lambda: state(first) == "Registered", what="registration")
    registered = status(first)
    irn = re.search(rb"<com:InternationalRegistrationNumber>(DM/\d{6})<", registered).group(1).decode()
    publication_date = datetime.strptime(
        re.search(rb"<com:PublicationDate>([^<]+)<", registered).group(1).decode(), "%Y-%m-%d"
    ).date()

    # Every forbidden transition is refused (operator API), and nothing moved.
    forbidden = ((second, "registration"), (second, "take-up"), (second, "irregularity"), (first, "take-up"),
                 (first, "irregularity"), (first, "regularization"), (first, "cancellation"))  # fmt: skip
    for srn, action in forbidden:
        body = {"reason": "test"} if action in ("irregularity", "cancellation") else None
        response = httpx.post(
            f"{server.api_url}/admin/requests/{srn}/{action}", json=body, headers={"Authorization": f"Bearer {ib.token()}"}
        )
        assert response.status_code == 422, (srn, action, response.text)
    assert state(first) == "Registered" and state(second) == "Pending Regularization"

    # The week closes: the examining office gets its confidential copy; JP may not.
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    week = Week.of(now.date()) if schedule.moment(Week.of(now.date())) > now else Week.of(now.date()).next()
    server.hws("admin", "clock", "advance", f"{int((schedule.moment(week) - now).total_seconds()) + 60}s")
    copy_url = f"{server.api_url}/publication/copy/confidential/{week.id}"
    copy = until(
        lambda: (r := httpx.get(copy_url, headers={"Authorization": f"Bearer {us.token()}"})).status_code == 200 and r,
        what="copy",
    )
    assert irn.encode() in xml_of(copy.content)
    assert httpx.get(copy_url, headers={"Authorization": f"Bearer {jp.token()}"}).status_code == 403

    # A year later: the registration is in the bulletin both offices download; the
    # second application was abandoned when its deadline passed.
    target = Week.of(publication_date)
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    server.hws("admin", "clock", "advance", f"{int((schedule.moment(target) - now).total_seconds()) + 60}s")
    bulletin_url = f"{server.api_url}/publication/bulletin/{target.id}"
    bulletins = []
    for office in (us, jp):
        response = until(
            lambda office=office: (
                (r := httpx.get(bulletin_url, headers={"Authorization": f"Bearer {office.token()}"})).status_code == 200 and r
            ),
            timeout=120,
            what="bulletin",
        )
        bulletins.append(response.content)
    assert bulletins[0] == bulletins[1] and irn.encode() in xml_of(bulletins[0])
    until(lambda: state(second) == "Abandoned", what="abandonment")

    # The published XML validates against WIPO's schema.
    schema = SchemaSet(st96_dir).compiled("V6_0", document="HagueIBToOfficeTransaction")
    for blob in (copy.content, bulletins[0]):
        assert schema.errors(safexml.parse(xml_of(blob)), 10) == []
    for client in (kr, us, jp, ib):
        client.close()
