"""One deferment rule end to end (issue 10, item 2): a deferment of 15 days, 18 months,
2 years or no period gives one expected publication date and one deferment expiry date,
the same in the request's status, the examining office's confidential copy and (for the
one that ends within weeks) the bulletin, on the real server with the sandbox clock.

Before, examination read any unit but years as months (15 days: published 15 months
later) and the copy printed the publication date as the expiry of a deferment without a
period.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta

import httpx
import pytest

from hws.client import HagueClient
from hws.domain.calendar_rules import add_months
from hws.domain.weeks import Schedule, Week
from hws.st96 import safexml
from hws.st96.builder import build_package
from hws.st96.examples import example_spec
from hws.st96.namespaces import COM, DGN
from tests.support.servers import SANDBOX, start_server, until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CASES = {  # office reference → the spec's deferment
    "DEF-15-DAYS": {"days": 15},
    "DEF-18-MONTHS": {"months": 18},
    "DEF-2-YEARS": {"years": 2},
    "DEF-NO-PERIOD": True,
}


def xml_of(blob: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".xml"))).decode()


def expiry_of(xml: str, irn: str) -> str | None:
    """The DefermentExpiryDate printed for ``irn`` in a bulletin or copy."""
    root = safexml.parse(xml.encode()).getroot()
    for registration in root.iter(f"{{{DGN}}}HagueRegistration"):
        if registration.findtext(f"{{{COM}}}InternationalRegistrationNumber") == irn:
            return registration.findtext(f"{{{DGN}}}DefermentExpiryDate")
    raise AssertionError(f"{irn} is not in the document")


def test_one_deferment_rule_in_status_copy_and_bulletin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    schedule = Schedule()
    try:
        with server.enrol("KR") as kr, server.enrol("US", "--examining") as us:
            check(server, schedule, kr, us, tmp_path)
    finally:
        server.stop()


def check(server, schedule: Schedule, kr: HagueClient, us: HagueClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    filed = now.date()
    expected_expiry = {
        "DEF-15-DAYS": filed + timedelta(days=15),
        "DEF-18-MONTHS": add_months(filed, 18),
        "DEF-2-YEARS": add_months(filed, 24),
        "DEF-NO-PERIOD": add_months(filed, 30),
    }
    registered = {}
    for reference, deferment in CASES.items():
        spec = example_spec(
            "application", office="KR", office_reference=reference, deferment=deferment, immediate_publication=False
        )
        spec["filing_date"] = filed.isoformat()
        for design in spec["designs"]:
            design.pop("priority", None)  # the filing date is the base
        path = tmp_path / f"{reference}.zip"
        path.write_bytes(build_package(spec, fill_missing=True))
        done = kr.wait_for_import(kr.submit(path).import_id, timeout=60)
        assert done.imported, (reference, [p.code for p in done.problems])
        registered[reference] = until(
            lambda srn=done.srn: (s := kr.request_status(srn)).irn and s, what=f"{reference} registered"
        )

    # the status: the issue of the week the deferment ends
    for reference, status in registered.items():
        assert status.expected_publication == schedule.publication_date(Week.of(expected_expiry[reference])), reference

    # the week closes: the examining office's copy prints the same expiry for each
    week = Week.of(now.date()) if schedule.moment(Week.of(now.date())) > now else Week.of(now.date()).next()
    server.hws("admin", "clock", "advance", f"{int((schedule.moment(week) - now).total_seconds()) + 60}s")
    copy_url = f"{server.api_url}/publication/copy/confidential/{week.id}"
    copy = until(
        lambda: (r := httpx.get(copy_url, headers={"Authorization": f"Bearer {us.token()}"})).status_code == 200 and r,
        what="copy",
    )
    copy_xml = xml_of(copy.content)
    for reference, status in registered.items():
        assert expiry_of(copy_xml, status.irn) == expected_expiry[reference].isoformat(), reference

    # 15 days on: the bulletin publishes it, with the same expiry
    short = registered["DEF-15-DAYS"]
    target = Week.of(short.expected_publication)
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    server.hws("admin", "clock", "advance", f"{int((schedule.moment(target) - now).total_seconds()) + 60}s")
    bulletin_url = f"{server.api_url}/publication/bulletin/{target.id}"
    bulletin = until(
        lambda: (r := httpx.get(bulletin_url, headers={"Authorization": f"Bearer {kr.token()}"})).status_code == 200 and r,
        timeout=120,
        what="bulletin",
    )
    bulletin_xml = xml_of(bulletin.content)
    assert expiry_of(bulletin_xml, short.irn) == expected_expiry["DEF-15-DAYS"].isoformat()
    for reference in ("DEF-18-MONTHS", "DEF-2-YEARS", "DEF-NO-PERIOD"):
        assert registered[reference].irn not in bulletin_xml  # still deferred
