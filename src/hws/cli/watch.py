"""``hws watch``: the office's long-running follower (see :mod:`hws.client.watch`)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer
from rich.markup import escape

from hws.cli.console import data_table, emit_json, err, fail, out
from hws.cli.office import JSON, PROFILE, _client
from hws.cli.publications import _bars
from hws.client.hooks import Hook
from hws.client.watch import HOOK_ATTEMPTS, Watcher, WatchOptions
from hws.client.watch_state import Event, WatchState
from hws.domain.identifiers import is_import_id, is_srn
from hws.domain.weeks import InvalidWeek, Week

STATE_NAME = ".hws-watch.sqlite"


class Stopped(Exception):
    """SIGTERM: stop where we are (every step is safe to cut; the next run resumes)."""


def _describe(event: Event) -> str:
    p = event.payload
    match event.type:
        case "package.submitted":
            return f"{p['package']} sent: import {p['import_id']}"
        case "package.refused":
            return f"{p['package']} refused by the service ({p['http_status']} {p['code']}): {p['detail']}; moved to refused/"
        case "import.imported":
            return f"import {p['import_id']} imported: service request {p['srn']}"
        case "import.rejected":
            return f"import {p['import_id']} rejected: {p['errors']} error(s); hws import-status {p['import_id']} shows them"
        case "request.status":
            was = f" (was {p['previous']})" if p.get("previous") else ""
            irn = f", registration {p['irn']}" if p.get("irn") else ""
            return f"service request {p['srn']}: {p['status']}{was}{irn}"
        case "bulletin.downloaded" | "confidential.downloaded":
            how = f"resumed from byte {p['resumed_from']:,}" if p.get("resumed_from") else p.get("outcome", "downloaded")
            return f"{event.type.split('.')[0]} {p['week']}: {p['path']} ({p['size']:,} bytes, {how}, sha-256 verified)"
    return f"{event.type} {event.key}"


def _printer(as_json: bool) -> Callable[[Event], None]:
    def printed(event: Event) -> None:
        if as_json:
            sys.stdout.write(json.dumps(event.to_dict(), default=str) + "\n")
            sys.stdout.flush()
        else:
            out.print(f"[dim]{escape(event.at)}[/] [bold]{escape(event.type)}[/] {escape(_describe(event))}", highlight=False)

    return printed


def _notice(text: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)


@contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    stop = threading.Event()

    def stopping(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise Stopped

    previous = signal.signal(signal.SIGTERM, stopping)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _show(state_path: Path, as_json: bool) -> None:
    if not state_path.exists():
        fail(f"{state_path}: no state file here (hws watch has not run with this --state or --out)", as_json=as_json, code=2)
    with WatchState(state_path, lock=False) as state:
        settings = {name: state.setting(name) for name in ("office", "since:bulletin", "since:confidential")}
        items, downloads, events = state.all_items(), state.downloads(), state.events(limit=50)
    if as_json:
        emit_json({"state": str(state_path), "settings": settings, "followed": items, "downloads": downloads,
                   "events": [{**e.to_dict(), "hook": e.hook_state, "hook_attempts": e.hook_attempts,
                               "hook_error": e.hook_error} for e in events]})  # fmt: skip
        return
    out.print(f"state {escape(str(state_path))}: office {settings['office'] or '?'}", highlight=False)
    followed = data_table("kind", "id", "state", "final", "package", keep=("kind", "id", "state"))
    for item in items:
        followed.add_row(item["kind"], item["id"], item["state"] or "-", "yes" if item["final"] else "no", item["package"] or "")
    out.print(followed)
    table = data_table("kind", "week", "file", "bytes", keep=("kind", "week"))
    for d in downloads:
        table.add_row(d["kind"], d["week"], d["path"], f"{d['size']:,}")
    out.print(table)
    recent = data_table("seq", "at", "event", "id", "hook", keep=("seq", "at", "event", "hook"))
    for e in events:
        hook = e.hook_state + (f" ({e.hook_attempts} tries: {e.hook_error})" if e.hook_error else "")
        recent.add_row(str(e.seq), e.at, e.type, e.key, hook)
    out.print(recent)


def watch(
    out_dir: Path = typer.Option(Path("."), "--out", "-o", file_okay=False, help="Folder for the downloaded ZIP files."),
    state_path: Path = typer.Option(
        None, "--state", dir_okay=False, help=f"The watcher's state file (default: OUT/{STATE_NAME}); one per office."
    ),
    outbox: Path = typer.Option(
        None,
        "--outbox",
        file_okay=False,
        help="Send every *.zip put in this folder (write it under another name, then rename it to .zip), "
        "follow it, and move it to sent/ (refused/ when the service refuses it outright).",
    ),
    follow: list[str] = typer.Option(
        [], "--follow", metavar="ID", help="Also follow this import ID or service request number (repeatable)."
    ),
    hook: str = typer.Option(
        None,
        "--hook",
        metavar="COMMAND",
        help="Run this shell command once per event: the event as JSON on stdin, and HWS_EVENT, HWS_EVENT_ID, "
        "HWS_WEEK, HWS_PATH, HWS_SRN… in its environment; a non-zero exit is tried again next round.",
    ),
    hook_timeout: float = typer.Option(300.0, "--hook-timeout", min=1, metavar="SECONDS", help="Kill a hook running longer."),
    hook_attempts: int = typer.Option(
        HOOK_ATTEMPTS, "--hook-attempts", min=1, metavar="N", help="Give up an event's hook after N failed runs."
    ),
    since: str = typer.Option(
        None, "--since", metavar="WEEK", help="First week to download (default: the newest published at the first run)."
    ),
    confidential: bool = typer.Option(
        None,
        "--confidential/--no-confidential",
        help="Download the office's confidential copies (default: when the office is an examining one).",
    ),
    interval: float = typer.Option(
        60.0,
        "--interval",
        min=0.1,
        metavar="SECONDS",
        help="Seconds between rounds. Where the service has the event feed, the wait is a long poll that an event "
        "ends at once, and rounds without news only look at the outbox.",
    ),
    once: bool = typer.Option(False, "--once", help="One round, then exit (for cron or a systemd timer)."),
    show: bool = typer.Option(False, "--show", help="Print what the state file holds and exit; the service is not asked."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Follow the office's imports, requests and publications; download and run a hook per event.

    Each round sends what is in the outbox, asks for every followed import and service
    request, downloads (resumable, verified) each newly published bulletin and, for an
    examining office, confidential copy, then runs the hook once per new event. Every change
    is kept in a local SQLite state file with its event: stopped or killed at any moment, the
    next run resumes the download it was in and misses nothing. SIGTERM stops it (exit 0).
    With --json, each event is one JSON line on stdout.
    """
    state_path = state_path or out_dir / STATE_NAME
    if show:
        _show(state_path, as_json)
        return
    try:
        first_week = Week.parse(since).id if since else None
    except InvalidWeek as exc:
        fail(str(exc), as_json=as_json, code=2)
    wrong = [item for item in follow if not (is_import_id(item) or is_srn(item))]
    if wrong:
        fail(f"--follow {wrong[0]}: neither an import ID (26 characters) nor a service request number (970…)",
             as_json=as_json, code=2)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    if outbox is not None:
        outbox.mkdir(parents=True, exist_ok=True)
    options = WatchOptions(
        out_dir=out_dir,
        outbox=outbox,
        confidential=confidential,
        since=first_week,
        hook=Hook(hook, timeout=hook_timeout) if hook else None,
        hook_attempts=hook_attempts,
    )
    with _client(profile, as_json) as client, WatchState(state_path) as state, _stop_on_sigterm() as stop:
        for item in follow:
            state.follow("import" if is_import_id(item) else "request", item)
        show_bars = not as_json and err.is_terminal
        try:
            with _bars(enabled=show_bars) as bar:
                watcher = Watcher(
                    client, state, options, on_event=_printer(as_json), on_notice=_notice, progress=bar, wall_clock=time.time
                )
                office = watcher.start()
                if not as_json:
                    err.print(
                        f"watching office {office} as {escape(str(state_path))}; downloads into {escape(str(out_dir))}"
                        + (f", outbox {escape(str(outbox))}" if outbox else ""),
                        highlight=False,
                    )
                if once:
                    done = watcher.round()
                    if done.problems:
                        raise done.problems[0][1]
                else:
                    watcher.run(interval, stop)
        except Stopped:
            if not as_json:
                err.print("stopped (SIGTERM); the next run goes on from here")
