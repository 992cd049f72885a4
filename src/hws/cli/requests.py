"""Office-side commands of the import pipeline: submit, import-status, status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from hws.cli.console import emit_json, err, fail, out
from hws.cli.office import JSON, PROFILE, _client
from hws.client.errors import ImportTimeout
from hws.client.polling import DEFAULT_TIMEOUT
from hws.client.statuses import ImportStatus, PackageProblem, RequestStatus
from hws.client.upload import Progress as ProgressCallback


def _print_problems(problems: tuple[PackageProblem, ...]) -> None:
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        err.print(f"[{colour}]{p.severity}[/] [bold]{escape(p.code)}[/]", highlight=False)
        err.print(f"    {escape(p.message)}", highlight=False)
        if p.where:
            err.print(f"    [dim]at {escape(p.where)}[/]", highlight=False)


def _print_import(status: ImportStatus, package: Path | None = None) -> None:
    name = f"{package}: " if package else ""
    if status.imported:
        out.print(
            f"[bold green]imported:[/] {escape(name)}service request [bold]{status.srn}[/]"
            f"  [dim](import {status.import_id}" + (f", {status.transaction}" if status.transaction else "") + ")[/]",
            highlight=False,
        )
        out.print(f"Follow it with: hws status {status.srn}", highlight=False)
        _print_problems(status.problems)  # warnings only
    elif status.rejected:
        errors = sum(1 for p in status.problems if p.severity == "error")
        err.print(
            f"[bold red]rejected:[/] {escape(name)}import {status.import_id}: {errors} error(s), "
            f"{len(status.problems) - errors} warning(s)",
            highlight=False,
        )
        _print_problems(status.problems)
    else:
        out.print(f"[bold]pending:[/] {escape(name)}import [bold]{status.import_id}[/]", highlight=False)
        out.print(f"Check it with: hws import-status {status.import_id}", highlight=False)
    if package is None:
        out.print(
            f"  received {status.received_at:%Y-%m-%d %H:%M:%S %Z}, {status.package_size} bytes, sha-256:{status.package_sha256}",
            highlight=False,
        )
        if status.processed_at:
            out.print(f"  processed {status.processed_at:%Y-%m-%d %H:%M:%S %Z}", highlight=False)
        if status.office_reference:
            out.print(f"  office reference {escape(status.office_reference)}", highlight=False)


def _finish(status: ImportStatus, as_json: bool, package: Path | None = None) -> None:
    if as_json:
        emit_json(status.to_dict())
    else:
        _print_import(status, package)
    if status.rejected:
        raise typer.Exit(1)


@contextmanager
def _upload_bar(package: Path, enabled: bool) -> Iterator[ProgressCallback | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(escape(package.name), total=None)

        def advance(sent: int, total: int) -> None:
            bar.update(task, completed=sent, total=total)

        yield advance


def submit(
    package: Path = typer.Argument(..., exists=True, dir_okay=False, help="The package ZIP."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the package is imported (SRN) or rejected."),
    timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", min=0, help="Seconds --wait waits at most."),
    idempotency_key: str = typer.Option(
        None, "--idempotency-key", help="Sending again with the same key (and the same file) returns the first answer."
    ),
    no_check: bool = typer.Option(False, "--no-check", help="Send without checking the package here first."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Send an import package (checked here first), print its import ID; --wait for the SRN."""
    if not no_check:
        # the check loads the schema set: only for this command, and only when asked
        from hws.cli.package import _print_report, default_data_dir
        from hws.st96.package import validate_package
        from hws.st96.schemaset import SchemaSet, default_schema_root

        report = validate_package(package, office=None, schemas=SchemaSet(default_schema_root(default_data_dir())))
        if not report.ok:
            if as_json:
                fail(
                    f"{package} would be rejected; nothing was sent",
                    as_json=True,
                    details={"package": str(package), **report.to_dict()},
                )
            _print_report(package, report)
            err.print("Nothing was sent (--no-check sends anyway).")
            raise typer.Exit(1)
    with _client(profile, as_json) as client:
        try:
            with _upload_bar(package, enabled=not as_json) as progress:
                status = client.submit(package, idempotency_key=idempotency_key, progress=progress)
            if wait and not status.finished:
                if not as_json:
                    out.print(f"sent {package}: import [bold]{status.import_id}[/]; waiting…", highlight=False)
                with err.status("waiting for the import…") if not as_json else _nothing():
                    status = client.wait_for_import(status.import_id, timeout=timeout)
        except ImportTimeout as exc:
            details = {"import_id": exc.import_id, "last": exc.last.to_dict() if exc.last else None}
            fail(str(exc), as_json=as_json, details=details)
        except KeyboardInterrupt:
            err.print("stopped waiting; the import goes on: hws import-status <import ID>")
            raise typer.Exit(130) from None
    _finish(status, as_json, package)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def import_status(
    import_id: str = typer.Argument(..., help="The import ID that hws submit printed."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Show an import: Pending, Imported (with the SRN) or Rejected (with every problem); exit 1 when rejected."""
    with _client(profile, as_json) as client:
        status = client.import_status(import_id)
    _finish(status, as_json)


def _print_request(status: RequestStatus) -> None:
    out.print(f"[bold]{status.srn}[/]  {status.status}", highlight=False)
    rows = [
        ("transaction", status.transaction),
        ("office", status.office),
        ("office reference", status.office_reference),
        ("registration", status.irn),
        ("publication", status.expected_publication.isoformat() if status.expected_publication else None),
        ("regularize by", status.regularization_deadline.isoformat() if status.regularization_deadline else None),
        ("import", status.import_id),
        ("last change", f"{status.last_change:%Y-%m-%d %H:%M:%S %Z}"),
    ]
    for label, value in rows:
        if value:
            out.print(f"  {label:<17} {escape(value)}", highlight=False)


def status(
    srn: str = typer.Argument(..., help="The service request number (SRN)."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Show a service request's status (Undefined, Processing, Registered, …)."""
    with _client(profile, as_json) as client:
        result = client.request_status(srn)
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_request(result)
