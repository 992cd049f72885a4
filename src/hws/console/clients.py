"""Clients: the offices' machine identities — who may ask for tokens, from where, for
what — and, for administrators, enrolment and changes.

Every change goes through the :class:`~hws.store.clients.ClientRegistry`, as ``hws admin
clients`` does, and is written to the audit log with the operator (``operator:<name>``)
and the address they acted from. A change of allow-list, scopes, examining flag, token
binding or name is shown first (the registry's plan: each field before and after) and
applied only when the operator confirms it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from hws.api.security import source_of
from hws.console.access import acting, redirect, service, viewing
from hws.console.templating import render
from hws.domain import scopes as scope_rules
from hws.domain.offices import normalize_office_code
from hws.domain.operator_roles import Role
from hws.domain.token_binding import TokenBinding, token_binding
from hws.keys.certificates import CertificateError, CertificateInfo, read_certificate
from hws.service import Service
from hws.store import audit
from hws.store import clients as clients_store
from hws.store.clients import Client, ClientChanges, ClientKey, ClientUpdate, RegistryError
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()

#: a certificate file larger than this is not a certificate
MAX_CERTIFICATE_BYTES = 64 * 1024
#: token issuances shown on a client's page
RECENT_TOKENS = 10


class FormError(ValueError):
    """What the operator sent cannot be used as it is; the message says why."""


# ----------------------------------------------------------------------------- helpers


def _networks(text: str) -> list[str]:
    """An allow-list as typed: addresses or CIDR ranges separated by spaces, commas or lines."""
    return text.replace(",", " ").split()


def _binding(form: FormData) -> TokenBinding:
    try:
        return token_binding(str(form.get("token_binding") or TokenBinding.BEARER.value))
    except ValueError as exc:
        raise FormError(str(exc)) from None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _scopes(form: FormData) -> list[str]:
    return [value for value in form.getlist("scopes") if isinstance(value, str)]


async def _certificate(form: FormData, field: str = "certificate") -> CertificateInfo:
    """The uploaded certificate file, read and checked (``CertificateError``/``FormError``)."""
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise FormError("choose the office's certificate file (PEM or DER)")
    data = await upload.read(MAX_CERTIFICATE_BYTES + 1)
    if not data:
        raise FormError(f"{upload.filename}: the file is empty")
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise FormError(f"{upload.filename}: larger than {MAX_CERTIFICATE_BYTES // 1024} KiB; not a certificate")
    try:
        return read_certificate(data)
    except CertificateError as exc:
        raise CertificateError(f"{upload.filename}: {exc}") from None


def _record(
    svc: Service, operator: SignedIn, source: str | None, action: str, target: str, office: str | None, **detail: Any
) -> None:
    """An audit event of the operator's action (as ``hws admin clients`` writes it, with
    the operator and their address)."""
    event = audit.AuditEvent(
        at=svc.clock.now(), actor=operator.actor, office=office, action=action, target=target, source=source, detail=detail
    )
    with svc.engine.begin() as conn:
        audit.record(conn, event)


def _page(client_id: str) -> str:
    """The client's page, under the console's prefix."""
    return f"/clients/{quote(client_id, safe='/')}"


def fingerprint(key: ClientKey) -> str:
    """The key's certificate's SHA-256 fingerprint (as ``openssl x509 -fingerprint -sha256`` prints it)."""
    certificate = x509.load_pem_x509_certificate(key.certificate_pem.encode("ascii"))
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


@dataclass(frozen=True)
class KeyView:
    key: ClientKey
    fingerprint: str
    state: str  # valid, expired, not yet valid


def _key_views(keys: list[ClientKey], now: datetime) -> list[KeyView]:
    def state(key: ClientKey) -> str:
        if now < key.not_before:
            return "not yet valid"
        return "valid" if key.valid_at(now) else "expired"

    return [KeyView(k, fingerprint(k), state(k)) for k in keys]


def _edit_values(client: Client) -> dict[str, Any]:
    """The change form's fields as the client is now."""
    return {
        "networks": "\n".join(client.networks),
        "scopes": list(client.scopes),
        "examining": client.examining,
        "token_binding": client.token_binding.value,
        "name": client.name,
    }


def _sent_edit_values(form: FormData) -> dict[str, Any]:
    return {
        "networks": _text(form, "networks"),
        "scopes": _scopes(form),
        "examining": form.get("examining") == "yes",
        "token_binding": _text(form, "token_binding"),
        "name": _text(form, "name"),
    }


ENROL_DEFAULTS: dict[str, Any] = {
    "office": "",
    "networks": "",
    "scopes": list(scope_rules.OFFICE_DEFAULT_SCOPES),
    "examining": False,
    "token_binding": TokenBinding.BEARER.value,
    "name": "",
    "client_id": "",
}


def _options() -> dict[str, Any]:
    return {
        "all_scopes": [(scope, scope_rules.DESCRIPTIONS.get(scope, "")) for scope in scope_rules.ALL_SCOPES],
        "bindings": [b.value for b in TokenBinding],
    }


# ----------------------------------------------------------------------------- the list


async def _list_page(
    request: Request, office: str | None, *, status_code: int = 200, error: str | None = None, enrol: dict[str, Any] | None = None
) -> Response:
    svc = service(request)
    office_filter = (office or "").strip()
    problem = error
    try:
        code = normalize_office_code(office_filter) if office_filter else None
    except ValueError as exc:
        code, problem = None, problem or str(exc)
        status_code = 422

    def load() -> tuple[list[Client], dict[str, clients_store.TokenIssued]]:
        items = svc.registry.list(office=code) if not (office_filter and code is None) else []
        return items, clients_store.last_tokens_issued(svc.engine, [c.client_id for c in items])

    items, last = await run_in_threadpool(load)
    return render(
        request,
        "clients/list.html",
        status_code=status_code,
        clients=items,
        last=last,
        office=office_filter,
        error=problem,
        enrol=enrol or dict(ENROL_DEFAULTS),
        **_options(),
    )


@router.get("/clients")
async def clients_list(
    request: Request, office: str | None = None, operator: SignedIn = Depends(viewing(Role.VIEWER))
) -> Response:
    return await _list_page(request, office)


@router.post("/clients")
async def clients_enrol(request: Request, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    """Enrol a client from the office's certificate file (``hws admin clients add``)."""
    svc = service(request)
    form = await request.form()
    sent: dict[str, Any] = {
        "office": _text(form, "office"),
        "networks": _text(form, "networks"),
        "scopes": _scopes(form),
        "examining": form.get("examining") == "yes",
        "token_binding": _text(form, "token_binding"),
        "name": _text(form, "name"),
        "client_id": _text(form, "client_id"),
    }
    try:
        certificate = await _certificate(form)
        binding = _binding(form)
        if not sent["scopes"]:
            raise FormError("tick at least one scope")
        client = await run_in_threadpool(
            lambda: svc.registry.add(
                office=sent["office"],
                certificate=certificate,
                networks=_networks(sent["networks"]),
                scopes=sent["scopes"],
                examining=sent["examining"],
                name=sent["name"],
                client_id=sent["client_id"] or None,
                token_binding=binding,
            )
        )
    except (FormError, CertificateError, RegistryError) as exc:
        return await _list_page(request, None, status_code=422, error=f"Not enrolled: {exc}", enrol=sent)
    await run_in_threadpool(
        _record, svc, operator, source_of(request), "client.enrolled", client.client_id, client.office,
        kid=certificate.kid, networks=list(client.networks), scopes=list(client.scopes), examining=client.examining,
        token_binding=client.token_binding.value,
    )  # fmt: skip
    return redirect(request, _page(client.client_id), notice=f"Client {client.client_id} enrolled for office {client.office}")


# ----------------------------------------------------------------------------- one client


async def _client_page(
    request: Request,
    client_id: str,
    *,
    status_code: int = 200,
    error: str | None = None,
    edit: dict[str, Any] | None = None,
) -> Response:
    svc = service(request)

    def load() -> tuple[tuple[Client, list[ClientKey]] | None, list[clients_store.TokenIssued]]:
        found = svc.registry.get_with_keys(client_id)
        tokens = clients_store.tokens_issued(svc.engine, client_id, limit=RECENT_TOKENS) if found else []
        return found, tokens

    found, tokens = await run_in_threadpool(load)
    if found is None:
        return render(request, "clients/not_found.html", status_code=404, client_id=client_id)
    client, keys = found
    return render(
        request,
        "clients/detail.html",
        status_code=status_code,
        client=client,
        keys=_key_views(keys, svc.clock.now()),
        tokens=tokens,
        error=error,
        edit=edit or _edit_values(client),
        **_options(),
    )


@router.get("/clients/{client_id:path}")
async def client_detail(request: Request, client_id: str, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    return await _client_page(request, client_id)


def _changes(values: dict[str, Any], form: FormData) -> ClientChanges:
    return ClientChanges(
        set_networks=_networks(values["networks"]),
        scopes=values["scopes"],
        examining=values["examining"],
        token_binding=_binding(form),
        name=values["name"],
    )


@router.post("/clients/{client_id:path}/update")
async def client_update(request: Request, client_id: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    """Change the allow-list, scopes, examining flag, token binding or name: first the
    registry's plan is shown; with ``confirm`` (and the client as it was when the plan
    was shown) it is applied and audited."""
    svc = service(request)
    form = await request.form()
    values = _sent_edit_values(form)
    try:
        changes = _changes(values, form)
        plan: ClientUpdate = await run_in_threadpool(svc.registry.plan_update, client_id, changes)
    except (FormError, RegistryError) as exc:
        return await _client_page(request, client_id, status_code=422, error=f"Not changed: {exc}", edit=values)
    if plan.empty:
        return redirect(request, _page(client_id), notice=f"Client {client_id}: nothing changes")
    seen = plan.before.updated_at.isoformat()
    if form.get("confirm") != "yes":
        return render(request, "clients/confirm.html", client=plan.before, plan=plan, edit=values, seen=seen)
    if form.get("seen") != seen:
        return await _client_page(
            request, client_id, status_code=409,
            error=f"Not changed: client {client_id} was changed by someone else meanwhile; review your changes again.",
            edit=values,
        )  # fmt: skip
    try:
        await run_in_threadpool(lambda: svc.registry.apply_update(plan, actor=operator.actor, source=source_of(request)))
    except RegistryError as exc:
        return await _client_page(request, client_id, status_code=422, error=f"Not changed: {exc}", edit=values)
    return redirect(request, _page(client_id), notice=f"Client {client_id} updated: {', '.join(plan.changes)}")


@router.post("/clients/{client_id:path}/keys")
async def client_add_key(request: Request, client_id: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    """Add a key from a new certificate (rollover: the earlier keys keep working until retired)."""
    svc = service(request)
    form = await request.form()
    try:
        certificate = await _certificate(form)
        key = await run_in_threadpool(svc.registry.add_key, client_id, certificate)
        client = await run_in_threadpool(svc.registry.get, client_id)
    except (FormError, CertificateError, RegistryError) as exc:
        return await _client_page(request, client_id, status_code=422, error=f"Key not added: {exc}")
    office = client.office if client else None
    await run_in_threadpool(_record, svc, operator, source_of(request), "client.key_added", client_id, office, kid=key.kid)
    return redirect(request, _page(client_id), notice=f"Key {key.kid} added to {client_id}")


@router.post("/clients/{client_id:path}/keys/retire")
async def client_retire_key(
    request: Request, client_id: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))
) -> Response:
    """Retire (remove) one key; the client's last key cannot be retired."""
    svc = service(request)
    form = await request.form()
    kid = _text(form, "kid")
    try:
        if not kid:
            raise FormError("which key? (kid missing)")
        await run_in_threadpool(svc.registry.remove_key, client_id, kid)
        client = await run_in_threadpool(svc.registry.get, client_id)
    except (FormError, RegistryError) as exc:
        return await _client_page(request, client_id, status_code=422, error=f"Key not retired: {exc}")
    office = client.office if client else None
    await run_in_threadpool(_record, svc, operator, source_of(request), "client.key_removed", client_id, office, kid=kid)
    return redirect(request, _page(client_id), notice=f"Key {kid} retired from {client_id}")


async def _set_active(request: Request, client_id: str, operator: SignedIn, active: bool) -> Response:
    svc = service(request)
    try:
        client = await run_in_threadpool(svc.registry.set_active, client_id, active)
    except RegistryError as exc:
        return await _client_page(request, client_id, status_code=422, error=str(exc))
    action = "client.enabled" if active else "client.disabled"
    await run_in_threadpool(_record, svc, operator, source_of(request), action, client_id, client.office)
    return redirect(request, _page(client_id), notice=f"Client {client_id} {'enabled' if active else 'disabled'}")


@router.post("/clients/{client_id:path}/disable")
async def client_disable(request: Request, client_id: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    """Disable: no new tokens, and its current tokens stop working."""
    return await _set_active(request, client_id, operator, False)


@router.post("/clients/{client_id:path}/enable")
async def client_enable(request: Request, client_id: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    return await _set_active(request, client_id, operator, True)
