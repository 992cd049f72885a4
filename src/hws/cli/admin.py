"""Operator commands: clients, service keys, database. They act on the service's own
database and data folder through the same settings, so they work while it runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from hws.cli.audit import audit
from hws.cli.console import data_table, emit_json, fail, out
from hws.cli.examination import clock_app, sr_app
from hws.cli.operator_service import choose, operator_service
from hws.cli.operators import operators_app
from hws.cli.publishing import publish
from hws.cli.webhooks import webhooks_app
from hws.domain import scopes as scope_rules
from hws.domain.token_binding import TokenBinding
from hws.keys.certificates import CertificateError, CertificateInfo, read_certificate
from hws.service import Service
from hws.store import migration
from hws.store.clients import KEEP, Client, ClientChanges, ClientKey, ClientUpdate, Keep, RegistryError

if TYPE_CHECKING:
    from hws.client.access_request import AccessRequest

app = typer.Typer(help="Operator commands (the International Bureau's side).", no_args_is_help=True)
clients_app = typer.Typer(help="Enrol and manage office clients.", no_args_is_help=True)
keys_app = typer.Typer(help="The service's own signing keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(clients_app, name="clients")
clients_app.add_typer(webhooks_app, name="webhooks")
app.add_typer(keys_app, name="keys")
jobs_app = typer.Typer(help="The background job queue.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")


app.add_typer(sr_app, name="sr")
app.add_typer(clock_app, name="clock")
app.command("publish")(publish)
app.command("audit")(audit)
app.add_typer(operators_app, name="operators")

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


TOKEN_BINDING_HELP = (
    "How the client's access tokens are bound: bearer (WIPO's profile), dpop-allowed (DPoP-bound when the "
    "token request carries a DPoP proof) or dpop-required (only DPoP-bound tokens, RFC 9449; FAPI 2.0)."
)


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
    token_binding: TokenBinding = typer.Option(TokenBinding.BEARER, "--token-binding", help=TOKEN_BINDING_HELP),
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
            token_binding=token_binding,
        )
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.enrolled", client.client_id, client.office, kid=info.kid, networks=list(client.networks),
           scopes=list(client.scopes), examining=client.examining,
           token_binding=client.token_binding.value)  # fmt: skip
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
    table, hidden = _clients_table(items, out.width)
    out.print(table)
    if hidden:
        out.print(f"[dim]not shown, to fit the terminal: {', '.join(hidden)} (see --json or clients show)[/]", soft_wrap=False)


#: The list's columns: (header, value); a cell's lines are one network or scope each, so
#: no address is ever cut.
CLIENT_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("client_id", lambda c: c.client_id),
    ("office", lambda c: c.office),
    ("active", lambda c: "yes" if c.active else "no"),
    ("networks", lambda c: "\n".join(c.networks)),
    ("scopes", lambda c: "\n".join(c.scopes)),
    ("name", lambda c: c.name),
    ("examining", lambda c: "yes" if c.examining else "no"),
    ("tokens", lambda c: c.token_binding.value),
    ("updated", lambda c: _iso(c.updated_at)),
)
#: Left out first when the terminal is narrow.
CLIENT_COLUMNS_DROPPED = ("updated", "tokens", "examining", "name", "scopes", "active", "office")


def _clients_table(items: Sequence[Client], width: int) -> tuple[Table, list[str]]:
    """The clients as a table no wider than ``width``: each column as wide as its longest
    line (a name folds at words down to 12 characters); the least important columns are
    left out (:data:`CLIENT_COLUMNS_DROPPED`) when even that does not fit; their headers are returned."""
    cells = {header: [value(c) for c in items] for header, value in CLIENT_COLUMNS}

    def needed(header: str) -> int:
        longest = max((len(line) for cell in cells[header] for line in cell.splitlines()), default=0)
        if header == "name":
            longest = min(longest, 12)
        return max(longest, len(header))

    columns = [header for header, _ in CLIENT_COLUMNS]
    droppable = list(CLIENT_COLUMNS_DROPPED)
    while droppable and sum(needed(h) for h in columns) + 3 * len(columns) + 1 > width:
        columns.remove(droppable.pop(0))
    table = Table()
    for header in columns:
        table.add_column(header, min_width=needed(header), overflow="fold", no_wrap=header != "name")
    for row in range(len(items)):
        table.add_row(*(cells[header][row] for header in columns))
    return table, [header for header, _ in CLIENT_COLUMNS if header not in columns]


@clients_app.command("show")
def clients_show(client_id: str, as_json: bool = JSON) -> None:
    """Show one client with its keys."""
    found = operator_service().registry.get_with_keys(client_id)
    if found is None:
        fail(f"no client with ID {client_id!r}", as_json=as_json)
    _show_client(*found, as_json)


def _iso(when: datetime | None) -> str:
    """ISO 8601 in UTC, to the second: 2026-12-03T20:24:19Z."""
    if when is None:
        return ""
    return when.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def _when(value: str | None, option: str, as_json: bool) -> datetime | Keep | None:
    """``--not-before``/``--not-after``: an ISO 8601 date or date-time (UTC unless it says
    otherwise), ``none`` for no limit, nothing given: unchanged."""
    if value is None:
        return KEEP
    if value.strip().lower() in ("none", ""):
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            fail(f"{option}: not an ISO 8601 date or date-time (or none): {value!r}", as_json=as_json)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _networks(values: Sequence[str]) -> list[str]:
    return [part for item in values for part in item.replace(",", " ").split()]


def _show_changes(plan: ClientUpdate, title: str) -> None:
    table = data_table("field", "before", "after", keep=("field",), title=title)

    def shown(value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(value) or "-"
        return "-" if value is None or value == "" else str(value)

    for name, (before, after) in plan.changes.items():
        table.add_row(name, shown(before), shown(after))
    for kid in plan.keys_added:
        table.add_row("key added", "", kid)
    out.print(table)


def _update_output(service: Service, plan: ClientUpdate, client: Client, *, dry_run: bool, as_json: bool) -> None:
    if as_json:
        keys = service.registry.keys(client.client_id)
        emit_json({**client.as_dict(), "keys": [k.as_dict() for k in keys], "changes": plan.as_dict(), "dry_run": dry_run})
    elif plan.empty:
        out.print(f"client {client.client_id}: nothing changes")
    elif dry_run:
        out.print(f"dry run: client {client.client_id} not changed")
    else:
        out.print(f"client {client.client_id} updated")
        if plan.keys_added:
            out.print("[dim]its earlier keys keep working until removed: hws admin clients remove-key CLIENT_ID KID[/]")


def _confirmed(yes: bool, dry_run: bool, as_json: bool) -> bool:
    """Whether to go ahead: ``--yes``, or a "y" from the operator; never on ``--dry-run``."""
    if dry_run:
        return False
    if yes:
        return True
    if as_json:
        fail("--json needs --yes (or --dry-run): nothing is asked in JSON mode", as_json=True)
    if not typer.confirm("Apply these changes?", default=False):
        fail("nothing changed", as_json=as_json)
    return True


@clients_app.command("update")
def clients_update(
    client_id: str,
    set_ip: list[str] = typer.Option([], "--set-ip", help="Replace the allow-list with these IPs or CIDR ranges (repeatable)."),
    add_ip: list[str] = typer.Option([], "--add-ip", help="Allow this IP or CIDR range too (repeatable)."),
    remove_ip: list[str] = typer.Option([], "--remove-ip", help="Take this IP or range off the allow-list (repeatable)."),
    scope: list[str] = typer.Option(
        [], "--scope", help=f"Replace the granted scopes (repeatable; known: {' '.join(scope_rules.ALL_SCOPES)})."
    ),
    examining: bool | None = typer.Option(None, "--examining/--not-examining", help="Examining office (confidential copies)."),
    token_binding: TokenBinding | None = typer.Option(None, "--token-binding", help=TOKEN_BINDING_HELP),
    name: str | None = typer.Option(None, "--name", help="The label for people (the API application name)."),
    business_owner: str | None = typer.Option(None, "--business-owner", help="Application business owner."),
    business_owner_email: str | None = typer.Option(None, "--business-owner-email", help="Business owner's e-mail."),
    technical_contact: str | None = typer.Option(None, "--technical-contact", help="Technical contact's name."),
    technical_contact_email: str | None = typer.Option(None, "--technical-contact-email", help="Technical contact's e-mail."),
    not_before: str | None = typer.Option(
        None, "--not-before", help="No tokens before this ISO 8601 date or date-time (UTC); 'none': no limit."
    ),
    not_after: str | None = typer.Option(
        None, "--not-after", help="No tokens after this ISO 8601 date or date-time (UTC); 'none': no limit."
    ),
    add_cert: list[Path] = typer.Option(
        [], "--add-cert", exists=True, dir_okay=False, help="Add this certificate's key (rollover; repeatable)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; change nothing."),
    as_json: bool = JSON,
) -> None:
    """Change a client's allow-list, scopes, examining flag, contacts, validity or keys.

    Each change takes effect on the client's next token request (the running service reads
    the client's current record every time) and is written to the audit log with the
    values before and after. An update that would leave no allowed address, or names an
    unknown scope, is refused."""
    changes = ClientChanges(
        set_networks=_networks(set_ip) if set_ip else None,
        add_networks=_networks(add_ip),
        remove_networks=_networks(remove_ip),
        scopes=scope or None,
        examining=examining,
        token_binding=token_binding,
        name=name,
        business_owner=business_owner,
        business_owner_email=business_owner_email,
        technical_contact=technical_contact,
        technical_contact_email=technical_contact_email,
        not_before=_when(not_before, "--not-before", as_json),
        not_after=_when(not_after, "--not-after", as_json),
        certificates=[_certificate(path, as_json) for path in add_cert],
    )
    given = (examining, token_binding, name, business_owner, business_owner_email, technical_contact, technical_contact_email)
    if not (set_ip or add_ip or remove_ip or scope or add_cert or not_before or not_after) and given.count(None) == len(given):
        fail("nothing to change: give at least one option (see hws admin clients update --help)", as_json=as_json)
    service = operator_service()
    try:
        plan = service.registry.plan_update(client_id, changes)
        if not as_json and not plan.empty:
            _show_changes(plan, f"client {client_id}{' (dry run)' if dry_run else ''}")
        client = plan.before if dry_run else service.registry.apply_update(plan, actor=_operator(), source="cli")
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _update_output(service, plan, client, dry_run=dry_run, as_json=as_json)


@clients_app.command("apply")
def clients_apply(
    form_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The access request form (.md or .json)."),
    office: str | None = typer.Option(None, "--office", help="The office's ST.3 code (required to enrol: the form has none)."),
    client_id: str | None = typer.Option(
        None, "--client-id", help="The client an update request changes; for a creation request, the ID to give."
    ),
    examining: bool = typer.Option(False, "--examining", help="Creation: the office is an examining office."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; change nothing."),
    as_json: bool = JSON,
) -> None:
    """Apply an office's access request form (WIPO Appendix B, as `hws access-request` writes it).

    A creation request enrols a client (the attached certificate, IP ranges, scopes and
    contacts; the office from --office). An update request changes what it ticks (contact
    information, IP ranges, certificate, scopes) on the client named by --client-id.
    What will change is shown first, and asked for unless --yes."""
    from hws.client import access_request as forms

    try:
        data = form_file.read_bytes()
    except OSError as exc:
        fail(f"{form_file}: {exc}", as_json=as_json)
    try:
        request = forms.parse(data)
    except forms.AccessRequestError as exc:
        fail(f"{form_file}: {exc}", as_json=as_json)
    contacts = {
        "business_owner": request.business_owner,
        "business_owner_email": request.business_owner_email,
        "technical_contact": request.technical_contact,
        "technical_contact_email": request.technical_contact_email,
    }
    scopes = scope_rules.parse_scope(request.scopes) or list(scope_rules.OFFICE_DEFAULT_SCOPES)
    service = operator_service()
    if request.request_type == "creation":
        _apply_creation(service, request, contacts, scopes, office=office, client_id=client_id, examining=examining,
                        source=form_file.name, yes=yes, dry_run=dry_run, as_json=as_json)  # fmt: skip
        return
    if not client_id:
        fail("an update request needs --client-id: the client it changes", as_json=as_json)
    if not request.updated:
        fail(f"{form_file}: the update request ticks nothing under 'Describe the updated information'", as_json=as_json)
    try:
        current, keys = service.registry.get_with_keys(client_id) or (None, [])
        if current is None:
            raise RegistryError(f"no client with ID {client_id!r}")
        if office and office.strip().upper() != current.office:
            raise RegistryError(f"client {client_id!r} belongs to office {current.office}, not {office.strip().upper()}")
        known = {k.kid for k in keys}
        if "certificate" not in request.updated and request.certificate.kid not in known:
            raise RegistryError(
                f"the form's certificate (key {request.certificate.kid}) is not one of {client_id!r}'s keys: "
                "is it the right client? (tick Certificate to add it as a new key)"
            )
        contact = "contact" in request.updated
        changes = ClientChanges(
            set_networks=request.ip_ranges if "ip" in request.updated else None,
            scopes=scopes if "scopes" in request.updated else None,
            certificates=[request.certificate] if "certificate" in request.updated else [],
            business_owner=request.business_owner if contact else None,
            business_owner_email=request.business_owner_email if contact else None,
            technical_contact=request.technical_contact if contact else None,
            technical_contact_email=request.technical_contact_email if contact else None,
        )
        plan = service.registry.plan_update(client_id, changes)
        if not as_json and not plan.empty:
            _show_changes(plan, f"update request for client {client_id} ({', '.join(request.updated)})")
        client = plan.before
        if not plan.empty and _confirmed(yes, dry_run, as_json):
            client = service.registry.apply_update(
                plan, actor=_operator(), source="access-request", context={"form": form_file.name[:100]}
            )
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _update_output(service, plan, client, dry_run=dry_run, as_json=as_json)


def _apply_creation(
    service: Service,
    request: AccessRequest,
    contacts: dict[str, str],
    scopes: list[str],
    *,
    office: str | None,
    client_id: str | None,
    examining: bool,
    source: str,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    if not office:
        fail("a creation request needs --office: the office's two-letter ST.3 code (the form does not say)", as_json=as_json)
    planned = {
        "office": office.strip().upper(),
        "client_id": client_id or "(generated)",
        "name": request.application_name,
        **contacts,
        "examining": examining,
        "scopes": scopes,
        "networks": list(request.ip_ranges),
        "key": f"{request.certificate.kid} {request.certificate.alg} valid {_iso(request.certificate.not_before)} → "
        f"{_iso(request.certificate.not_after)} ({request.certificate.subject})",
    }
    if not as_json:
        table = data_table("field", "value", keep=("field",), title="new client" + (" (dry run)" if dry_run else ""))
        for key, value in planned.items():
            table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
        out.print(table)
    if not _confirmed(yes, dry_run, as_json):
        if as_json:
            emit_json({"dry_run": True, "planned": planned})
        else:
            out.print("dry run: no client enrolled")
        return
    try:
        client = service.registry.add(
            office=office,
            certificate=request.certificate,
            networks=request.ip_ranges,
            scopes=scopes,
            examining=examining,
            name=request.application_name,
            client_id=client_id,
            contacts=contacts,
        )
    except RegistryError as exc:
        fail(str(exc), as_json=as_json)
    _audit(service, "client.enrolled", client.client_id, client.office, kid=request.certificate.kid,
           networks=list(client.networks), scopes=list(client.scopes), examining=client.examining,
           form=source[:100])  # fmt: skip
    if as_json:
        emit_json({**client.as_dict(), "kid": request.certificate.kid, "dry_run": False})
    else:
        typer.echo(client.client_id)
        out.print(f"[dim]enrolled for office {client.office} from {source}[/]", highlight=False)


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
    created = {k.kid: _iso(datetime.fromtimestamp(k.created, UTC)) for k in keys}
    if as_json:
        emit_json([{"kid": k.kid, "created": created[k.kid], "active": k is keys[-1]} for k in keys])
        return
    table = data_table("kid", "created", "active", keep=("created", "active"))
    for k in keys:
        table.add_row(k.kid, created[k.kid], "yes" if k is keys[-1] else "")
    out.print(table)


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
