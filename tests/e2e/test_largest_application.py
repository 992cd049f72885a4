"""The largest application the Hague rules allow is accepted at the default limits
(issue 9, item 10): 100 designs × 10 views. Before, the default 1,000-entry limit
rejected it (1,000 images + the XML + documents)."""

from __future__ import annotations

import io
import zipfile

import pytest

from hws.st96.builder import build_package
from hws.st96.examples import example_spec
from hws.st96.zipsafe import ZipLimits

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def largest_application() -> bytes:
    spec = example_spec("application", office="KR", office_reference="KR-MAX-100")
    spec["designs"] = [
        {
            "id": str(d),
            "product": "Chair",
            "locarno": "06-01",
            "views": [{"file": f"images/{d}.{v}.jpg", **({"type": "Perspective"} if v == 1 else {})} for v in range(1, 11)],
        }
        for d in range(1, 101)
    ]
    return build_package(spec, fill_missing=True)


def test_a_100_design_10_view_application_is_imported_at_default_limits(server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    package = largest_application()
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        entries = len(archive.namelist())
    assert entries > 1000 and entries <= ZipLimits().max_entries  # 1,000 views + the XML + 2 documents
    path = tmp_path / "largest.zip"
    path.write_bytes(package)
    with server.enrol("KR") as hws:
        done = hws.wait_for_import(hws.submit(path).import_id, timeout=180)
        assert done.imported, [p.code for p in done.problems]
        status = hws.request_status(done.srn)
    assert status.transaction == "HagueApplication"
