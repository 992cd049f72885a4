"""Operator commands: clients, service keys, database. They act on the service's own
database and data folder through the same settings, so they work while it runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.table import Table

from hws.cli.audit import audit
from hws.cli.console import emit_json, fail, out
from hws.cli.examination import clock_app, sr_app
from hws.cli.operator_service import choose, operator_service
from hws.cli.publishing import publish
from hws.domain import scopes as scope_rules
from hws.keys.certificates import CertificateError, CertificateInfo, read_certificate
from hws.service import Service
from hws.store import migration
from hws.store.clients import Client, ClientKey, RegistryError

app = typer.Typer(help="Operator commands (the International Bureau's side).", no_args_is_help=True)
clients_app = typer.Typer(help="Enrol and manage office clients.", no_args_is_help=True)
keys_app = typer.Typer(help="The service's own signing keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
jobs_app = typer.Typer(help="The background job queue.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")


app.add_typer(sr_app, name="sr")
app.add_typer(clock_app, name="clock")
app.command("publish")(publish)
app.command("audit")(audit)

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


@app.callback()
def admin_options(
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="The service's data folder (default: HWS_DATA_DIR, the settings file, else ./var)."
    ),
    create: bool = typer.Option(False, "--create", help="Create the data folder and database if there are none."),
) -> None:
    """Operator commands (the International Bureau's side)."""
    choose(data_dir=data_dir, create=create)


@app.command("init")
def init(as_json: bool = JSON) -> None:
    """Create the data folder and the database where the settings point (or bring them up to date)."""
    service = operator_service(migrate=False, create=True)
    before = migration.current_revision(service.engine)
    migration.upgrade(service.engine)
    revision = migration.current_revision(service.engine)
    folder = service.settings.data_dir.resolve()
    if as_json:
        emit_json({"data_dir": str(folder), "revision": revision, "created": before is None})
    elif before is None:
        out.print(f"initialised {folder}: database at revision {revision}; enrol a client with: hws admin clients add")
    else:
        out.print(f"{folder} was already initialised; database at revision {revision}")


def _certificate(path: Path, as_json: bool) -> CertificateInfo:
    try:
        return read_certificate(path.read_bytes())
    except (OSError, CertificateError) as exc:
        fail(f"{path}: {exc}", as_json=as_json)


def _show_client(client: Client, keys: Sequence[ClientKey], as_json: bool) -> None:
    if as_json:
        emit_json({**client.as_dict(), "keys": [k.as_dict() for k in keys]})
        return
    table = Table(title=f"client {client.client_id}", show_header=False)
    for key, value in client.as_dict().items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    for k in keys:
        table.add_row("key", f"{k.kid} {k.alg} valid {k.not_before:%Y-%m-%d} → {k.not_after:%Y-%m-%d} ({k.subject})")
    out.print(table)


@clients_app.command("add")
def clients_add(
    cert: Path = typer.Option(..., "--cert", exists=True, dir_okay=False, help="The office's x509 certificate (PEM or DER)."),
    office: str = typer.Option(..., "--office", help="The office's two-letter WIPO ST.3 code, e.g. KR."),
    ip: list[str] = typer.Option(..., "--ip", help="Allowed source IP or CIDR range; repeat for several."),
    scope: list[str] = typer.Option(
        [], "--scope", help=f"Granted scope (repeatable); default: {' '.join(scope_rules.OFFICE_DEFAULT_SCOPES)}."
    ),
    examining: bool = typer.Option(False, "--examining", help="The office is an examining office (gets confidential copies)."),
    name: str = typer.Option("", "--name", help="A label for people."),
    client_id: str = typer.Option(None, "--client-id", help="Choose the client ID (default: generated, e.g. kr-1a2b3c4d5e6f)."),
    as_json: bool = JSON,
) -> None:
    """Enrol a client: bind the certificate's key, allow-list its addresses, set scopes."""
    info = _certificate(cert, as_json)
    service = operator_service()
    try:
        client = service.registry.add(
            office=office,
            certificate=info,
            networks=[part for item in ip for part in item.replace(",", " ").split()],
            scopes=scope or None,
            examining=examining,
            name=name,
            client_id=client_id,
        )
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.enrolled", client.client_id, client.office, kid=info.kid, networks=list(client.networks),
           scopes=list(client.scopes), examining=client.examining)  # fmt: skip
    if as_json:
        emit_json({**client.as_dict(), "kid": info.kid})
    else:
        typer.echo(client.client_id)
        out.print(
            f"[dim]office {client.office}, scopes {' '.join(client.scopes)}, networks {' '.join(client.networks)}, "
            f"key {info.kid}[/]",
            highlight=False,
        )


@clients_app.command("list")
def clients_list(office: str = typer.Option(None, "--office", help="Only this office."), as_json: bool = JSON) -> None:
    """List enrolled clients."""
    try:
        items = operator_service().registry.list(office=office)
    except ValueError as exc:
        fail(str(exc), as_json=as_json)
    if as_json:
        emit_json([c.as_dict() for c in items])
        return
    table = Table("client_id", "office", "name", "examining", "active", "scopes", "networks")
    for c in items:
        table.add_row(c.client_id, c.office, c.name, str(c.examining), str(c.active), " ".join(c.scopes), " ".join(c.networks))
    out.print(table)


@clients_app.command("show")
def clients_show(client_id: str, as_json: bool = JSON) -> None:
    """Show one client with its keys."""
    found = operator_service().registry.get_with_keys(client_id)
    if found is None:
        fail(f"no client with ID {client_id!r}", as_json=as_json)
    _show_client(*found, as_json)


def _operator() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def _audit(service: Service, action: str, target: str, office: str | None = None, **detail: object) -> None:
    from hws.store import audit as audit_store

    with service.engine.begin() as conn:
        audit_store.record(
            conn,
            audit_store.AuditEvent(
                at=service.clock.now(), actor=_operator(), office=office, action=action, target=target, detail=detail
            ),
        )


def _set_active(client_id: str, active: bool, as_json: bool) -> None:
    service = operator_service()
    try:
        client = service.registry.set_active(client_id, active)
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.enabled" if active else "client.disabled", client_id, client.office)
    if as_json:
        emit_json(client.as_dict())
    else:
        out.print(f"client {client_id} {'enabled' if active else 'disabled'}")


@clients_app.command("disable")
def clients_disable(client_id: str, as_json: bool = JSON) -> None:
    """Disable a client: no new tokens, and its current tokens stop working."""
    _set_active(client_id, False, as_json)


@clients_app.command("enable")
def clients_enable(client_id: str, as_json: bool = JSON) -> None:
    """Enable a disabled client."""
    _set_active(client_id, True, as_json)


@clients_app.command("add-key")
def clients_add_key(
    client_id: str,
    cert: Path = typer.Option(..., "--cert", exists=True, dir_okay=False, help="The new certificate."),
    as_json: bool = JSON,
) -> None:
    """Add a key (key rotation: the old key keeps working until removed)."""
    info = _certificate(cert, as_json)
    service = operator_service()
    try:
        key = service.registry.add_key(client_id, info)
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.key_added", client_id, kid=key.kid)
    if as_json:
        emit_json(key.as_dict())
    else:
        typer.echo(key.kid)


@clients_app.command("remove-key")
def clients_remove_key(client_id: str, kid: str, as_json: bool = JSON) -> None:
    """Remove a key by its kid (RFC 7638 thumbprint); the last key cannot be removed.

    A kid may begin with "-": put the arguments after "--" (remove-key -- CLIENT_ID KID)."""
    service = operator_service()
    try:
        service.registry.remove_key(client_id, kid)
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.key_removed", client_id, kid=kid)
    if as_json:
        emit_json({"client_id": client_id, "removed": kid})
    else:
        out.print(f"removed key {kid} from {client_id}")


@keys_app.command("rotate")
def keys_rotate(as_json: bool = JSON) -> None:
    """Create a new signing key; old keys stay in the JWKS until their tokens expire."""
    service = operator_service(migrate=False)
    key = service.keyring.rotate()
    if as_json:
        emit_json({"kid": key.kid, "published": [k.kid for k in service.keyring.published()]})
    else:
        out.print(f"new signing key {key.kid}; published: {', '.join(k.kid for k in service.keyring.published())}")


@keys_app.command("list")
def keys_list(as_json: bool = JSON) -> None:
    """List the published signing keys (newest signs)."""
    service = operator_service(migrate=False)
    service.keyring.ensure()
    keys = service.keyring.published()
    if as_json:
        emit_json([{"kid": k.kid, "created": k.created, "active": k is keys[-1]} for k in keys])
        return
    for k in keys:
        out.print(f"{k.kid}  created {k.created}{'  (active)' if k is keys[-1] else ''}")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head"), as_json: bool = JSON) -> None:
    """Apply database migrations (Alembic); on a new server database, create the schema."""
    service = operator_service(migrate=False, create_schema=True)
    migration.upgrade(service.engine, revision)
    current = migration.current_revision(service.engine)
    if as_json:
        emit_json({"revision": current})
    else:
        out.print(f"database at revision {current}")


@db_app.command("current")
def db_current(as_json: bool = JSON) -> None:
    """Show the database's schema revision and the newest one."""
    service = operator_service(migrate=False)
    current, head = migration.current_revision(service.engine), migration.head_revision()
    if as_json:
        emit_json({"revision": current, "head": head})
    else:
        out.print(f"revision {current} (head {head})")


@jobs_app.command("list")
def jobs_list(
    status: str = typer.Option(None, "--status", help="queued, running, done or dead."),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JSON,
) -> None:
    """List jobs, newest first (dead ones show their last error)."""
    service = operator_service()
    items = service.jobs.list(status=status, limit=limit)
    counts = service.jobs.counts()
    if as_json:
        emit_json({"counts": counts, "jobs": [vars(j) for j in items]})
        return
    out.print("counts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no jobs"))
    table = Table("id", "kind", "ref", "status", "attempts", "last error")
    for j in items:
        table.add_row(
            str(j.id),
            j.kind,
            j.ref,
            j.status,
            f"{j.attempts}/{j.max_attempts}",
            (j.last_error or "").splitlines()[0] if j.last_error else "",
        )
    out.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: int, as_json: bool = JSON) -> None:
    """Put a dead job back in the queue (after fixing its cause)."""
    if not operator_service().jobs.retry(job_id):
        fail(f"job {job_id} is not dead (or does not exist)", as_json=as_json)
    if as_json:
        emit_json({"job": job_id, "status": "queued"})
    else:
        out.print(f"job {job_id} queued again")
