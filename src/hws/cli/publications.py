"""Office-side download commands: ``hws bulletin`` and ``hws confidential``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from hws.cli.console import emit_json, err, fail, out
from hws.cli.failures import report, transport_failure
from hws.cli.office import JSON, PROFILE, _client
from hws.client.downloads import (
    BULLETIN,
    CONFIDENTIAL,
    DownloadResult,
    extract_zip,
)
from hws.client.errors import NotYetPublished
from hws.domain.weeks import InvalidWeek, Week

#: exit status when the week is not published yet (EX_TEMPFAIL): try again later
EXIT_NOT_YET = 75

WEEK = typer.Argument(None, help="ISO week yyyyww (e.g. 202647); optional with --since.")
OUT = typer.Option(
    Path("."), "--out", "-o", file_okay=False, help="Folder for the ZIP files (and their .part while downloading)."
)
SINCE = typer.Option(None, "--since", help="Every published week from this one to WEEK (default: the newest).")
EXTRACT = typer.Option(
    None,
    "--extract",
    file_okay=False,
    help="Also unpack the ZIP safely into this folder (with --since: one sub-folder per week).",
)


@contextmanager
def _bars(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """``progress(label, bytes, total)`` drawing one rich bar per file (none when disabled)."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(escape(label), total=None)
            bar.update(tasks[label], completed=done, total=total or None)

        yield advance


def _describe(result: DownloadResult) -> str:
    name = escape(result.path.name)
    if result.skipped:
        return f"[bold]{name}[/] already here with the same sha-256: skipped"
    how = f"resumed from byte {result.resumed_from:,}" if result.resumed_from else "downloaded"
    if result.restarted:
        how += " (the file had changed: started again from zero)"
    return f"[bold green]{name}[/] {how}: {result.size:,} bytes, sha-256 {result.sha256}, verified"


def _report(result: DownloadResult, extracted: dict[str, Any] | None, as_json: bool) -> dict[str, Any]:
    view = {**result.to_dict(), "extracted": extracted}
    if not as_json:
        out.print(_describe(result), highlight=False)
        if extracted:
            out.print(
                f"  extracted {extracted['files']} files ({extracted['bytes']:,} bytes) into {escape(extracted['directory'])}",
                highlight=False,
            )
    return view


def _extract(result: DownloadResult, into: Path | None) -> dict[str, Any] | None:
    if into is None:
        return None
    done = extract_zip(result.path, into)
    return {"directory": str(done.directory), "files": len(done.files), "bytes": done.size}


def _download(
    kind: str, week: str | None, out_dir: Path, since: str | None, extract: Path | None, profile: str | None, as_json: bool
) -> None:
    try:
        week = Week.parse(week).id if week else None
        since = Week.parse(since).id if since else None
    except InvalidWeek as exc:
        fail(str(exc), as_json=as_json, code=2)
    if week is None and since is None:
        fail("give a WEEK (yyyyww), or --since WEEK for every published week from then on", as_json=as_json, code=2)
    if week and since and since > week:
        fail(f"--since {since} is after {week}", as_json=as_json, code=2)
    views: list[dict[str, Any]] = []
    with _client(profile, as_json) as client:
        try:
            with _bars(enabled=not as_json) as bar:
                if since is None:
                    assert week is not None
                    progress = (lambda done, total: bar(f"{kind} {week}", done, total)) if bar else None
                    result = client.download(kind, week, out_dir, progress=progress)
                    views.append(_report(result, _extract(result, extract), as_json))
                else:

                    def each(result: DownloadResult) -> None:
                        views.append(_report(result, _extract(result, extract / result.week if extract else None), as_json))

                    progress_week = (lambda w, done, total: bar(f"{kind} {w}", done, total)) if bar else None
                    client.backfill(kind, since, out_dir, until_week=week, progress=progress_week, on_result=each)
        except NotYetPublished as exc:
            details = {"code": exc.code, "week": exc.week, "retry_after": exc.retry_after, "scheduled_for": exc.scheduled_for}
            fail(str(exc), as_json=as_json, code=EXIT_NOT_YET, details=details)
        except KeyboardInterrupt:
            err.print("interrupted; the part file is kept: run the same command again to resume")
            raise typer.Exit(130) from None
        except httpx.TransportError as exc:
            failure = transport_failure(exc)
            failure.hint += "; run the same command again to resume (a part file is kept)"
            report(failure, as_json=as_json)
            raise typer.Exit(failure.exit_code) from None
    if as_json:
        emit_json(views if since is not None else views[0])
    elif since is not None and not views:
        last = f" up to {week}" if week else ""
        out.print(f"nothing published from week {since}{last}")


def bulletin(
    week: str = WEEK,
    out_dir: Path = OUT,
    since: str = SINCE,
    extract: Path = EXTRACT,
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Download the weekly Hague Bulletin (resumable, verified); --since for every week from then on."""
    _download(BULLETIN, week, out_dir, since, extract, profile, as_json)


def confidential(
    week: str = WEEK,
    out_dir: Path = OUT,
    since: str = SINCE,
    extract: Path = EXTRACT,
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Download your office's confidential copy of a week (examining offices); --since for every week from then on."""
    _download(CONFIDENTIAL, week, out_dir, since, extract, profile, as_json)
