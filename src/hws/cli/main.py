"""The ``hws`` command."""

from __future__ import annotations

import importlib

import typer

from hws import __version__
from hws.cli import admin, office, requests
from hws.cli.serve import serve
from hws.cli.worker import worker

app = typer.Typer(
    help="Hague Web Services: the office kit (keys, tokens, packages, downloads) and the service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hws {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Hague Web Services (hws)."""


app.command("serve")(serve)
app.command("worker")(worker)
app.command("keygen")(office.keygen)
app.command("access-request")(office.access_request)
app.command("configure")(office.configure)
app.command("token")(office.token)
app.command("ping")(office.ping)
app.command("submit")(requests.submit)
app.command("import-status")(requests.import_status)
app.command("status")(requests.status)
app.command("bulletin")(importlib.import_module("hws.cli.publications").bulletin)
app.command("confidential")(importlib.import_module("hws.cli.publications").confidential)
app.add_typer(admin.app, name="admin")


def _optional(module: str, parent: typer.Typer, name: str) -> None:
    """Sub-commands that live in their own modules (package, schemas)."""
    try:
        sub = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return
    parent.add_typer(sub.app, name=name)


_optional("hws.cli.package", app, "package")
_optional("hws.cli.schemas", admin.app, "schemas")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
