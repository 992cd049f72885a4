"""The ``hws`` command.

Sub-commands are loaded when they run, not when ``hws`` starts: ``hws --version``,
``hws --help`` and the office commands import no server code (FastAPI, SQLAlchemy).
Every expected failure a command lets through becomes one sentence and an exit status
here (:mod:`hws.cli.failures`).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer (0.29+) carries its own click: the types its commands are made of
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from hws import __version__


@dataclass(frozen=True)
class Entry:
    """A sub-command: where it lives and its one-line summary (shown by ``hws --help``
    without loading it; tests/cli/test_cli_startup.py keeps it equal to the command's)."""

    module: str
    attribute: str
    summary: str


COMMANDS: dict[str, Entry] = {
    "keygen": Entry("hws.cli.office", "keygen", "Generate the office's key pair and self-signed certificate (WIPO Appendix A)."),
    "access-request": Entry("hws.cli.office", "access_request",
                            "Write WIPO's API access request form (Appendix B), filled, with the certificate attached."),
    "configure": Entry("hws.cli.office", "configure",
                       "Save connection settings to a profile (environment variables HWS_* override them)."),
    "token": Entry("hws.cli.office", "token", "Obtain an access token and print it."),
    "ping": Entry("hws.cli.office", "ping", "Call pingMe: checks connectivity, key, allow-list and token end to end."),
    "package": Entry("hws.cli.package", "app",
                     "Build Office-to-IB import packages and check them exactly as the service will."),
    "submit": Entry("hws.cli.requests", "submit",
                    "Send an import package (checked here first), print its import ID; --wait for the SRN."),
    "import-status": Entry("hws.cli.requests", "import_status",
                           "Show an import: Pending, Imported (with the SRN) or Rejected (with every problem); "
                           "exit 1 when rejected."),
    "status": Entry("hws.cli.requests", "status", "Show a service request's status (Undefined, Processing, Registered, …)."),
    "bulletin": Entry("hws.cli.publications", "bulletin",
                      "Download the weekly Hague Bulletin (resumable, verified); --since for every week from then on."),
    "confidential": Entry("hws.cli.publications", "confidential",
                          "Download your office's confidential copy of a week (examining offices); --since for every "
                          "week from then on."),
    "watch": Entry("hws.cli.watch", "watch",
                   "Follow the office's imports, requests and publications; download and run a hook per event."),
    "events": Entry("hws.cli.events", "app", "Follow the office's event feed (long-polling; resumable with a cursor file)."),
    "serve": Entry("hws.cli.serve", "serve", "Run the service on the configured database and data folder."),
    "worker": Entry("hws.cli.worker", "worker",
                    "Run background jobs (validation, examination) and the scheduler (one leader among all processes: "
                    "deadlines, weekly publication) until SIGTERM/SIGINT; running jobs finish first."),
    "admin": Entry("hws.cli.admin", "app", "Operator commands (the International Bureau's side)."),
}  # fmt: skip

#: sub-groups that live in their own modules, added to a loaded group
NESTED: dict[str, dict[str, tuple[str, str]]] = {"admin": {"schemas": ("hws.cli.schemas", "app")}}

HELP = (
    "Hague Web Services: the office kit (keys, tokens, packages, downloads) and the service.\n\n"
    "Exit status: 0 done; 1 refused (rejected package, invalid request); 2 wrong command line, profile or setting; "
    "3 service unreachable (connection, DNS, TLS, timeout); 4 not authorised (401/403); 5 not found (404); "
    "6 conflict (409); 7 too large (413); 8 rate limited (429); 9 service error (5xx); 10 database unreachable "
    "or not initialised; 11 local file problem; 75 not published yet; 70 internal error; 130 interrupted. "
    "With --json, a failure is printed as JSON on stdout; --debug (or HWS_DEBUG=1) shows the traceback."
)


class _PlainOption(TyperOption):
    """An option whose help shows a word (``--office OFFICE``), not a Python type (``<str>``)."""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return _display(self, ctx)


class _PlainArgument(TyperArgument):
    def display_type_rich(self, ctx: click.Context) -> str | None:
        return _display(self, ctx)


def _display(param: TyperOption | TyperArgument, ctx: click.Context) -> str | None:
    if isinstance(param, TyperOption) and param.is_flag:
        return None
    described = param.type_descriptor
    if described.is_choice:
        return "|".join(str(getattr(choice, "value", choice)) for choice in described.choices or ())
    if described.is_path:
        return {"file": "FILE", "directory": "FOLDER"}.get(described.path_type, "PATH")
    return param.metavar or (param.name or "value").upper()


def _paragraphs(text: str | None) -> str | None:
    """Help text with the source's line breaks joined (paragraphs kept)."""
    if not text:
        return text
    return "\n\n".join(re.sub(r"\s*\n\s*", " ", p.strip()) for p in re.split(r"\n\s*\n", text.strip()))


def _plain_help_option(option: TyperOption | None) -> TyperOption | None:
    if option is not None and type(option) is TyperOption:
        option.__class__ = _PlainOption
    return option


class _PlainCommand(TyperCommand):
    def get_help_option(self, ctx: click.Context) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))


class _PlainGroup(TyperGroup):
    def get_help_option(self, ctx: click.Context) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))


def _tidy(command: click.Command) -> None:
    """Help without type tags or the source's line breaks, for ``command`` and below."""
    command.help = _paragraphs(command.help)
    _tidy_params(command)
    if type(command) is TyperCommand:
        command.__class__ = _PlainCommand
    elif type(command) is TyperGroup:
        command.__class__ = _PlainGroup
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _tidy(sub)


def _tidy_params(command: click.Command) -> None:
    for param in command.params:
        if type(param) is TyperOption:
            param.__class__ = _PlainOption
        elif type(param) is TyperArgument:
            param.__class__ = _PlainArgument


def load(name: str) -> click.Command:
    """The click command of ``name`` (an entry of :data:`COMMANDS`), imported now."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
        # completion is installed from the root command only
        command.params = [p for p in command.params if p.name not in ("install_completion", "show_completion")]
        for sub_name, (module, attribute) in NESTED.get(name, {}).items():
            assert isinstance(command, TyperGroup)
            nested = typer.main.get_command(getattr(importlib.import_module(module), attribute))
            nested.params = [p for p in nested.params if p.name not in ("install_completion", "show_completion")]
            nested.name = sub_name
            command.add_command(nested, sub_name)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _tidy(command)
    return command


def _available(entry: Entry) -> bool:
    return importlib.util.find_spec(entry.module) is not None


class LazyCommands(TyperGroup):
    """The root group: commands listed from :data:`COMMANDS`, imported when they run; the
    failures they let through reported as sentences (:mod:`hws.cli.failures`)."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n, e in COMMANDS.items() if _available(e))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None or cmd_name not in COMMANDS or not _available(COMMANDS[cmd_name]):
            return known
        if self._listing:  # ``hws --help``: the summary, nothing imported
            summary = COMMANDS[cmd_name].summary
            return TyperCommand(name=cmd_name, help=summary, short_help=summary)
        command = load(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def get_help_option(self, ctx: click.Context) -> TyperOption | None:
        return _plain_help_option(super().get_help_option(ctx))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _tidy_params(self)
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["hws.json"] = "--json" in args
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            from hws.cli import failures

            if failures.debugging(bool(ctx.params.get("debug"))):
                raise
            failure = failures.describe(exc)
            if failure is None:
                failure = failures.Failure(
                    f"internal error: {type(exc).__name__}: {exc}",
                    failures.ExitCode.INTERNAL,
                    "internal",
                    "run the command again with --debug and report the traceback",
                )
            failures.report(failure, as_json=bool(ctx.meta.get("hws.json")))
            raise typer.Exit(failure.exit_code) from None


app = typer.Typer(cls=LazyCommands, help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hws {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of a failure (also HWS_DEBUG=1)."),
) -> None:
    """Hague Web Services (hws)."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
