"""``hws admin sr …`` and ``hws admin clock …``: the operator's examination commands."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import typer

from hws.cli.console import data_table, emit_json, fail, out
from hws.cli.operator_service import operator_service
from hws.store import service_requests as sr_store
from hws.store.sandbox_clock import SandboxClock
from hws.usecases.examination import ExaminationError, Examiner

sr_app = typer.Typer(
    help="Examine service requests (list, show, take-up, irregular, regularize, register, cancel).", no_args_is_help=True
)
clock_app = typer.Typer(help="The sandbox calendar clock (HWS_SANDBOX=1 only).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
ACTOR = typer.Option("operator", "--actor", help="Who acts (recorded in the history).")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@sr_app.command("list")
def sr_list(
    status: str = typer.Option(None, "--status", help="Undefined, Processing, 'Pending Regularization', Registered, …"),
    office: str = typer.Option(None, "--office", help="Sending office (ST.3 code)."),
    older_than: str = typer.Option(None, "--older-than", help="Only requests older than this, e.g. 7d, 12h."),
    limit: int = typer.Option(200, "--limit", min=1, max=10000),
    as_json: bool = JSON,
) -> None:
    """List service requests by status, office and age."""
    service = operator_service()
    cutoff = service.calendar.now() - timedelta(seconds=parse_duration(older_than)) if older_than else None
    items = sr_store.find(
        service.engine, status=status, office=office.upper() if office else None, older_than=cutoff, limit=limit
    )
    if as_json:
        emit_json([sr.as_dict() for sr in items])
        return
    table = data_table(
        "SRN", "office", "transaction", "status", "reference", "IRN", "deadline / publication", keep=("SRN", "status")
    )
    for sr in items:
        when = sr.regularization_deadline or sr.expected_publication
        table.add_row(
            sr.srn,
            sr.office,
            sr.transaction,
            sr.status,
            sr.office_reference or "",
            sr.irn or sr.target_irn or "",
            when.isoformat() if when else "",
        )
    out.print(table)


@sr_app.command("show")
def sr_show(srn: str, as_json: bool = JSON) -> None:
    """One request with its data summary and full history."""
    service = operator_service()
    sr = sr_store.get(service.engine, srn)
    if sr is None:
        fail(f"no service request {srn}", as_json=as_json)
    view = {
        **sr.as_dict(),
        "designations": sr_store.designations(service.engine, srn),
        "history": sr_store.history(service.engine, srn),
    }
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        if key != "history":
            out.print(f"{key:24} {value}")
    for event in view["history"]:
        out.print(f"  {event['at']}  {event['from'] or '-'} → {event['to']}  by {event['actor']}: {event['reason']}")


def _run(action: str, srn: str, as_json: bool, **kwargs: Any) -> None:
    examiner = Examiner(operator_service())
    try:
        sr = getattr(examiner, action)(srn, **kwargs)
    except ExaminationError as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json(sr.as_dict())
    else:
        extra = f", IRN {sr.irn}, expected publication {sr.expected_publication}" if sr.irn else ""
        deadline = f", deadline {sr.regularization_deadline}" if sr.regularization_deadline else ""
        out.print(f"{sr.srn}: {sr.status}{extra}{deadline}")


@sr_app.command("take-up")
def sr_take_up(srn: str, actor: str = ACTOR, as_json: bool = JSON) -> None:
    """Undefined → Processing."""
    _run("take_up", srn, as_json, actor=actor)


@sr_app.command("irregular")
def sr_irregular(
    srn: str,
    reason: str = typer.Option(..., "--reason", help="What the office must cure."),
    fee_shortfall: bool = typer.Option(False, "--fee-shortfall", help="Less than the basic fee was paid (two-month deadline)."),
    actor: str = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Processing → Pending Regularization, with a deadline of 3 (or 2) months."""
    _run("notify_irregularity", srn, as_json, actor=actor, reason=reason, fee_shortfall=fee_shortfall)


@sr_app.command("regularize")
def sr_regularize(
    srn: str, reason: str = typer.Option("irregularity remedied", "--reason"), actor: str = ACTOR, as_json: bool = JSON
) -> None:
    """Pending Regularization → Processing."""
    _run("regularize", srn, as_json, actor=actor, reason=reason)


@sr_app.command("register")
def sr_register(srn: str, actor: str = ACTOR, as_json: bool = JSON) -> None:
    """Processing → Registered (applications get an IRN; decisions are recorded against theirs)."""
    _run("register", srn, as_json, actor=actor)


@sr_app.command("cancel")
def sr_cancel(srn: str, reason: str = typer.Option(..., "--reason"), actor: str = ACTOR, as_json: bool = JSON) -> None:
    """Cancel (withdrawn by the office or cancelled by the operator)."""
    _run("cancel", srn, as_json, actor=actor, reason=reason)


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise typer.BadParameter("use a number and a unit: 30s, 15m, 12h, 7d, 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _sandbox_clock(as_json: bool) -> SandboxClock:
    service = operator_service()
    if not isinstance(service.calendar, SandboxClock):
        fail("the clock can only be moved in sandbox mode (HWS_SANDBOX=1); in production it is the system's", as_json=as_json)
    return service.calendar


@clock_app.command("show")
def clock_show(as_json: bool = JSON) -> None:
    """The service's calendar time and its offset from the system clock."""
    service = operator_service()
    offset = service.calendar.offset(fresh=True) if isinstance(service.calendar, SandboxClock) else 0
    view = {"now": service.calendar.now().isoformat(), "offset_seconds": offset, "sandbox": service.settings.sandbox}
    if as_json:
        emit_json(view)
    else:
        out.print(f"{view['now']} (offset {offset} s{', sandbox' if view['sandbox'] else ''})")


@clock_app.command("advance")
def clock_advance(duration: str = typer.Argument(..., help="How far: 30s, 15m, 12h, 7d, 2w."), as_json: bool = JSON) -> None:
    """Move the sandbox calendar forward (deadlines, registrations, publication weeks follow)."""
    clock = _sandbox_clock(as_json)
    offset = clock.advance(parse_duration(duration))
    if as_json:
        emit_json({"now": clock.now().isoformat(), "offset_seconds": offset})
    else:
        out.print(f"calendar now {clock.now().isoformat()} (offset {offset} s)")
