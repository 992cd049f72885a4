"""Fixtures for the ST.96 package tests.

WIPO's official schemas are not part of the repository: ``st96_dir`` (the suite's root
conftest) finds them at ``../shared/st96`` beside the repository, fails under CI when
they are missing and skips elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hws.st96.schemaset import SchemaSet


@pytest.fixture(scope="session")
def schemas(st96_dir: Path) -> SchemaSet:
    """The official V6_0 set, used in place (compiled once per session by the cache)."""
    return SchemaSet(st96_dir)
