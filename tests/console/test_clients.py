"""The clients pages in process: the list and one client, and the administrator's actions
(enrol from a certificate file, change allow-list/scopes/examining after confirming,
add and retire keys, disable and enable), each audited with the operator and address;
other roles and forged forms refused with nothing changed."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest

from hws.domain.operator_roles import Role
from hws.keys.certificates import read_certificate
from hws.service import Service
from hws.store import audit
from tests.api.test_requests import bearer
from tests.conftest import enrol
from tests.console.conftest import Console
from tests.support.certificates import self_signed
from tests.support.jose import new_ec_key

SignedIn = Callable[..., Console]
PEM = "application/x-pem-file"


def events(service: Service, action: str) -> list[dict[str, Any]]:
    return audit.query(service.engine, action=action)


def state(service: Service) -> list[tuple[Any, ...]]:
    """Every client as it is, with its keys: to show nothing changed."""
    return [(c, tuple(k.kid for k in service.registry.keys(c.client_id))) for c in service.registry.list()]


def certificate_file(name: str = "office.pem", **kwargs: Any) -> dict[str, tuple[str, bytes, str]]:
    return {"certificate": (name, self_signed(new_ec_key(), **kwargs), PEM)}


def enrol_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "office": "kr",
        "networks": "192.0.2.0/24\n198.51.100.7",
        "scopes": ["hws/requests", "hws/publications"],
        "examining": "yes",
        "token_binding": "dpop-allowed",
        "name": "KIPO production",
        "client_id": "",
    }
    form.update(changes)
    return form


def text_of(response: Any) -> str:
    return html.unescape(response.text)


def test_the_list_shows_each_client_with_its_last_token(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR", networks=("127.0.0.1/32", "192.0.2.0/24"), examining=True)
    quiet = enrol(console_service, office="FR", networks=("198.51.100.0/24",))
    viewer = signed_in(Role.VIEWER)
    bearer(viewer.client, office)  # a token issued from 127.0.0.1, recorded in the audit log
    issued = audit.query(console_service.engine, action="auth.token", actor=office.client_id)
    assert issued and issued[0]["source"] == "127.0.0.1"

    page = viewer.get("/console/clients")
    assert page.status_code == 200
    body = text_of(page)
    row = re.search(r"<tr>\s*<td>KR</td>.*?</tr>", page.text, re.S)
    assert row is not None
    kr = html.unescape(row.group(0))
    assert office.client_id in kr and "192.0.2.0/24" in kr and "127.0.0.1/32" in kr
    assert "hws/requests" in kr and "hws/publications" in kr and "bearer" in kr
    assert "<td>yes</td>" in kr and "active" in kr
    assert "127.0.0.1</code>" in kr and " UTC" in kr  # the last token: when and from where
    fr = html.unescape(re.search(r"<tr>\s*<td>FR</td>.*?</tr>", page.text, re.S).group(0))  # type: ignore[union-attr]
    assert quiet.client_id in fr and "never" in fr
    assert "Enrol a client" not in body  # a viewer has no administrator forms

    only_fr = viewer.get("/console/clients", params={"office": "fr"})
    assert quiet.client_id in only_fr.text and office.client_id not in only_fr.text
    bad = viewer.get("/console/clients", params={"office": "ZZ9"})
    assert bad.status_code == 422 and "office code must be two letters" in text_of(bad)


def test_one_client_with_its_keys(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR")
    viewer = signed_in(Role.VIEWER)
    bearer(viewer.client, office)
    page = viewer.get(f"/console/clients/{office.client_id}")
    assert page.status_code == 200
    body = text_of(page)
    key = console_service.registry.keys(office.client_id)[0]
    assert office.kid in body and "ES256" in body and key.subject in body
    assert f"{key.not_before:%Y-%m-%d %H:%M} UTC" in body and f"{key.not_after:%Y-%m-%d %H:%M} UTC" in body
    fingerprint = read_certificate(office.cert_pem)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    expected = x509.load_pem_x509_certificate(office.cert_pem).fingerprint(hashes.SHA256()).hex(":").upper()
    assert expected in body and fingerprint.kid == office.kid
    assert ">valid<" in page.text
    # the recent tokens: from 127.0.0.1, with the key that signed the assertion
    tokens = page.text.split("Recent tokens issued", 1)[1]
    assert "127.0.0.1" in tokens and office.kid in tokens
    assert "Review the changes" not in body  # no administrator forms for a viewer
    missing = viewer.get("/console/clients/kr-000000000000")
    assert missing.status_code == 404 and "no client with ID" in text_of(missing)


def test_an_administrator_enrols_a_client_from_a_certificate_file(console_service: Service, signed_in: SignedIn) -> None:
    admin = signed_in(Role.ADMINISTRATOR, "alice")
    files = certificate_file()
    kid = read_certificate(files["certificate"][1]).kid
    assert "Enrol a client" in admin.get("/console/clients").text
    response = admin.post("/console/clients", enrol_form(), files=files)
    assert response.status_code == 303, response.text
    [client] = console_service.registry.list()
    assert response.headers["location"] == f"/console/clients/{client.client_id}"
    assert client.office == "KR" and client.examining and client.name == "KIPO production"
    assert client.networks == ("192.0.2.0/24", "198.51.100.7/32")
    assert client.scopes == ("hws/requests", "hws/publications") and client.token_binding.value == "dpop-allowed"
    assert [k.kid for k in console_service.registry.keys(client.client_id)] == [kid]
    [event] = events(console_service, "client.enrolled")
    assert event["actor"] == "operator:alice" and event["source"] == "127.0.0.1"
    assert event["target"] == client.client_id and event["office"] == "KR"
    assert event["detail"]["kid"] == kid and event["detail"]["networks"] == ["192.0.2.0/24", "198.51.100.7/32"]
    shown = admin.get(response.headers["location"])
    assert f"Client {client.client_id} enrolled for office KR" in text_of(shown)

    chosen = admin.post("/console/clients", enrol_form(client_id="kr-chosen", examining=""), files=certificate_file())
    assert chosen.status_code == 303 and console_service.registry.get("kr-chosen") is not None
    assert not console_service.registry.get("kr-chosen").examining  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("files", "form", "message"),
    [
        ({"certificate": ("notes.txt", b"hello, this is not a certificate", "text/plain")}, {},
         "notes.txt: not an x509 certificate in PEM or DER form"),
        ({"certificate": ("empty.pem", b"", PEM)}, {}, "empty.pem: the file is empty"),
        (None, {}, "choose the office's certificate file"),
        ("expired", {}, "the certificate expired on"),
        ("good", {"office": "K1"}, "office code must be two letters"),
        ("good", {"networks": "not-an-address"}, "not-an-address"),
        ("good", {"networks": ""}, "at least one allowed source address"),
        ("good", {"scopes": ["hws/nothing"]}, "unknown scope 'hws/nothing'"),
        ("good", {"scopes": []}, "tick at least one scope"),
        ("good", {"token_binding": "mtls"}, "token binding must be one of"),
    ],
)  # fmt: skip
def test_a_bad_enrolment_is_shown_with_422_and_nothing_changes(
    console_service: Service, signed_in: SignedIn, files: Any, form: dict[str, Any], message: str
) -> None:
    admin = signed_in(Role.ADMINISTRATOR)
    if files == "good":
        files = certificate_file()
    elif files == "expired":
        files = certificate_file(days=10, start_days=-30)
    response = admin.post("/console/clients", enrol_form(**form), files=files or {"other": ("x", b"", PEM)})
    assert response.status_code == 422
    body = text_of(response)
    assert message in body and "Not enrolled:" in body and "Traceback" not in body
    assert 'role="alert"' in response.text
    assert console_service.registry.list() == [] and events(console_service, "client.enrolled") == []
    assert 'value="KIPO production"' in response.text  # what was typed is kept


def test_an_allow_list_change_is_shown_then_applied_and_audited(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR", networks=("192.0.2.0/24",))
    admin = signed_in(Role.ADMINISTRATOR, "bob")
    form = {
        "networks": "192.0.2.0/24, 203.0.113.0/24",
        "scopes": ["hws/requests"],
        "examining": "yes",
        "token_binding": "bearer",
        "name": "",
    }
    path = f"/console/clients/{office.client_id}/update"
    review = admin.post(path, form)
    assert review.status_code == 200
    body = text_of(review)
    assert f"Change client {office.client_id}?" in body and "Apply these changes" in body
    assert "203.0.113.0/24" in body and "hws/publications" in body  # after / before
    assert [r for r in re.findall(r"<td>([a-z ]+)</td>", review.text) if r in ("networks", "scopes", "examining")] == [
        "networks",
        "scopes",
        "examining",
    ]
    client = console_service.registry.get(office.client_id)
    assert client is not None and client.networks == ("192.0.2.0/24",)  # not yet
    assert events(console_service, "client.updated") == []

    seen = re.search(r'name="seen" value="([^"]+)"', review.text)
    assert seen
    applied = admin.post(path, {**form, "confirm": "yes", "seen": html.unescape(seen.group(1))})
    assert applied.status_code == 303, applied.text
    client = console_service.registry.get(office.client_id)
    assert client is not None
    assert client.networks == ("192.0.2.0/24", "203.0.113.0/24") and client.scopes == ("hws/requests",)
    assert client.examining
    [event] = events(console_service, "client.updated")
    assert event["actor"] == "operator:bob" and event["source"] == "127.0.0.1" and event["target"] == office.client_id
    assert event["detail"]["networks"] == {"before": ["192.0.2.0/24"], "after": ["192.0.2.0/24", "203.0.113.0/24"]}
    assert event["detail"]["examining"] == {"before": False, "after": True}

    # a confirmation of a plan made before someone else's change is refused
    stale = admin.post(path, {**form, "networks": "192.0.2.0/24", "confirm": "yes", "seen": html.unescape(seen.group(1))})
    assert stale.status_code == 409 and "changed by someone else meanwhile" in text_of(stale)
    assert console_service.registry.get(office.client_id).networks == client.networks  # type: ignore[union-attr]
    # an empty allow-list is refused, with the registry's reason
    empty = admin.post(path, {**form, "networks": " "})
    assert empty.status_code == 422 and "no allowed source address" in text_of(empty)
    # nothing to change
    same = admin.post(path, {**form, "networks": "192.0.2.0/24 203.0.113.0/24"})
    assert same.status_code == 303 and len(events(console_service, "client.updated")) == 1


def test_keys_are_added_and_retired(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR")
    admin = signed_in(Role.ADMINISTRATOR, "carol")
    files = certificate_file("new.pem")
    new_kid = read_certificate(files["certificate"][1]).kid
    added = admin.post(f"/console/clients/{office.client_id}/keys", {}, files=files)
    assert added.status_code == 303, added.text
    assert [k.kid for k in console_service.registry.keys(office.client_id)] == [office.kid, new_kid]
    [event] = events(console_service, "client.key_added")
    assert event["actor"] == "operator:carol" and event["source"] == "127.0.0.1"
    assert event["detail"] == {"kid": new_kid} and event["office"] == "KR"
    again = admin.post(f"/console/clients/{office.client_id}/keys", {}, files=files)
    assert again.status_code == 422 and "already" in text_of(again)

    page = admin.get(f"/console/clients/{office.client_id}")
    assert page.text.count("/keys/retire") == 2
    retired = admin.post(f"/console/clients/{office.client_id}/keys/retire", {"kid": office.kid})
    assert retired.status_code == 303
    assert [k.kid for k in console_service.registry.keys(office.client_id)] == [new_kid]
    [event] = events(console_service, "client.key_removed")
    assert event["actor"] == "operator:carol" and event["detail"] == {"kid": office.kid}
    last = admin.post(f"/console/clients/{office.client_id}/keys/retire", {"kid": new_kid})
    assert last.status_code == 422 and "cannot remove the client's last key" in text_of(last)
    assert "the last key cannot be retired" in text_of(admin.get(f"/console/clients/{office.client_id}"))


def test_a_client_is_disabled_and_enabled(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR")
    admin = signed_in(Role.ADMINISTRATOR, "dave")
    disabled = admin.post(f"/console/clients/{office.client_id}/disable")
    assert disabled.status_code == 303
    assert not console_service.registry.get(office.client_id).active  # type: ignore[union-attr]
    [event] = events(console_service, "client.disabled")
    assert event["actor"] == "operator:dave" and event["source"] == "127.0.0.1" and event["target"] == office.client_id
    page = admin.get(f"/console/clients/{office.client_id}")
    assert "disabled" in page.text and f"Enable {office.client_id}" in page.text
    assert admin.post(f"/console/clients/{office.client_id}/enable").status_code == 303
    assert console_service.registry.get(office.client_id).active  # type: ignore[union-attr]
    assert events(console_service, "client.enabled")[0]["actor"] == "operator:dave"
    # the client's page links to its changes in the audit log
    link = re.search(r'href="(/console/audit\?target=[^"]+)"', page.text)
    assert link is not None
    changes = admin.get(html.unescape(link.group(1)))
    assert changes.status_code == 200 and "client.disabled" in changes.text and "operator:dave" in changes.text


def _actions(client_id: str, kid: str) -> list[tuple[str, dict[str, Any], Any]]:
    update = {"networks": "203.0.113.0/24", "scopes": ["hws/requests"], "token_binding": "bearer", "name": "x"}
    return [
        ("/console/clients", enrol_form(), certificate_file()),
        (f"/console/clients/{client_id}/update", update, None),
        (f"/console/clients/{client_id}/update", {**update, "confirm": "yes", "seen": "x"}, None),
        (f"/console/clients/{client_id}/keys", {}, certificate_file()),
        (f"/console/clients/{client_id}/keys/retire", {"kid": kid}, None),
        (f"/console/clients/{client_id}/disable", {}, None),
        (f"/console/clients/{client_id}/enable", {}, None),
    ]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EXAMINER])
def test_other_roles_are_refused_every_action(console_service: Service, signed_in: SignedIn, role: Role) -> None:
    office = enrol(console_service, office="KR")
    console_service.registry.add_key(office.client_id, read_certificate(self_signed(new_ec_key())))
    before = state(console_service)
    someone = signed_in(role)
    page = someone.get(f"/console/clients/{office.client_id}")
    assert page.status_code == 200 and "/disable" not in page.text and "/keys/retire" not in page.text
    for path, form, files in _actions(office.client_id, office.kid):
        response = someone.post(path, form, files=files)
        assert response.status_code == 403, path
        assert "needs the administrator role" in text_of(response)
    assert state(console_service) == before
    assert events(console_service, "client.*") == []
    refused = events(console_service, "console.refused")
    assert len(refused) == 7 and {e["actor"] for e in refused} == {f"operator:{someone.name}"}


def test_a_wrong_csrf_token_is_refused(console_service: Service, signed_in: SignedIn) -> None:
    office = enrol(console_service, office="KR")
    console_service.registry.add_key(office.client_id, read_certificate(self_signed(new_ec_key())))
    before = state(console_service)
    admin = signed_in(Role.ADMINISTRATOR)
    for path, form, files in _actions(office.client_id, office.kid):
        forged = admin.client.post(path, data={**form, "csrf_token": "not-the-token"}, files=files)
        assert forged.status_code == 403, path
        missing = admin.client.post(path, data=form, files=files)
        assert missing.status_code == 403, path
    assert state(console_service) == before
    assert events(console_service, "client.*") == []


def test_odd_client_ids_and_names_are_shown_safely(console_service: Service, signed_in: SignedIn) -> None:
    admin = signed_in(Role.ADMINISTRATOR, "erin")
    name = '<script>alert("x")</script>'
    response = admin.post("/console/clients", enrol_form(client_id="kr/odd?id#1", name=name), files=certificate_file())
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/clients/kr/odd%3Fid%231"
    page = admin.get(response.headers["location"])
    assert page.status_code == 200 and "Client kr/odd?id#1" in text_of(page)
    assert name not in page.text and "&lt;script&gt;" in page.text
    assert 'action="/console/clients/kr/odd%3Fid%231/disable"' in page.text
    assert admin.post("/console/clients/kr/odd%3Fid%231/disable").status_code == 303
    assert not console_service.registry.get("kr/odd?id#1").active  # type: ignore[union-attr]
    listing = admin.get("/console/clients")
    assert 'href="/console/clients/kr/odd%3Fid%231"' in listing.text and name not in listing.text
