"""``hws admin operators``: accounts for the console, passwords from stdin only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hws.cli.main import app

runner = CliRunner()
PASSWORD = "a long console password 42"


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HWS_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["admin", "init"]).exit_code == 0


def run(*args: str, stdin: str | None = None) -> dict | list:  # type: ignore[type-arg]
    result = runner.invoke(app, [*args, "--json"], input=stdin)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_operator_life_cycle() -> None:
    added = run("admin", "operators", "add", "ana", "--role", "Examiner", "--password-stdin", stdin=PASSWORD + "\n")
    assert added["name"] == "ana" and added["role"] == "examiner" and added["totp"] == "required"
    assert "password" not in json.dumps(added).replace('"sign_in": "password"', "")  # no hash shown
    assert run("admin", "operators", "role", "ana", "administrator")["role"] == "administrator"
    assert run("admin", "operators", "disable", "ana")["disabled"] is True
    assert run("admin", "operators", "enable", "ana")["disabled"] is False
    assert run("admin", "operators", "reset", "ana", "--password-stdin", stdin="another long passphrase\n")["totp"] == "required"
    assert run("admin", "operators", "sign-out", "ana") == {"name": "ana", "sessions_ended": 0}
    assert [o["name"] for o in run("admin", "operators", "list")] == ["ana"]
    table = runner.invoke(app, ["admin", "operators", "list"])
    assert table.exit_code == 0 and "ana" in table.stdout and "administrator" in table.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "bob", "--role", "viewer", "--password-stdin"], "short\n", "12 characters"),
        (["add", "bob", "--role", "boss", "--password-stdin"], PASSWORD + "\n", "unknown role"),
        (["add", "bob", "--role", "viewer", "--password-stdin"], "\n", "no password"),
        (["role", "nobody", "viewer"], None, "no operator"),
        (["sign-out", "nobody"], None, "no operator"),
    ],
)
def test_errors_are_readable_and_exit_non_zero(args: list[str], stdin: str | None, message: str) -> None:
    result = runner.invoke(app, ["admin", "operators", *args], input=stdin)
    assert result.exit_code == 1 and message in result.output


def test_no_password_option_on_the_command_line() -> None:
    result = runner.invoke(app, ["admin", "operators", "add", "bob", "--role", "viewer", "--password", PASSWORD])
    assert result.exit_code != 0
