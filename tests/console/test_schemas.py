"""The schema sets page in process: none installed, then WIPO's V6_0 installed (its file
count and fingerprints), and which st96Version values go with structural checks only."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96 import schemaset
from hws.st96.schemaset import IB_TO_OFFICE, OFFICE_TO_IB, install_schema_set
from tests.conftest import make_service
from tests.console.conftest import sign_in


def structural(page: str) -> str:
    found = re.search(r'id="structural-versions">(.*?)</dd>', page, re.S)
    assert found
    return html.unescape(found.group(1)).strip()


def test_none_installed_then_wipos_set(console_service: Service, st96_dir: Path) -> None:
    viewer = sign_in(console_service, "viewer", Role.VIEWER)
    page = viewer.get("/console/schemas")
    assert page.status_code == 200
    assert "No schema set installed." in page.text
    assert structural(page.text) == "V6_0"  # the suite's HWS_STRUCTURAL_ONLY_VERSIONS
    assert "<code>V6_0</code>" in page.text

    installed = install_schema_set(st96_dir / "V6_0", console_service.settings.data_dir)
    page = viewer.get("/console/schemas")
    assert re.search(r'class="version">V6_0</td><td rowspan="2" class="num">' + str(installed.files) + "<", page.text)
    for document in (OFFICE_TO_IB, IB_TO_OFFICE):
        fingerprint = console_service.schema_set.fingerprint("V6_0", document)
        assert fingerprint and re.fullmatch(r"[0-9a-f]{64}", fingerprint)
        assert fingerprint in page.text
    assert console_service.schema_set.fingerprint("V6_0", OFFICE_TO_IB) != console_service.schema_set.fingerprint(
        "V6_0", IB_TO_OFFICE
    )
    # the fingerprint is the compiled schema's cache key: compiling gives the same one
    compiled = console_service.schema_set.compiled("V6_0")
    assert compiled is not None
    assert schemaset._cache[console_service.schema_set.fingerprint("V6_0") or ""] is compiled
    assert structural(page.text) == "none"  # V6_0 is now checked against its schema set


@pytest.fixture
def any_version(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    service = make_service(tmp_path, sqlite_url, structural_only_versions=["*"], worker_threads=0)
    yield service
    service.close()


def test_any_version_structural_only(any_version: Service) -> None:
    page = sign_in(any_version, "viewer", Role.VIEWER).get("/console/schemas").text
    assert structural(page) == "any version without an installed set"
    assert "Structural-only validation allowed for any version" in page


@pytest.fixture
def production(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    service = make_service(tmp_path, sqlite_url, structural_only_versions=None, worker_threads=0)
    yield service
    service.close()


def test_production_default_refuses_versions_without_a_set(production: Service) -> None:
    page = sign_in(production, "viewer", Role.VIEWER).get("/console/schemas").text
    assert structural(page) == "none"
    assert "A version without an installed schema set is refused" in page
    assert 'HWS_STRUCTURAL_ONLY_VERSIONS</dt>\n  <dd><span class="muted">unset</span>' in page
