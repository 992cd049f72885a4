"""The error glossary in docs/problems.md names every code the service can answer."""

from __future__ import annotations

from pathlib import Path

from hws.api.problems import CATALOGUE
from hws.st96.problems import CODES

GLOSSARY = (Path(__file__).resolve().parents[2] / "docs" / "problems.md").read_text()


def test_every_api_problem_code_is_documented() -> None:
    missing = [code for code in CATALOGUE if f"`{code}`" not in GLOSSARY]
    assert not missing, missing


def test_every_package_code_is_documented() -> None:
    missing = [code for code in CODES if f"`{code}`" not in GLOSSARY]
    assert not missing, missing
