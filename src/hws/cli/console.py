"""Printing for the CLI: rich for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def data_table(*headers: str, keep: tuple[str, ...] = (), title: str | None = None) -> Table:
    """A table that fits the terminal without cutting anything: a long cell folds onto the
    next line; the ``keep`` columns (identifiers, statuses, dates) never wrap."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold", no_wrap=header in keep)
    return table


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, *, code: int = 1, as_json: bool = False, details: dict[str, Any] | None = None) -> NoReturn:
    if as_json:
        emit_json({"error": message, "exit_code": code, **(details or {})})
    else:
        err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)
