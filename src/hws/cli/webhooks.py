"""``hws admin clients webhooks …``: offices' webhook endpoints, as the operator sees
them — add (the secret is printed once), list, remove, test, deliveries, redeliver,
enable, disable. Every change is audited."""

from __future__ import annotations

import getpass
import time

import typer

from hws.cli.console import data_table, emit_json, fail, out
from hws.cli.operator_service import operator_service
from hws.domain.webhook_policy import EndpointRefused
from hws.store import events as event_store
from hws.store import webhooks as webhook_store
from hws.usecases import webhooks

webhooks_app = typer.Typer(help="Offices' webhook endpoints (signed event deliveries).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@webhooks_app.command("add")
def add(
    office: str = typer.Option(..., "--office", help="The office whose events are sent (two-letter ST.3 code)."),
    url: str = typer.Option(..., "--url", help="The https:// URL that receives the deliveries."),
    description: str = typer.Option("", "--description", help="A label for people."),
    as_json: bool = JSON,
) -> None:
    """Register an endpoint for an office's events; prints its signing secret (whsec_…) once."""
    service = operator_service()
    try:
        endpoint = webhooks.add_endpoint(service, office=office.upper(), url=url, description=description, actor=_actor())
    except (EndpointRefused, webhooks.WebhookError) as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json(endpoint.as_dict(with_secret=True))
    else:
        out.print(f"endpoint {endpoint.endpoint_id} for {endpoint.office}: {endpoint.url}")
        out.print(f"secret (give it to the office; it is not shown again): {endpoint.secret}")


@webhooks_app.command("list")
def list_(office: str = typer.Option(None, "--office", help="Only this office."), as_json: bool = JSON) -> None:
    """Endpoints with their state and delivery counts."""
    service = operator_service()
    found = webhook_store.listing(service.engine, office.upper() if office else None)
    rows = [{**e.as_dict(), "deliveries": webhook_store.counts(service.engine, e.endpoint_id)} for e in found]
    if as_json:
        emit_json(rows)
        return
    table = data_table("id", "office", "url", "enabled", "deliveries", keep=("id", "url"))
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(row["deliveries"].items())) or "none"
        state = "yes" if row["enabled"] else f"no ({row['disabledReason']})"
        table.add_row(row["id"], row["office"], row["url"], state, counts)
    out.print(table)


@webhooks_app.command("remove")
def remove(endpoint_id: str, as_json: bool = JSON) -> None:
    """Remove an endpoint (its pending deliveries are dropped; the events stay in the feed)."""
    service = operator_service()
    try:
        endpoint = webhooks.remove_endpoint(service, endpoint_id, actor=_actor())
    except webhooks.NotFound as exc:
        fail(str(exc), code=5, as_json=as_json)
    if as_json:
        emit_json(endpoint.as_dict())
    else:
        out.print(f"endpoint {endpoint_id} removed")


@webhooks_app.command("test")
def test(
    endpoint_id: str,
    wait: float = typer.Option(30.0, "--wait", min=0, help="Seconds to wait for the answer (0: just queue it)."),
    as_json: bool = JSON,
) -> None:
    """Queue a signed test delivery and wait for the endpoint's answer (a running worker sends it)."""
    service = operator_service()
    try:
        event_id = webhooks.send_test(service, endpoint_id, actor=_actor())
    except webhooks.NotFound as exc:
        fail(str(exc), code=5, as_json=as_json)
    except webhooks.WebhookError as exc:
        fail(str(exc), as_json=as_json)
    deadline = time.monotonic() + wait
    delivery = None
    while True:
        delivery = next((d for d in webhook_store.deliveries(service.engine, endpoint_id, limit=20)
                         if d.event.event_id == event_id), None)  # fmt: skip
        if delivery is not None and (delivery.status != event_store.PENDING or delivery.attempts):
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    shown = delivery.as_dict() if delivery is not None else {"eventId": event_id, "status": "pending"}
    if as_json:
        emit_json(shown)
    elif delivery is None or (delivery.status == event_store.PENDING and not delivery.attempts):
        out.print(f"test delivery {event_id} queued; no worker has sent it yet")
    elif delivery.status == webhook_store.DELIVERED:
        out.print(f"test delivery {event_id}: the endpoint answered {delivery.last_status}")
    else:
        out.print(f"test delivery {event_id} failed: {delivery.last_error} (state {delivery.status}, retried later)")
    if delivery is not None and delivery.attempts and delivery.status != webhook_store.DELIVERED:
        raise typer.Exit(1)


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: str,
    status: str = typer.Option(None, "--status", help="Only pending, delivered or dead."),
    limit: int = typer.Option(100, "--limit", min=1, max=10000),
    as_json: bool = JSON,
) -> None:
    """An endpoint's most recent deliveries, newest first."""
    service = operator_service()
    found = webhook_store.deliveries(service.engine, endpoint_id, status=status, limit=limit)
    if as_json:
        emit_json([d.as_dict() for d in found])
        return
    table = data_table("id", "sequence", "type", "status", "attempts", "last answer", keep=("type",))
    for d in found:
        answer = str(d.last_status) if d.last_status is not None else (d.last_error or "")[:60]
        table.add_row(str(d.id), str(d.sequence), d.event.type, d.status, str(d.attempts), answer)
    out.print(table)


@webhooks_app.command("redeliver")
def redeliver(
    endpoint_id: str,
    delivery: list[int] = typer.Option([], "--delivery", help="Only this delivery (repeatable); default: every dead one."),
    as_json: bool = JSON,
) -> None:
    """Send dead-lettered deliveries again (in order, with a fresh set of tries)."""
    service = operator_service()
    try:
        ids = webhooks.redeliver(service, endpoint_id, actor=_actor(), delivery_ids=list(delivery) or None)
    except webhooks.NotFound as exc:
        fail(str(exc), code=5, as_json=as_json)
    if as_json:
        emit_json({"endpoint": endpoint_id, "redelivered": ids})
    else:
        out.print(f"{len(ids)} deliveries queued again for {endpoint_id}")


def _switch(endpoint_id: str, enabled: bool, as_json: bool) -> None:
    service = operator_service()
    try:
        endpoint = webhooks.set_enabled(
            service, endpoint_id, enabled, actor=_actor(), reason=None if enabled else "disabled by the operator"
        )
    except webhooks.NotFound as exc:
        fail(str(exc), code=5, as_json=as_json)
    if as_json:
        emit_json(endpoint.as_dict())
    else:
        out.print(f"endpoint {endpoint_id} {'enabled' if enabled else 'disabled'}")


@webhooks_app.command("enable")
def enable(endpoint_id: str, as_json: bool = JSON) -> None:
    """Enable an endpoint again (its pending deliveries resume, in order)."""
    _switch(endpoint_id, True, as_json)


@webhooks_app.command("disable")
def disable(endpoint_id: str, as_json: bool = JSON) -> None:
    """Stop deliveries to an endpoint (they wait; events stay in the feed)."""
    _switch(endpoint_id, False, as_json)
