"""``hws admin audit``: read the append-only audit log."""

from __future__ import annotations

from datetime import timedelta

import typer

from hws.cli.console import data_table, emit_json, out
from hws.cli.examination import parse_duration
from hws.cli.operator_service import operator_service
from hws.store import audit as audit_store


def audit(
    actor: str = typer.Option(None, "--actor", help="A client ID, operator, worker, publisher, anonymous…"),
    action: str = typer.Option(
        None, "--action", help="e.g. auth.token, request.submitted, sr.transition, publication.* (wildcard *)."
    ),
    office: str = typer.Option(None, "--office", help="Office code."),
    target: str = typer.Option(None, "--target", help="Import ID, SRN, bulletin/202647, …"),
    since: str = typer.Option(None, "--since", help="Only the last 30m, 12h, 7d, …"),
    limit: int = typer.Option(100, "--limit", min=1, max=100000),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Who did what, when, from where: authentications, submissions, status changes,
    publications and downloads (newest first)."""
    service = operator_service()
    start = service.clock.now() - timedelta(seconds=parse_duration(since)) if since else None
    events = audit_store.query(
        service.engine,
        actor=actor,
        action=action,
        office=office.upper() if office else None,
        target=target,
        since=start,
        limit=limit,
    )
    if as_json:
        emit_json(events)
        return
    table = data_table("at", "actor", "office", "action", "target", "outcome", "source", "detail", keep=("at",))
    for e in events:
        detail = ", ".join(f"{k}={v}" for k, v in e["detail"].items())
        table.add_row(
            e["at"][:19] + "Z",
            e["actor"],
            e["office"] or "",
            e["action"],
            e["target"] or "",
            e["outcome"],
            e["source"] or "",
            detail,
        )
    out.print(table)
