"""``hws package``: build an import package from a description, check one before sending."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.markup import escape

from hws.cli.console import emit_json, err, fail, out
from hws.st96.builder import BuildError, build_package_file
from hws.st96.examples import example_spec
from hws.st96.package import ValidationReport, validate_package
from hws.st96.problems import Severity
from hws.st96.schemaset import SchemaError, SchemaSet, default_schema_root, schema_root_for
from hws.st96.transactions import TransactionKind
from hws.st96.zipsafe import ZipLimits

app = typer.Typer(
    help="Build Office-to-IB import packages and check them exactly as the service will.",
    no_args_is_help=True,
)


def default_data_dir() -> Path:
    try:
        from hws.config import Settings

        return Path(Settings().data_dir)
    except Exception:  # no settings module, or settings that do not load: the plain default
        return Path("./var")


@app.command()
def build(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML or TOML description of the package."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Where to write the ZIP."),
    version: str | None = typer.Option(None, "--version", help="com:st96Version to write (default V6_0)."),
    fill_missing: bool = typer.Option(
        False, "--fill-missing", help="Put specimen JPEG/PNG/PDF files in place of referenced files not found."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """Build a package ZIP from SPEC; referenced files are read relative to SPEC's folder."""
    try:
        written = build_package_file(spec, out_path, fill_missing=fill_missing, version=version)
    except BuildError as exc:
        fail(f"{spec}: {exc}", as_json=as_json)
    except OSError as exc:
        fail(f"cannot write {out_path}: {exc}", as_json=as_json)
    size = written.stat().st_size
    if as_json:
        emit_json({"written": str(written), "bytes": size})
    else:
        out.print(f"[green]built[/] {written} ({size} bytes); check it with: hws package check {written}")


@app.command()
def check(
    package: Path = typer.Argument(..., exists=True, dir_okay=False, help="The package ZIP."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    schemas: Path | None = typer.Option(
        None,
        "--schemas",
        help="WIPO's schema folder (e.g. …/V6_0, as for `hws admin schemas install`) or a folder of such folders; "
        "default <data-dir>/schemas.",
    ),
    office: str | None = typer.Option(None, "--office", help="Your office's two-letter code, as the service knows it."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="hws data folder (for installed schema sets)."),
    max_entries: int = typer.Option(ZipLimits().max_entries, help="Most entries a package may hold."),
    max_total_bytes: int = typer.Option(ZipLimits().max_total_bytes, help="Most uncompressed bytes in all."),
) -> None:
    """Validate a package; list every problem; exit 1 when it would be rejected."""
    try:
        root = schema_root_for(schemas) if schemas is not None else default_schema_root(data_dir or default_data_dir())
    except SchemaError as exc:
        fail(str(exc), as_json=as_json, code=2)
    limits = ZipLimits(max_entries=max_entries, max_total_bytes=max_total_bytes)
    with package.open("rb") as fh:
        report = validate_package(fh, office=office, limits=limits, schemas=SchemaSet(root))
    if as_json:
        emit_json({"package": str(package), **report.to_dict()})
    else:
        _print_report(package, report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(package: Path, report: ValidationReport) -> None:
    console = out if report.ok else err
    if report.problems:
        console.print(f"{package}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)", highlight=False)
    for p in report.problems:
        colour = "red" if p.severity is Severity.ERROR else "yellow"
        console.print(f"[{colour}]{p.severity}[/] [bold]{p.code}[/]", highlight=False)
        console.print(f"    {escape(p.message)}", highlight=False)
        if str(p.where):
            console.print(f"    [dim]at {escape(str(p.where))}[/]", highlight=False)
    if not report.ok:
        err.print(f"[bold red]rejected:[/] {package} would not be imported; fix every error above.")
        return
    c = report.content
    assert c is not None
    schema = "official schema " + c.st96_version if report.schema_checked else "structural rules only"
    out.print(f"[bold green]accepted:[/] {package} ({schema})")
    out.print(f"  transaction   {c.transaction.value}")
    out.print(f"  office        {c.office}" + (f"  reference {c.office_reference}" if c.office_reference else ""))
    if c.irn:
        out.print(f"  registration  {c.irn}")
    if c.designs:
        views = sum(len(d.views) for d in c.designs)
        out.print(f"  designs       {len(c.designs)} ({views} views)")
    if c.designated_offices:
        out.print(f"  designations  {', '.join(c.designated_offices)}")
    for d in c.documents:
        out.print(f"  document      {d.file}  {d.kind}")


@app.command()
def example(
    kind: str = typer.Argument("application", help="Transaction kind, e.g. application, refusal, grant, division."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON (package build reads YAML, a superset)."),
) -> None:
    """Print an example description (YAML) to start from."""
    try:
        spec = example_spec(TransactionKind.parse(kind))
    except ValueError as exc:
        fail(str(exc), as_json=as_json, code=2)
    if as_json:
        emit_json(spec)
        return
    typer.echo(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), nl=False)
