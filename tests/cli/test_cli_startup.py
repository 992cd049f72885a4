"""``hws`` starts light: its commands are imported when they run, and the office's
commands import no server code (timings are in bench/cli_startup.py, not here)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec

import pytest

from hws.cli.main import COMMANDS, load

#: the office kit's commands: what an office runs, on a machine without the service
OFFICE = ("keygen", "access-request", "configure", "token", "ping", "package", "submit", "import-status", "status",
          "bulletin", "confidential", "watch")  # fmt: skip
SERVER = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "hws.service", "hws.store", "hws.api")


def _modules_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_office_commands_import_no_server_code() -> None:
    present = [name for name in OFFICE if find_spec(COMMANDS[name].module) is not None]
    modules = _modules_after(f"from hws.cli.main import load\nfor name in {present!r}: load(name)")
    assert "hws.cli.office" in modules and "hws.cli.requests" in modules  # they were loaded
    assert [m for m in modules if m.split(".")[0] in SERVER or m.startswith(SERVER)] == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_load_no_command(argv: list[str]) -> None:
    modules = _modules_after(f"import sys\nfrom hws.cli.main import app\nsys.argv = ['hws', *{argv!r}]\n"
                             "try:\n    app()\nexcept SystemExit:\n    pass")  # fmt: skip
    assert not [m for m in modules if m.startswith(("hws.cli.office", "hws.cli.admin", "hws.client", "hws.st96"))]
    assert not [m for m in modules if m.split(".")[0] in SERVER]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_listed_summaries_are_the_commands_own(name: str) -> None:
    """``hws --help`` lists each command by a summary kept beside its module path: it is the
    first paragraph of the command's own help, so the two never drift apart."""
    try:
        command = load(name)
    except ModuleNotFoundError:
        pytest.skip(f"{name} is not installed")
    first = (command.help or "").split("\n\n")[0]
    assert COMMANDS[name].summary == first


def test_help_has_no_type_tags() -> None:
    from typer.testing import CliRunner

    from hws.cli.main import app

    runner = CliRunner()
    for argv in (["--help"], ["submit", "--help"], ["admin", "clients", "add", "--help"], ["package", "check", "--help"]):
        result = runner.invoke(app, argv, terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "<str>" not in result.output and "<bool>" not in result.output and "list[str]" not in result.output
    assert "--office" in runner.invoke(app, ["admin", "clients", "add", "--help"], terminal_width=200).output
