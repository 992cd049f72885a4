"""``hws events follow``: the office's event feed, one line per event, as it happens."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from hws.cli.console import out
from hws.cli.office import JSON, PROFILE, _client

app = typer.Typer(help="Follow the office's event feed (long-polling; resumable with a cursor file).", no_args_is_help=True)


@app.callback()
def events() -> None:
    """Follow the office's event feed (long-polling; resumable with a cursor file)."""


def _summary(data: dict[str, object]) -> str:
    keys = ("importId", "serviceRequestNumber", "previousStatus", "status", "internationalRegistrationNumber", "week")
    return "  ".join(f"{k}={data[k]}" for k in keys if data.get(k) not in (None, ""))


@app.command("follow")
def follow(
    cursor_file: Path | None = typer.Option(
        None, "--cursor-file", help="Keep the place here and resume from it (default: the service's acknowledgement)."
    ),
    after: str | None = typer.Option(None, "--after", help="Start after this cursor (an event's sequence number)."),
    wait: int = typer.Option(30, "--wait", min=0, max=300, help="Seconds each long poll waits for an event."),
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop when the feed has nothing more (else follow forever)."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Print the office's events in order as they happen: one line each (--json: the
    CloudEvents JSON, one per line)."""
    with _client(profile, as_json) as client:
        for event in client.events(cursor=after, cursor_file=cursor_file, wait=wait, until_idle=until_idle):
            if as_json:
                typer.echo(json.dumps(event.raw, separators=(",", ":"), ensure_ascii=False))
            else:
                name = event.type.removeprefix("int.wipo.hws.")
                out.print(
                    f"{event.sequence:>6}  {escape(event.time)}  [bold]{escape(name)}[/]  {escape(_summary(event.data))}",
                    highlight=False,
                )
