"""Fixtures for the ST.96 package tests.

WIPO's official schemas are not part of the repository: they are read from
``../shared/st96`` next to the repository root. Under ``CI=true`` a missing folder is a
failure; elsewhere the tests that need it are skipped with a message.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hws.st96.schemaset import SchemaSet

REPO = Path(__file__).resolve().parents[2]
SHARED_ST96 = REPO.parent / "shared" / "st96"


@pytest.fixture(scope="session")
def st96_dir() -> Path:
    if not (SHARED_ST96 / "V6_0" / "HagueOfficeToIBTransaction_V6_0.xsd").is_file():
        message = (
            f"WIPO's ST.96 V6_0 schemas are not at {SHARED_ST96}; put WIPO's Hague schema folder"
            " there as shared/st96/V6_0 (next to the repository) to run these tests"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_ST96


@pytest.fixture(scope="session")
def schemas(st96_dir: Path) -> SchemaSet:
    """The official V6_0 set, used in place (compiled once per session by the cache)."""
    return SchemaSet(st96_dir)
