"""The layers, read from the source with ``ast``: the tables stay behind the store, and
the pure layers (``domain``, ``st96``) import no web framework, database or HTTP client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hws"
FORBIDDEN_IN_PURE = ("fastapi", "starlette", "sqlalchemy", "httpx", "uvicorn", "hws.store", "hws.api", "hws.worker", "hws.cli")


def imports_of(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def test_only_the_store_reads_the_tables() -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in modules(SRC)
        if SRC / "store" not in path.parents
        for name in imports_of(path)
        if name == "hws.store.tables" or name.startswith("hws.store.tables.")
    ]
    assert offenders == []


@pytest.mark.parametrize("layer", ["domain", "st96"])
def test_pure_layers_import_no_framework_database_or_client(layer: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in modules(SRC / layer)
        for name in imports_of(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_PURE)
    ]
    assert offenders == []


def test_the_check_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from hws.store.tables import clients\nimport sqlalchemy.orm\n")
    assert "hws.store.tables" in imports_of(bad) and "sqlalchemy.orm" in imports_of(bad)
