"""``hws admin clients update`` and ``hws admin clients apply`` through the real entry
point, against a temporary data folder: each change, its audit entry, the refusals; an
office's access request form (as ``hws access-request`` writes it) applied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from hws.cli.console import out
from hws.cli.main import app
from hws.client import access_request
from hws.client.enrolment import EnrolmentFiles, generate
from hws.keys.certificates import read_certificate

runner = CliRunner()


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HWS_DATABASE_URL", raising=False)
    monkeypatch.setenv("HWS_STRUCTURAL_ONLY_VERSIONS", "V6_0")
    assert runner.invoke(app, ["admin", "init"]).exit_code == 0


def invoke(*args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def run(*args: str) -> Any:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(*args: str) -> str:
    """Run, expect exit status 1, return what was said (stdout and stderr)."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    return result.output


@pytest.fixture
def keys(tmp_path: Path) -> EnrolmentFiles:
    return generate("KR", tmp_path / "k1")


@pytest.fixture
def client_id(keys: EnrolmentFiles) -> str:
    added = run("admin", "clients", "add", "--cert", str(keys.certificate), "--office", "KR", "--ip", "127.0.0.1",
                "--name", "KIPO")  # fmt: skip
    return str(added["client_id"])


def audit_of(client_id: str) -> list[dict[str, Any]]:
    events = run("admin", "audit", "--action", "client.updated", "--target", client_id)
    return list(reversed(events))  # oldest first


# update: each option ------------------------------------------------------------------


def test_networks_add_remove_and_set_are_normalized(client_id: str) -> None:
    added = run("admin", "clients", "update", client_id, "--add-ip", "203.0.113.77/24", "--add-ip", "2001:db8::1/32,10.0.0.1")
    assert added["networks"] == ["127.0.0.1/32", "203.0.113.0/24", "2001:db8::/32", "10.0.0.1/32"]
    assert added["changes"]["networks"]["before"] == ["127.0.0.1/32"]
    removed = run("admin", "clients", "update", client_id, "--remove-ip", "127.0.0.1", "--remove-ip", "2001:db8::/32")
    assert removed["networks"] == ["203.0.113.0/24", "10.0.0.1/32"]
    replaced = run("admin", "clients", "update", client_id, "--set-ip", "198.51.100.9/24", "--set-ip", "192.0.2.1")
    assert replaced["networks"] == ["198.51.100.0/24", "192.0.2.1/32"]
    assert run("admin", "clients", "show", client_id)["networks"] == ["198.51.100.0/24", "192.0.2.1/32"]


def test_scopes_examining_and_contacts(client_id: str) -> None:
    updated = run("admin", "clients", "update", client_id, "--scope", "hws/requests", "--examining",
                  "--name", "KIPO Hague", "--business-owner", "Kim", "--business-owner-email", "kim@example.org",
                  "--technical-contact", "Lee", "--technical-contact-email", "lee@example.org")  # fmt: skip
    assert updated["scopes"] == ["hws/requests"] and updated["default_scopes"] == ["hws/requests"]
    assert updated["examining"] is True and updated["name"] == "KIPO Hague"
    assert (updated["business_owner"], updated["business_owner_email"]) == ("Kim", "kim@example.org")
    assert (updated["technical_contact"], updated["technical_contact_email"]) == ("Lee", "lee@example.org")
    widened = run("admin", "clients", "update", client_id, "--scope", "hws/requests", "--scope", "hws/publications",
                  "--not-examining")  # fmt: skip
    assert widened["scopes"] == ["hws/requests", "hws/publications"] and widened["examining"] is False
    assert widened["default_scopes"] == ["hws/requests"]  # kept: a new scope is granted, not asked for by default
    shown = run("admin", "clients", "show", client_id)
    assert shown["technical_contact_email"] == "lee@example.org" and shown["examining"] is False


def test_validity_dates(client_id: str) -> None:
    dated = run("admin", "clients", "update", client_id, "--not-before", "2026-01-01", "--not-after", "2030-06-30T12:00:00+02:00")
    assert dated["not_before"] == "2026-01-01T00:00:00+00:00"
    assert dated["not_after"] == "2030-06-30T10:00:00+00:00"
    cleared = run("admin", "clients", "update", client_id, "--not-after", "none")
    assert cleared["not_after"] is None and cleared["not_before"] == "2026-01-01T00:00:00+00:00"
    assert "not an ISO 8601 date" in refused("admin", "clients", "update", client_id, "--not-after", "next week")


def test_certificate_rollover(client_id: str, keys: EnrolmentFiles, tmp_path: Path) -> None:
    new = generate("KR", tmp_path / "k2")
    updated = run("admin", "clients", "update", client_id, "--add-cert", str(new.certificate))
    assert [k["kid"] for k in updated["keys"]] == [keys.kid, new.kid]  # the old key keeps working until removed
    assert updated["changes"] == {"keys_added": [new.kid]}
    again = refused("admin", "clients", "update", client_id, "--add-cert", str(new.certificate))
    assert "already one of" in again


def test_plain_output_shows_before_and_after(client_id: str) -> None:
    result = invoke("admin", "clients", "update", client_id, "--set-ip", "198.51.100.0/24")
    assert result.exit_code == 0, result.output
    assert "127.0.0.1/32" in result.stdout and "198.51.100.0/24" in result.stdout
    assert f"client {client_id} updated" in result.stdout


def test_dry_run_changes_nothing(client_id: str) -> None:
    planned = run("admin", "clients", "update", client_id, "--set-ip", "198.51.100.0/24", "--dry-run")
    assert planned["dry_run"] is True and planned["changes"]["networks"]["after"] == ["198.51.100.0/24"]
    assert planned["networks"] == ["127.0.0.1/32"]
    assert run("admin", "clients", "show", client_id)["networks"] == ["127.0.0.1/32"]
    assert audit_of(client_id) == []


def test_an_update_that_changes_nothing_is_not_audited(client_id: str) -> None:
    same = run("admin", "clients", "update", client_id, "--add-ip", "127.0.0.1/32")
    assert same["changes"] == {}
    assert audit_of(client_id) == []


# update: the audit entry ----------------------------------------------------------------


def test_each_update_is_audited_with_before_and_after(client_id: str, tmp_path: Path) -> None:
    new = generate("KR", tmp_path / "k2")
    run("admin", "clients", "update", client_id, "--set-ip", "198.51.100.0/24", "--business-owner-email", "kim@example.org",
        "--add-cert", str(new.certificate))  # fmt: skip
    run("admin", "clients", "update", client_id, "--examining")
    first, second = audit_of(client_id)
    assert first["action"] == "client.updated" and first["office"] == "KR" and first["outcome"] == "ok"
    assert first["actor"].startswith("cli:") and first["source"] == "cli"
    assert first["detail"] == {
        "networks": {"before": ["127.0.0.1/32"], "after": ["198.51.100.0/24"]},
        "business_owner_email": {"before": "", "after": "kim@example.org"},
        "keys_added": [new.kid],
    }
    assert "BEGIN CERTIFICATE" not in json.dumps(first)  # kids, never certificates
    assert second["detail"] == {"examining": {"before": False, "after": True}}


# update: refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--remove-ip", "127.0.0.1"], "would leave client"),
        (["--remove-ip", "10.0.0.0/8"], "is not on the allow-list"),
        (["--set-ip", "not-an-ip"], "not an IP address"),
        (["--scope", "hws/everything"], "unknown scope 'hws/everything'"),
        (["--business-owner-email", "kim at example"], "not an e-mail address"),
        (["--not-before", "2031-01-01", "--not-after", "2030-01-01"], "would end"),
        ([], "nothing to change"),
    ],
)
def test_refusals_change_nothing(client_id: str, args: list[str], message: str) -> None:
    before = run("admin", "clients", "show", client_id)
    assert message in refused("admin", "clients", "update", client_id, *args)
    assert run("admin", "clients", "show", client_id) == before
    assert audit_of(client_id) == []


def test_refusal_as_json() -> None:
    result = invoke("admin", "clients", "update", "nobody", "--examining", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"] == "no client with ID 'nobody'"


def test_expired_certificate_is_refused(client_id: str, tmp_path: Path) -> None:
    from tests.support.certificates import self_signed
    from tests.support.jose import new_ec_key

    expired = tmp_path / "expired.pem"
    expired.write_bytes(self_signed(new_ec_key(), days=1, start_days=-10))
    assert "expired" in refused("admin", "clients", "update", client_id, "--add-cert", str(expired))


# readable dates and tables -----------------------------------------------------------------


def test_keys_list_dates_are_iso_8601_utc() -> None:
    listed = run("admin", "keys", "list")
    created = datetime.strptime(listed[0]["created"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=10)
    table = invoke("admin", "keys", "list").stdout
    assert listed[0]["created"] in table and listed[0]["kid"] in table


def test_clients_list_fits_the_terminal(client_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run(
        "admin",
        "clients",
        "update",
        client_id,
        "--add-ip",
        "2001:db8:1234:5678::/64",
        "--name",
        "Korean Intellectual Property Office",
    )
    for width in (60, 90, 160):
        monkeypatch.setattr(out, "width", width)
        shown = invoke("admin", "clients", "list").stdout
        lines = shown.splitlines()
        assert all(len(line) <= width for line in lines), shown
        assert client_id in shown and "2001:db8:1234:5678::/64" in shown  # never cut
    assert "Korean" in shown and "examining" in shown
    updated = run("admin", "clients", "show", client_id)["updated_at"]
    assert datetime.fromisoformat(updated).strftime("%Y-%m-%dT%H:%M:%SZ") in shown
    monkeypatch.setattr(out, "width", 60)
    assert "not shown, to fit the terminal" in invoke("admin", "clients", "list").stdout


# apply: the access request form --------------------------------------------------------------


def write_form(tmp_path: Path, files: EnrolmentFiles, *extra: str, name: str = "form.md") -> Path:
    """The form as the office kit writes it (``hws access-request``)."""
    path = tmp_path / name
    result = invoke("access-request", "--cert", str(files.certificate), "--out", str(path),
                    "--app-name", "KIPO Hague", "--description", "Indirect filings", "--owner", "Kim",
                    "--owner-email", "kim@example.org", "--tech", "Lee", "--tech-email", "lee@example.org",
                    *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def test_apply_a_creation_request(tmp_path: Path, keys: EnrolmentFiles) -> None:
    form = write_form(tmp_path, keys, "--ip", "203.0.113.0/24", "--ip", "198.51.100.4", "--scopes", "hws/requests")
    created = run("admin", "clients", "apply", str(form), "--office", "kr", "--yes")
    assert created["office"] == "KR" and created["kid"] == keys.kid and created["name"] == "KIPO Hague"
    assert created["networks"] == ["203.0.113.0/24", "198.51.100.4/32"] and created["scopes"] == ["hws/requests"]
    assert (created["business_owner_email"], created["technical_contact"]) == ("kim@example.org", "Lee")
    shown = run("admin", "clients", "show", created["client_id"])
    assert [k["kid"] for k in shown["keys"]] == [keys.kid]
    (event,) = run("admin", "audit", "--action", "client.enrolled")
    assert event["target"] == created["client_id"] and event["detail"]["form"] == "form.md"


def test_apply_creation_asks_and_can_be_dry_run(tmp_path: Path, keys: EnrolmentFiles) -> None:
    form = write_form(tmp_path, keys, "--ip", "203.0.113.0/24")
    assert "needs --office" in refused("admin", "clients", "apply", str(form))
    dry = invoke("admin", "clients", "apply", str(form), "--office", "KR", "--dry-run")
    assert dry.exit_code == 0 and "203.0.113.0/24" in dry.stdout and "no client enrolled" in dry.stdout
    declined = invoke("admin", "clients", "apply", str(form), "--office", "KR", input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.output
    assert run("admin", "clients", "list") == []
    accepted = invoke("admin", "clients", "apply", str(form), "--office", "KR", "--client-id", "kipo-hague", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert [c["client_id"] for c in run("admin", "clients", "list")] == ["kipo-hague"]


def test_apply_an_update_request(tmp_path: Path, keys: EnrolmentFiles, client_id: str) -> None:
    form = write_form(tmp_path, keys, "--request-type", "update", "--updated", "ip", "--updated", "contact",
                      "--ip", "192.0.2.0/24")  # fmt: skip
    assert "needs --client-id" in refused("admin", "clients", "apply", str(form))
    shown = invoke("admin", "clients", "apply", str(form), "--client-id", client_id, input="y\n")
    assert shown.exit_code == 0, shown.output
    assert "127.0.0.1/32" in shown.stdout and "192.0.2.0/24" in shown.stdout and "Apply these changes?" in shown.stdout
    after = run("admin", "clients", "show", client_id)
    assert after["networks"] == ["192.0.2.0/24"] and after["business_owner"] == "Kim"
    assert after["scopes"] == ["hws/requests", "hws/publications"]  # not ticked: unchanged
    assert after["name"] == "KIPO"  # the application name is no contact information
    (event,) = audit_of(client_id)
    assert event["source"] == "access-request" and event["detail"]["form"] == "form.md"
    assert event["detail"]["networks"] == {"before": ["127.0.0.1/32"], "after": ["192.0.2.0/24"]}


def test_apply_an_update_request_declined_or_dry_run(tmp_path: Path, keys: EnrolmentFiles, client_id: str) -> None:
    form = write_form(tmp_path, keys, "--request-type", "update", "--updated", "ip", "--ip", "192.0.2.0/24")
    assert invoke("admin", "clients", "apply", str(form), "--client-id", client_id, input="n\n").exit_code == 1
    dry = run("admin", "clients", "apply", str(form), "--client-id", client_id, "--dry-run")
    assert dry["dry_run"] is True and dry["changes"]["networks"]["after"] == ["192.0.2.0/24"]
    assert run("admin", "clients", "show", client_id)["networks"] == ["127.0.0.1/32"]
    assert audit_of(client_id) == []
    assert "needs --yes" in invoke("admin", "clients", "apply", str(form), "--client-id", client_id, "--json").stdout


def test_apply_a_certificate_update_adds_the_new_key(tmp_path: Path, keys: EnrolmentFiles, client_id: str) -> None:
    new = generate("KR", tmp_path / "k2")
    form = write_form(tmp_path, new, "--request-type", "update", "--updated", "certificate", "--ip", "127.0.0.1")
    updated = run("admin", "clients", "apply", str(form), "--client-id", client_id, "--yes")
    assert [k["kid"] for k in updated["keys"]] == [keys.kid, new.kid]
    assert updated["changes"] == {"keys_added": [new.kid]}


def test_apply_refuses_an_update_signed_off_with_another_clients_certificate(tmp_path: Path, client_id: str) -> None:
    other = generate("US", tmp_path / "other")
    form = write_form(tmp_path, other, "--request-type", "update", "--updated", "ip", "--ip", "192.0.2.0/24")
    message = refused("admin", "clients", "apply", str(form), "--client-id", client_id, "--yes")
    assert "is not one of" in message and "right client" in message
    assert "belongs to office KR" in refused(
        "admin", "clients", "apply", str(write_form(tmp_path, other, "--request-type", "update", "--updated", "ip",
                                                    "--ip", "1.2.3.4", name="f2.md")),
        "--client-id", client_id, "--office", "US", "--yes",
    )  # fmt: skip


def test_apply_a_json_form(tmp_path: Path, keys: EnrolmentFiles) -> None:
    request = access_request.AccessRequest(
        application_name="DAS", application_description="", business_owner="Kim", business_owner_email="kim@example.org",
        technical_contact="Lee", technical_contact_email="lee@example.org", ip_ranges=["203.0.113.0/24"],
        certificate=read_certificate(keys.certificate.read_bytes()),
    )  # fmt: skip
    form = tmp_path / "form.json"
    form.write_text(access_request.render_json(request))
    created = run("admin", "clients", "apply", str(form), "--office", "KR", "--yes")
    assert created["networks"] == ["203.0.113.0/24"] and created["scopes"] == ["hws/requests", "hws/publications"]


def test_apply_refuses_a_malformed_form_naming_the_line(tmp_path: Path, keys: EnrolmentFiles) -> None:
    form = write_form(tmp_path, keys, "--ip", "203.0.113.0/24")
    text = form.read_text().replace("203.0.113.0/24", "203.0.113.0/33")
    form.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "203.0.113.0/33" in row)
    message = refused("admin", "clients", "apply", str(form), "--office", "KR", "--yes")
    assert f"line {line}, CLIENT IP/IP RANGE: not an IP address or CIDR range: '203.0.113.0/33'" in message
    assert run("admin", "clients", "list") == []
