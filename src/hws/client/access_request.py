"""WIPO's API access request form (Appendix B), filled in, certificate attached."""

from __future__ import annotations

from dataclasses import dataclass, field

from hws.keys.certificates import CertificateInfo


@dataclass(frozen=True)
class AccessRequest:
    application_name: str
    application_description: str
    business_owner: str
    business_owner_email: str
    technical_contact: str
    technical_contact_email: str
    ip_ranges: list[str]
    certificate: CertificateInfo
    request_type: str = "creation"  # or "update"
    updated: list[str] = field(default_factory=list)  # contact, ip, certificate, scopes
    environment: str = "Production"
    api_urls: list[str] = field(default_factory=list)
    audience: str = "external"  # who accesses the application: internal or external people
    scopes: str = ""


def _box(checked: bool) -> str:
    return "[x]" if checked else "[ ]"


def render(request: AccessRequest) -> str:
    """The form as a Markdown document, ready to e-mail with the certificate."""
    cert = request.certificate
    updated = set(request.updated)
    is_update = request.request_type == "update"
    rows = [
        ("Request Type?", f"Creation request {_box(not is_update)}  Update request {_box(is_update)}"),
        (
            "Describe the updated information",
            "Contact information {} Client IP/IP range {} Certificate {} Scopes {}".format(
                *(_box(is_update and item in updated) for item in ("contact", "ip", "certificate", "scopes"))
            ),
        ),
        ("Environment", request.environment),
        ("API Application Name", request.application_name),
        ("Application Description", request.application_description),
        ("API URL(s)", ", ".join(request.api_urls) or "-"),
        ("Application Business Owner", request.business_owner),
        ("Application Business Owner Mail", request.business_owner_email),
        ("Application Technical Contact Name", request.technical_contact),
        ("Application Technical Contact Email", request.technical_contact_email),
        (
            "Who will access the application?",
            f"Internal people {_box(request.audience == 'internal')}  External people {_box(request.audience == 'external')}",
        ),
        ("How Api is protected?", "Using Access Token acquired via Oauth 2 Client Credentials flow"),
    ]
    client_rows = [
        ("Client ID", "Will be provided by WIPO"),
        ("Client Type", "Confidential"),
        ("Supported scopes (optional)", request.scopes or "By default profile"),
        ("CERTIFICATE (X509V3 – ES256)", f"attached below ({cert.alg}, subject {cert.subject}, key thumbprint {cert.kid})"),
        ("CLIENT IP/IP RANGE", ", ".join(request.ip_ranges)),
        ("Client Authentication method", "private_key_jwt (the client sends its credentials as a JWT)"),
    ]

    def table(title: str, items: list[tuple[str, str]]) -> list[str]:
        out = [f"| {title} | |", "|---|---|"]
        out += [f"| {k} | {v.replace('|', '/')} |" for k, v in items]
        return out

    lines = [
        "# WIPO ICTD API Request Access Form — Hague Web Services",
        "",
        "## General information",
        "",
        *table("General information", rows),
        "",
        "## Client",
        "",
        *table("API protection using OAuth2", client_rows),
        "",
        "## Certificate",
        "",
        f"Valid from {cert.not_before.isoformat()} to {cert.not_after.isoformat()}.",
        "",
        "```",
        cert.pem.strip(),
        "```",
        "",
    ]
    return "\n".join(lines)
