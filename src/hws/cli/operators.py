"""``hws admin operators``: the people who use the operator console — add, list, change
role, disable, enable, reset (new password, second factor set up again), sign out
everywhere. Passwords are read from a prompt (not echoed) or from stdin, never from the
command line (it would land in the shell's history and the process list)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

import typer

from hws.cli.console import data_table, emit_json, fail, out
from hws.cli.operator_service import operator_service
from hws.domain.operator_roles import Role
from hws.store.operators import Operator
from hws.usecases.operator_accounts import AccountError, OperatorAccounts

operators_app = typer.Typer(help="People who use the operator console (/console).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
PASSWORD_STDIN = typer.Option(False, "--password-stdin", help="Read the password from the first line of stdin (for scripts).")
ROLES = ", ".join(r.value for r in Role)


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _password(from_stdin: bool, as_json: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("no password on stdin", as_json=as_json)
        return line
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("The same again: ") != first:
        fail("the two passwords differ", as_json=as_json)
    return first


def _role(value: str, as_json: bool) -> Role:
    try:
        return Role.parse(value)
    except ValueError as exc:
        fail(str(exc), as_json=as_json)


def _show(operator: Operator, as_json: bool, message: str) -> None:
    if as_json:
        emit_json(operator.as_dict())
    else:
        out.print(message, highlight=False)


def _change(as_json: bool, message: Callable[[Operator], str], action: Callable[[OperatorAccounts], Operator]) -> None:
    """Run ``action`` on the accounts; print the account it returns (``message`` for
    people), or its :class:`AccountError` as a readable failure."""
    try:
        operator = action(OperatorAccounts(operator_service()))
    except AccountError as exc:
        fail(str(exc), as_json=as_json)
    _show(operator, as_json, message(operator))


@operators_app.command("add")
def add(
    name: str = typer.Argument(..., help="The operator's sign-in name (lower case letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help=f"One of: {ROLES}."),
    no_totp: bool = typer.Option(
        False, "--no-totp", help="Do not require a second factor for this account (default: HWS_CONSOLE_REQUIRE_TOTP)."
    ),
    password_stdin: bool = PASSWORD_STDIN,
    as_json: bool = JSON,
) -> None:
    """Add a local operator account; it sets up its second factor (TOTP) at its first sign-in."""
    chosen = _role(role, as_json)
    password = _password(password_stdin, as_json)
    _change(
        as_json,
        lambda o: f"added {o.name} ({o.role.value}); second factor: {o.as_dict()['totp']}",
        lambda accounts: accounts.add(name, chosen, password, actor=_actor(), totp_required=False if no_totp else None),
    )


@operators_app.command("list")
def listing(as_json: bool = JSON) -> None:
    """The operator accounts: role, how they sign in, second factor, lock, last sign-in."""
    items = OperatorAccounts(operator_service()).list()
    if as_json:
        emit_json([o.as_dict() for o in items])
        return
    table = data_table("name", "role", "sign-in", "second factor", "state", "last sign-in", keep=("name", "role"))
    for o in items:
        shown = o.as_dict()
        state = "disabled" if o.disabled else f"locked until {shown['locked_until']}" if o.locked_until else "active"
        table.add_row(o.name, o.role.value, shown["sign_in"], shown["totp"], state,
                      f"{shown['last_sign_in_at'] or '—'} {o.last_sign_in_source or ''}".strip())  # fmt: skip
    out.print(table)


@operators_app.command("role")
def role(name: str, new_role: str = typer.Argument(..., metavar="ROLE", help=f"One of: {ROLES}."), as_json: bool = JSON) -> None:
    """Change an operator's role."""
    chosen = _role(new_role, as_json)
    _change(
        as_json, lambda o: f"{o.name} is now {o.role.value}", lambda accounts: accounts.set_role(name, chosen, actor=_actor())
    )


@operators_app.command("disable")
def disable(name: str, as_json: bool = JSON) -> None:
    """Disable an account (it cannot sign in; its sessions end now)."""
    _change(
        as_json,
        lambda o: f"{o.name} is disabled; its sessions have ended",
        lambda accounts: accounts.set_disabled(name, True, actor=_actor()),
    )


@operators_app.command("enable")
def enable(name: str, as_json: bool = JSON) -> None:
    """Enable a disabled account again."""
    _change(as_json, lambda o: f"{o.name} is enabled", lambda accounts: accounts.set_disabled(name, False, actor=_actor()))


@operators_app.command("reset")
def reset(name: str, password_stdin: bool = PASSWORD_STDIN, as_json: bool = JSON) -> None:
    """A new password; the lock is lifted, the second factor is set up again at the next
    sign-in, every session ends."""
    password = _password(password_stdin, as_json)
    _change(
        as_json,
        lambda o: f"{o.name}: new password set; second factor to be set up at the next sign-in",
        lambda accounts: accounts.reset(name, password, actor=_actor()),
    )


@operators_app.command("sign-out")
def sign_out(name: str, as_json: bool = JSON) -> None:
    """End every console session of an operator."""
    accounts = OperatorAccounts(operator_service())
    if accounts.get(name) is None:
        fail(f"no operator {name!r}", as_json=as_json)
    ended = accounts.sign_out_everywhere(name.strip().lower(), actor=_actor(), source=None)
    if as_json:
        emit_json({"name": name, "sessions_ended": ended})
    else:
        out.print(f"{ended} session{'s' if ended != 1 else ''} of {name} ended", highlight=False)
