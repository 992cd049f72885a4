"""WIPO's API access request form (Appendix B), filled in, certificate attached.

:func:`render` writes the form as the office kit sends it (Markdown, the certificate in a
fenced block at the end); :func:`render_json` writes the same content as JSON.
:func:`parse` reads either back, for the operator (``hws admin clients apply``): the
form comes by e-mail, so anything malformed is refused with an
:class:`AccessRequestError` naming the line and field, and nothing else is raised.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm

from hws.client.errors import AccessRequestError as AccessRequestError  # re-exported: parse() raises it
from hws.domain import scopes as scope_rules
from hws.domain.contacts import is_email
from hws.domain.networks import InvalidNetwork, normalize_networks
from hws.keys.certificates import CertificateError, CertificateInfo, read_certificate

#: The items an update request can name, in the form's order.
UPDATE_ITEMS: Final = ("contact", "ip", "certificate", "scopes")
REQUEST_TYPES: Final = ("creation", "update")
AUDIENCES: Final = ("internal", "external")
#: Larger than any form (a few kB with its certificate): refused unread.
MAX_FORM_BYTES: Final = 256 * 1024
DEFAULT_SCOPES_TEXT: Final = "By default profile"


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


def _cell(value: str) -> str:
    """A table cell's text: ``\\`` and ``|`` escaped (GFM), line breaks as blanks."""
    flat = "".join(ch if ch.isprintable() else " " for ch in value)
    return flat.replace("\\", "\\\\").replace("|", "\\|")


# The form's rows: label → field. Fixed rows (what WIPO fills in, or says) are read and
# not used.
TYPE_ROW: Final = "Request Type?"
UPDATED_ROW: Final = "Describe the updated information"
CERTIFICATE_ROW: Final = "CERTIFICATE (X509V3 – ES256)"
TEXT_ROWS: Final = {
    "Environment": "environment",
    "API Application Name": "application_name",
    "Application Description": "application_description",
    "API URL(s)": "api_urls",
    "Application Business Owner": "business_owner",
    "Application Business Owner Mail": "business_owner_email",
    "Application Technical Contact Name": "technical_contact",
    "Application Technical Contact Email": "technical_contact_email",
    "Who will access the application?": "audience",
    "Supported scopes (optional)": "scopes",
    "CLIENT IP/IP RANGE": "ip_ranges",
}
FIXED_ROWS: Final = ("How Api is protected?", "Client ID", "Client Type", "Client Authentication method")
TABLE_TITLES: Final = ("General information", "API protection using OAuth2")
UPDATED_LABELS: Final = ("Contact information", "Client IP/IP range", "Certificate", "Scopes")


def render(request: AccessRequest) -> str:
    """The form as a Markdown document, ready to e-mail with the certificate."""
    cert = request.certificate
    updated = set(request.updated)
    is_update = request.request_type == "update"
    rows = [
        (TYPE_ROW, f"Creation request {_box(not is_update)}  Update request {_box(is_update)}"),
        (
            UPDATED_ROW,
            " ".join(
                f"{label} {_box(is_update and item in updated)}" for label, item in zip(UPDATED_LABELS, UPDATE_ITEMS, strict=True)
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
        ("Supported scopes (optional)", request.scopes or DEFAULT_SCOPES_TEXT),
        (CERTIFICATE_ROW, f"attached below ({cert.alg}, subject {cert.subject}, key thumbprint {cert.kid})"),
        ("CLIENT IP/IP RANGE", ", ".join(request.ip_ranges)),
        ("Client Authentication method", "private_key_jwt (the client sends its credentials as a JWT)"),
    ]

    def table(title: str, items: list[tuple[str, str]]) -> list[str]:
        out = [f"| {title} | |", "|---|---|"]
        out += [f"| {k} | {_cell(v)} |" for k, v in items]
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


def render_json(request: AccessRequest) -> str:
    """The form's content as JSON (what :func:`parse` also accepts)."""
    return json.dumps(
        {
            "request_type": request.request_type,
            "updated": [item for item in UPDATE_ITEMS if item in request.updated and request.request_type == "update"],
            "environment": request.environment,
            "application_name": request.application_name,
            "application_description": request.application_description,
            "api_urls": list(request.api_urls),
            "business_owner": request.business_owner,
            "business_owner_email": request.business_owner_email,
            "technical_contact": request.technical_contact,
            "technical_contact_email": request.technical_contact_email,
            "audience": request.audience,
            "scopes": request.scopes,
            "ip_ranges": list(request.ip_ranges),
            "certificate": request.certificate.pem,
        },
        indent=2,
        ensure_ascii=False,
    )


# Reading ---------------------------------------------------------------------------


#: one value as read, with where it was (a line of the Markdown; ``None`` in JSON) and
#: the name the form gives the field
@dataclass(frozen=True)
class _Value:
    value: Any
    line: int | None
    label: str

    def error(self, message: str) -> AccessRequestError:
        return AccessRequestError(message, field=self.label, line=self.line)


SEPARATOR: Final = re.compile(r"\|\s*:?-+:?\s*\|\s*:?-+:?\s*\|")
THUMBPRINT: Final = re.compile(r"key thumbprint ([A-Za-z0-9_-]+)\)$")
TEXT_LIMITS: Final = {"application_description": 2000, "business_owner_email": 320, "technical_contact_email": 320}


def parse(text: str | bytes) -> AccessRequest:
    """Read a filled form: the Markdown :func:`render` writes, or the JSON of
    :func:`render_json`. Raises :class:`AccessRequestError` (and nothing else)."""
    if isinstance(text, bytes):
        if len(text) > MAX_FORM_BYTES:
            raise AccessRequestError(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise AccessRequestError(f"not UTF-8 text (byte {exc.start})") from None
    if len(text) > MAX_FORM_BYTES:
        raise AccessRequestError(f"the form is larger than {MAX_FORM_BYTES // 1024} KiB")
    text = text.removeprefix("\ufeff")
    values = _read_json(text) if text.lstrip()[:1] in ("{", "[") else _read_markdown(text)
    return _build(values)


def _read_json(text: str) -> dict[str, _Value]:
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise AccessRequestError(f"not a JSON form: {exc}") from None
    if not isinstance(document, dict):
        raise AccessRequestError("a JSON form is an object")
    known = {"request_type", "updated", "certificate", *TEXT_ROWS.values()}
    if unknown := sorted(set(document) - known):
        raise AccessRequestError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    values: dict[str, _Value] = {}
    defaults: dict[str, Any] = {
        "request_type": "creation",
        "updated": [],
        "environment": "Production",
        "api_urls": [],
        "audience": "external",
        "scopes": "",
        "application_description": "",
    }
    for name in sorted(known):
        if name not in document and name not in defaults:
            raise AccessRequestError("missing", field=name)
        value = document.get(name, defaults.get(name))
        listed = name in ("updated", "api_urls", "ip_ranges")
        if listed and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise AccessRequestError("must be a list of strings", field=name)
        if not listed and not isinstance(value, str):
            raise AccessRequestError("must be a string", field=name)
        values[name] = _Value(value, None, name)
    values["request_type"] = _choice(values["request_type"], REQUEST_TYPES)
    values["audience"] = _choice(values["audience"], AUDIENCES)
    for item in values["updated"].value:
        if item not in UPDATE_ITEMS:
            raise values["updated"].error(f"unknown item {item!r}; known: {', '.join(UPDATE_ITEMS)}")
    values["certificate"] = _Value(_certificate(values["certificate"]), None, "certificate")
    return values


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _choice(found: _Value, allowed: tuple[str, ...]) -> _Value:
    if found.value not in allowed:
        raise found.error(f"must be one of {', '.join(allowed)}, not {found.value!r}")
    return found


def _split_row(line: str, number: int) -> tuple[str, str]:
    """``| label | value |`` → (label, value), GFM escapes undone."""
    cells: list[str] = []
    current: list[str] = []
    chars = iter(line.strip()[1:])
    for ch in chars:
        if ch == "\\":
            following = next(chars, "")
            current.append(following if following in ("\\", "|") else "\\" + following)
        elif ch == "|":
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        raise AccessRequestError("a table row ends with '|'", line=number)
    if len(cells) != 2:
        raise AccessRequestError(f"a table row has two cells (label | value), not {len(cells)}", line=number)
    return cells[0], cells[1]


def _read_markdown(text: str) -> dict[str, _Value]:
    rows: dict[str, _Value] = {}
    certificate: _Value | None = None
    fence: tuple[int, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                start, body = fence
                fence = None
                if any("-----BEGIN" in b for b in body):
                    if certificate is not None:
                        raise AccessRequestError("a second certificate: send one per form", line=start)
                    certificate = _Value("\n".join(body), start, "certificate")
            else:
                fence[1].append(stripped)
            continue
        if stripped.startswith("```"):
            fence = (number, [])
        elif stripped.startswith("|"):
            if SEPARATOR.fullmatch(stripped.replace(" ", "")):
                continue
            label, value = _split_row(stripped, number)
            if label in TABLE_TITLES and not value:
                continue
            if label not in (*TEXT_ROWS, TYPE_ROW, UPDATED_ROW, CERTIFICATE_ROW, *FIXED_ROWS):
                raise AccessRequestError(f"not a row of the form: {label[:80]!r}", line=number)
            if label in rows:
                raise AccessRequestError(f"given twice (first on line {rows[label].line})", field=label, line=number)
            rows[label] = _Value(value, number, label)
        # headings and prose ("Valid from … to …") carry nothing the form needs
    if fence is not None:
        raise AccessRequestError("a ``` block is not closed", line=fence[0])
    for label in (TYPE_ROW, UPDATED_ROW, CERTIFICATE_ROW, *TEXT_ROWS):
        if label not in rows:
            raise AccessRequestError("missing from the form", field=label)
    if certificate is None:
        raise AccessRequestError("no certificate attached (a ``` block with -----BEGIN CERTIFICATE-----)")

    values = {name: rows[label] for label, name in TEXT_ROWS.items()}
    creation, update = _boxes(rows[TYPE_ROW], ("Creation request", "Update request"))
    if creation == update:
        raise rows[TYPE_ROW].error("tick exactly one of Creation request and Update request")
    values["request_type"] = _Value("update" if update else "creation", rows[TYPE_ROW].line, TYPE_ROW)
    ticked = _boxes(rows[UPDATED_ROW], UPDATED_LABELS)
    values["updated"] = _Value(
        [item for item, on in zip(UPDATE_ITEMS, ticked, strict=True) if on], rows[UPDATED_ROW].line, UPDATED_ROW
    )
    internal, external = _boxes(values["audience"], ("Internal people", "External people"))
    if internal == external:
        raise values["audience"].error("tick exactly one of Internal people and External people")
    values["audience"] = _Value("internal" if internal else "external", values["audience"].line, values["audience"].label)
    api = values["api_urls"]
    values["api_urls"] = _Value([] if api.value == "-" else _split_list(api.value), api.line, api.label)
    ips = values["ip_ranges"]
    values["ip_ranges"] = _Value(_split_list(ips.value), ips.line, ips.label)
    scopes = values["scopes"]
    values["scopes"] = _Value("" if scopes.value == DEFAULT_SCOPES_TEXT else scopes.value, scopes.line, scopes.label)

    info = _certificate(certificate)
    described = rows[CERTIFICATE_ROW]
    if (stated := THUMBPRINT.search(described.value)) and stated.group(1) != info.kid:
        raise described.error(
            f"names the key {stated.group(1)}, but the attached certificate's key is {info.kid}: is it the right certificate?"
        )
    values["certificate"] = _Value(info, certificate.line, "certificate")
    return values


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _boxes(found: _Value, labels: tuple[str, ...]) -> list[bool]:
    """Each label's check box (``[x]`` or ``[ ]``), in order, nothing else in the cell."""
    pattern = r"\s*".join(rf"{re.escape(label)}\s*\[([ xX])\]" for label in labels)
    match = re.fullmatch(rf"\s*{pattern}\s*", found.value)
    if match is None:
        boxes = "  ".join(f"{label} [ ]" for label in labels)
        raise found.error(f"expected check boxes as '{boxes}' ([x] ticks one)")
    return [box.lower() == "x" for box in match.groups()]


def _certificate(found: _Value) -> CertificateInfo:
    try:
        return read_certificate(found.value.encode("utf-8"))
    except (CertificateError, ValueError, UnsupportedAlgorithm) as exc:  # cryptography: malformed input is a ValueError
        raise found.error(str(exc)) from None


def _build(values: dict[str, _Value]) -> AccessRequest:
    text: dict[str, str] = {}
    for name in (
        "environment",
        "application_name",
        "application_description",
        "business_owner",
        "business_owner_email",
        "technical_contact",
        "technical_contact_email",
    ):
        found = values[name]
        value = found.value.strip()
        limit = TEXT_LIMITS.get(name, 200)
        if len(value) > limit or not value.isprintable():
            raise found.error(f"at most {limit} printable characters on one line")
        if not value and name != "application_description":
            raise found.error("must be filled in")
        if name.endswith("email") and not is_email(value):
            raise found.error(f"not an e-mail address: {value[:80]!r}")
        text[name] = value
    for url in values["api_urls"].value:
        if len(url) > 2000 or not url.isprintable() or any(ch.isspace() or ch == "," for ch in url):
            raise values["api_urls"].error(f"not a URL: {url[:80]!r}")
    ips = values["ip_ranges"]
    try:
        ranges = list(normalize_networks(ips.value))
    except InvalidNetwork as exc:
        raise ips.error(str(exc)) from None
    if not ranges:
        raise ips.error("at least one IP address or range is required")
    scopes = values["scopes"]
    asked = scope_rules.parse_scope(scopes.value.strip())
    try:
        scope_rules.check_known(asked)
    except ValueError as exc:
        raise scopes.error(str(exc)) from None
    request_type = values["request_type"].value
    if request_type == "creation" and values["updated"].value:
        raise values["updated"].error("a creation request names no updated information")
    return AccessRequest(
        **text,
        ip_ranges=ranges,
        certificate=values["certificate"].value,
        request_type=request_type,
        updated=list(dict.fromkeys(values["updated"].value)),
        api_urls=list(values["api_urls"].value),
        audience=values["audience"].value,
        scopes=scope_rules.format_scope(asked),
    )
