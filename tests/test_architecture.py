"""The layers, read from the source with ``ast``: the tables stay behind the store; the
pure layers (``domain``, ``st96``) import no web framework, database or HTTP client; the
use cases know no HTTP, CLI or worker; ``keys`` points down only; no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hws"
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


def _type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports_of(path: Path) -> list[str]:
    """:func:`imports_of` without ``if TYPE_CHECKING:`` blocks: the imports that run."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if _type_checking_block(node):
            assert isinstance(node, ast.If)
            node.body = []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Module → the project's modules it imports when it runs (anywhere in it, functions
    included; annotations-only imports under ``if TYPE_CHECKING:`` are not imports)."""
    known = {module_name(path, root): path for path in modules(root)}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        targets: set[str] = set()
        for imported in runtime_imports_of(path):
            while imported and imported not in known:  # hws.x.y.Name → hws.x.y
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


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


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "hws"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from hws.sub.b import thing\n")
    (package / "sub" / "b.py").write_text("def f():\n    from hws import c\n")
    (package / "c.py").write_text("import hws.a\n")
    (package / "d.py").write_text("import hws.a\n")
    (package / "e.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hws.f import X\n")
    (package / "f.py").write_text("from hws.e import Y\n")  # e → f for the type checker only: no cycle
    assert cycles(import_graph(package)) == [["hws.a", "hws.c", "hws.sub.b"]]


USE_CASES_MUST_NOT_IMPORT = (
    "fastapi",
    "starlette",
    "httpx",
    "uvicorn",
    "typer",
    "hws.api",
    "hws.cli",
    "hws.worker",
    "hws.embedded",
)
KEYS_MUST_NOT_IMPORT = (
    "hws.auth",
    "hws.store",
    "hws.client",
    "hws.api",
    "hws.cli",
    "hws.worker",
    "hws.usecases",
    "sqlalchemy",
    "httpx",
)


@pytest.mark.parametrize(("layer", "forbidden"), [("usecases", USE_CASES_MUST_NOT_IMPORT), ("keys", KEYS_MUST_NOT_IMPORT)])
def test_use_cases_and_keys_point_down(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in modules(SRC / layer)
        for name in imports_of(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert offenders == []
