"""Week 53 and the turn of the year on the real server — run only under a pinned clock.

Not collected by the normal run (the file name does not start with ``test_``):
``tests/e2e/test_year_end.py`` runs it under Debian's ``faketime`` at two moments and
passes the moment in ``HWS_SCENARIO_NOW``. ISO year 2026 has 53 weeks: week 202653 runs
from Monday 28 December 2026 to Sunday 3 January 2027, and its bulletin appears on Friday
1 January 2027 at noon (Geneva time).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, start_server, until

pytestmark = pytest.mark.e2e

NOW = os.environ.get("HWS_SCENARIO_NOW", "")
#: pinned moment → (the week the application is filed in, its Friday: the expected
#: publication of an immediate publication, the bulletin number printed in it)
EXPECTED = {
    "2026-12-31 12:00:00": ("202653", date(2027, 1, 1), "2026/53"),
    "2027-01-04 09:00:00": ("202701", date(2027, 1, 8), "2027/01"),
}


def xml_of(blob: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(".xml")))


@pytest.mark.skipif(NOW not in EXPECTED, reason="run by tests/e2e/test_year_end.py under faketime")
def test_immediate_publication_across_the_year_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pinned = datetime.fromisoformat(NOW).replace(tzinfo=UTC)
    # The clock really is pinned (to within the time this run has taken so far).
    assert timedelta(0) <= datetime.now(UTC) - pinned < timedelta(minutes=10)
    filed_week, friday, number = EXPECTED[NOW]
    assert Week.of(datetime.now(UTC).date()).id == filed_week

    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    try:
        with server.enrol("KR") as kr:
            package = tmp_path / "immediate.zip"
            package.write_bytes(example_package("application", office="KR", office_reference="KR-YEAR-END",
                                                deferment=None, immediate_publication=True))  # fmt: skip
            srn = kr.wait_for_import(kr.submit(package).import_id, timeout=60).srn

            def registered() -> bytes | None:
                body = kr.request("GET", f"/request/{srn}").content
                return body if b"<hws:ProcessingStatusCategory>Registered<" in body else None

            status = until(registered, what="registration")
            irn = re.search(rb"<com:InternationalRegistrationNumber>(DM/\d{6})<", status).group(1).decode()
            published_on = re.search(rb"<com:PublicationDate>([^<]+)<", status).group(1).decode()
            assert published_on == friday.isoformat()  # the next issue: this week's Friday

            week = Week.parse(filed_week)
            bulletin_url = f"{server.api_url}/publication/bulletin/{week.id}"
            token = {"Authorization": f"Bearer {kr.token()}"}
            assert httpx.get(bulletin_url, headers=token).status_code == 404  # not yet

            now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
            server.hws("admin", "clock", "advance", f"{int((Schedule().moment(week) - now).total_seconds()) + 60}s")
            bulletin = until(
                lambda: (
                    (r := httpx.get(bulletin_url, headers={"Authorization": f"Bearer {kr.token()}"})).status_code == 200 and r
                ),
                timeout=120,
                what=f"bulletin {week.id}",
            )
            document = xml_of(bulletin.content)
            assert irn.encode() in document
            assert number.encode() in document or week.id.encode() in document
            # Nothing was published for a week before the first filing, nor for the next one yet.
            previous = httpx.get(f"{server.api_url}/publication/bulletin/{week.previous().id}", headers=token)
            assert previous.status_code == 404
            following = httpx.get(f"{server.api_url}/publication/bulletin/{week.next().id}", headers=token)
            assert following.status_code == 404
    finally:
        server.stop()
