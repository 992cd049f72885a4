"""``hws admin schemas``: install WIPO's official ST.96 schema sets, list them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hws.cli.console import emit_json, fail, out
from hws.cli.operator_service import operator_data_dir
from hws.st96.schemaset import SchemaError, install_schema_set, list_schema_sets

app = typer.Typer(help="Official ST.96 schema sets, one per version (WIPO's files, installed by you).", no_args_is_help=True)


@app.command()
def install(
    source: Path = typer.Argument(..., exists=True, help="WIPO's schema folder (e.g. V6_0) or a ZIP of it."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="hws data folder (default: the service's)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an installed set of the same version."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """Install a schema set into <data-dir>/schemas/<version>, after checking it compiles offline."""
    try:
        result = install_schema_set(source, data_dir or operator_data_dir(), replace=replace)
    except SchemaError as exc:
        fail(str(exc), as_json=as_json)
    except OSError as exc:
        fail(f"cannot install from {source}: {exc}", as_json=as_json)
    if as_json:
        emit_json({"version": result.version, "path": str(result.path), "files": result.files,
                   "documents": list(result.documents)})  # fmt: skip
    else:
        out.print(f"[green]installed[/] ST.96 {result.version}: {result.files} schema files in {result.path}")


@app.command("list")
def list_(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="hws data folder (default: the service's)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """List the installed schema sets."""
    sets = list_schema_sets(data_dir or operator_data_dir())
    if as_json:
        emit_json([{"version": s.version, "path": str(s.path), "files": s.files, "documents": list(s.documents)}
                   for s in sets])  # fmt: skip
        return
    if not sets:
        out.print("no schema set installed; packages are checked with structural rules only."
                  " Install WIPO's with: hws admin schemas install DIR|ZIP")  # fmt: skip
        return
    table = Table(title="installed ST.96 schema sets")
    for column in ("version", "files", "documents", "path"):
        table.add_column(column)
    for s in sets:
        table.add_row(s.version, str(s.files), ", ".join(s.documents), str(s.path))
    out.print(table)
