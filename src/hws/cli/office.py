"""Office-side commands: keygen, access-request, configure, token, ping."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import typer

from hws.cli.console import data_table, emit_json, fail, out
from hws.client import HagueClient, enrolment
from hws.client import access_request as form
from hws.client import profile as profiles
from hws.client.dpop import new_key_file
from hws.client.errors import ProfileError
from hws.domain.networks import InvalidNetwork, normalize_networks
from hws.keys.certificates import CertificateError, read_certificate

JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")
PROFILE = typer.Option(None, "--profile", "-p", help="Profile name (default: $HWS_PROFILE or 'default').")


def keygen(
    name: str = typer.Option(
        ..., "--name", help="Client name; the certificate CN becomes '<NAME> private_key_jwt authentication'."
    ),
    out_dir: Path = typer.Option(..., "--out", help="Folder for private_key.pem (0600), public_key.pem and cert.pem."),
    days: int = typer.Option(730, "--days", min=1, max=3650, help="Certificate validity in days."),
    alg: str = typer.Option("ES256", "--alg", help="ES256 (P-256, WIPO's choice) or PS256 (RSA 3072)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files in the folder."),
    as_json: bool = JSON,
) -> None:
    """Generate the office's key pair and self-signed certificate (WIPO Appendix A)."""
    try:
        files = enrolment.generate(name, out_dir, days=days, alg=alg.upper(), overwrite=force)
    except (FileExistsError, ValueError) as exc:
        fail(str(exc), as_json=as_json)
    result = {
        "private_key": str(files.private_key),
        "public_key": str(files.public_key),
        "certificate": str(files.certificate),
        "kid": files.kid,
        "common_name": files.common_name,
    }
    if as_json:
        emit_json(result)
        return
    out.print(f"Private key  {files.private_key}  [dim](mode 0600 — keep it secret, never send it)[/]")
    out.print(f"Public key   {files.public_key}")
    out.print(f"Certificate  {files.certificate}  [dim](CN={files.common_name})[/]")
    out.print(f"Key ID       {files.kid}")
    out.print("Next: send cert.pem with the access request form (hws access-request) to the operator.")


def access_request(
    cert: Path = typer.Option(..., "--cert", exists=True, dir_okay=False, help="The certificate to send (cert.pem)."),
    out_file: Path = typer.Option(
        Path("access-request.md"), "--out", help="Where to write the filled form (a .json name writes JSON, else Markdown)."
    ),
    app_name: str = typer.Option(..., "--app-name", prompt="API application name"),
    description: str = typer.Option(..., "--description", prompt="Application description"),
    owner: str = typer.Option(..., "--owner", prompt="Application business owner"),
    owner_email: str = typer.Option(..., "--owner-email", prompt="Business owner e-mail"),
    tech: str = typer.Option(..., "--tech", prompt="Technical contact name"),
    tech_email: str = typer.Option(..., "--tech-email", prompt="Technical contact e-mail"),
    ip: list[str] = typer.Option([], "--ip", help="Source IP or CIDR range; repeat for several (asked for when missing)."),
    request_type: str = typer.Option("creation", "--request-type", help="creation or update."),
    updated: list[str] = typer.Option([], "--updated", help="For updates: contact, ip, certificate, scopes (repeatable)."),
    environment: str = typer.Option("Production", "--environment", help="Production, Acceptance, ..."),
    api_url: list[str] = typer.Option([], "--api-url", help="API URL(s) the application uses."),
    scopes: str = typer.Option("", "--scopes", help="Scopes asked for (default: the default profile)."),
    as_json: bool = JSON,
) -> None:
    """Write WIPO's API access request form (Appendix B), filled, with the certificate attached."""
    if request_type not in ("creation", "update"):
        fail("--request-type must be creation or update", as_json=as_json)
    try:
        info = read_certificate(cert.read_bytes())
    except CertificateError as exc:
        fail(f"{cert}: {exc}", as_json=as_json)
    if not ip:
        ip = [typer.prompt("Client IP or range (CIDR; several separated by commas)")]
    ranges = [part.strip() for item in ip for part in item.split(",") if part.strip()]
    try:
        ranges = list(normalize_networks(ranges))
    except InvalidNetwork as exc:
        fail(str(exc), as_json=as_json)
    request = form.AccessRequest(
        application_name=app_name,
        application_description=description,
        business_owner=owner,
        business_owner_email=owner_email,
        technical_contact=tech,
        technical_contact_email=tech_email,
        ip_ranges=ranges,
        certificate=info,
        request_type=request_type,
        updated=updated,
        environment=environment,
        api_urls=api_url,
        scopes=scopes,
    )
    document = form.render_json(request) if out_file.suffix.lower() == ".json" else form.render(request)
    try:
        form.parse(document)  # what the operator's ``hws admin clients apply`` will read: refused here first
    except form.AccessRequestError as exc:
        fail(f"the form would be refused: {exc}", as_json=as_json)
    out_file.write_text(document, "utf-8")
    if as_json:
        emit_json({"form": str(out_file), "kid": info.kid, "ip_ranges": ranges})
    else:
        out.print(f"Wrote {out_file}: e-mail it to the operator with {cert}.")


def configure(
    issuer: str = typer.Option(
        None, "--issuer", help="OAuth2 issuer URL (discovery at {issuer}/.well-known/openid-configuration)."
    ),
    api_url: str = typer.Option(None, "--api-url", help="API base URL (default: from discovery)."),
    client_id: str = typer.Option(None, "--client-id", help="Client ID given by the operator."),
    private_key: Path = typer.Option(None, "--private-key", help="Path of the private key PEM."),
    scope: str = typer.Option(None, "--scope", help="Scopes to ask for (default: the client's defaults)."),
    audience: str = typer.Option(None, "--audience", help="Assertion aud: issuer (default) or token_endpoint (WIPO's example)."),
    profile: str = typer.Option("default", "--profile", "-p", help="Profile name."),
    dpop: bool | None = typer.Option(
        None,
        "--dpop/--no-dpop",
        help="Sender-constrained tokens (DPoP, RFC 9449): --dpop makes a DPoP key kept with the profile (mode 0600) "
        "and signs a proof for every call; the operator sets the client's token binding to dpop-allowed or "
        "dpop-required. --no-dpop goes back to bearer tokens (the key file is left in place).",
    ),
    show: bool = typer.Option(False, "--show", help="Print the profile (with environment overrides) and change nothing."),
    as_json: bool = JSON,
) -> None:
    """Save connection settings to a profile (environment variables HWS_* override them)."""
    if show:
        current = profiles.load(profile)
        if as_json:
            emit_json({"profile": profile, "file": str(profiles.profiles_path()), **asdict(current)})
        else:
            table = data_table("setting", "value", keep=("setting",), title=f"profile {profile} ({profiles.profiles_path()})")
            for key, value in asdict(current).items():
                table.add_row(key, str(value) if value is not None else "-")
            out.print(table)
        return
    stored = profiles.load(profile, environment=False)
    changes = {
        "issuer": issuer.rstrip("/") if issuer else None,
        "api_url": api_url.rstrip("/") if api_url else None,
        "client_id": client_id,
        "private_key": str(private_key.resolve()) if private_key else None,
        "scope": scope,
        "audience": audience,
    }
    updated = replace(stored, **{k: v for k, v in changes.items() if v is not None})
    if updated.audience not in profiles.AUDIENCES:
        fail("--audience must be issuer or token_endpoint", as_json=as_json)
    if private_key and not private_key.exists():
        fail(f"{private_key} does not exist", as_json=as_json)
    if dpop is False:
        updated = replace(updated, dpop_key=None)
    elif dpop and not (updated.dpop_key and Path(updated.dpop_key).exists()):
        key_file = profiles.config_home() / f"dpop-{profile}.pem"
        try:
            if not key_file.exists():
                new_key_file(key_file)
        except OSError as exc:
            fail(f"cannot write the DPoP key {key_file}: {exc.strerror or exc}", as_json=as_json, code=11)
        updated = replace(updated, dpop_key=str(key_file))
    path = profiles.save(updated, profile)
    if as_json:
        emit_json({"profile": profile, "file": str(path), **asdict(updated)})
    else:
        out.print(f"Saved profile {profile!r} to {path}")


def _client(profile: str | None, as_json: bool) -> HagueClient:
    try:
        return HagueClient.from_profile(profile)
    except (ProfileError, ValueError, OSError) as exc:
        fail(str(exc), as_json=as_json, code=2)


def token(
    scope: str = typer.Option(None, "--scope", help="Scopes to ask for (default: the profile's, else the client's defaults)."),
    profile: str = PROFILE,
    as_json: bool = typer.Option(False, "--json", help="Print the whole token response as JSON."),
) -> None:
    """Obtain an access token and print it."""
    with _client(profile, as_json) as client:
        if scope:
            client.scope = scope
        response = client.token_response()  # failures: hws.cli.failures, at the root command
    if as_json:
        emit_json(response)
    else:
        typer.echo(response["access_token"])


def ping(
    name: str = typer.Option(None, "--name", help="Name for the hello message."),
    profile: str = PROFILE,
    as_json: bool = JSON,
) -> None:
    """Call pingMe: checks connectivity, key, allow-list and token end to end."""
    with _client(profile, as_json) as client:
        result = client.ping(name)
    if as_json:
        emit_json(asdict(result))
    else:
        out.print(f"{result.message}  [dim](client {result.client_id}, office {result.office}, {result.timestamp})[/]")
