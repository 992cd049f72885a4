"""Office-side commands through the real ``hws`` entry point (typer's runner)."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hws.cli.main import app
from hws.keys.certificates import read_certificate

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HWS_ISSUER", "HWS_API_URL", "HWS_CLIENT_ID", "HWS_PRIVATE_KEY", "HWS_PROFILE", "HWS_SCOPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HWS_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HWS_DATABASE_URL", raising=False)


def test_keygen_writes_wipo_compatible_files(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert stat.S_IMODE((out / "private_key.pem").stat().st_mode) == 0o600
    assert (out / "private_key.pem").read_text().startswith("-----BEGIN EC PRIVATE KEY-----")
    assert (out / "public_key.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    cert = read_certificate((out / "cert.pem").read_bytes())
    assert cert.subject == "CN=DAS private_key_jwt authentication"
    assert cert.alg == "ES256" and cert.kid == info["kid"]


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)]).exit_code == 0
    before = (out / "private_key.pem").read_bytes()
    result = runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)])
    assert result.exit_code != 0 and "already holds" in result.output
    assert (out / "private_key.pem").read_bytes() == before


def test_keygen_ps256(tmp_path: Path) -> None:
    out = tmp_path / "rsa"
    assert runner.invoke(app, ["keygen", "--name", "X", "--out", str(out), "--alg", "PS256"]).exit_code == 0
    assert read_certificate((out / "cert.pem").read_bytes()).alg == "PS256"


def test_keygen_files_read_by_openssl(tmp_path: Path) -> None:
    if subprocess.run(["which", "openssl"], capture_output=True).returncode:
        pytest.skip("openssl not installed")
    out = tmp_path / "keys"
    runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)])
    pub = subprocess.run(
        ["openssl", "ec", "-in", str(out / "private_key.pem"), "-pubout"], capture_output=True, text=True, check=True
    ).stdout
    assert pub == (out / "public_key.pem").read_text()


def test_access_request_form(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)])
    form = tmp_path / "form.md"
    args = [
        "access-request", "--cert", str(out / "cert.pem"), "--out", str(form),
        "--app-name", "KIPO Hague", "--description", "Indirect filings", "--owner", "Kim",
        "--owner-email", "kim@example.org", "--tech", "Lee", "--tech-email", "lee@example.org",
        "--ip", "203.0.113.0/24", "--ip", "198.51.100.4",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = form.read_text()
    assert "Creation request [x]" in text and "Update request [ ]" in text
    assert "| API Application Name | KIPO Hague |" in text
    assert "203.0.113.0/24, 198.51.100.4/32" in text
    assert "private_key_jwt (the client sends its credentials as a JWT)" in text
    assert (out / "cert.pem").read_text().strip() in text


def test_access_request_prompts_for_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)])
    answers = "App\nDesc\nOwner\no@example.org\nTech\nt@example.org\n192.0.2.0/24\n"
    result = runner.invoke(
        app, ["access-request", "--cert", str(out / "cert.pem"), "--out", str(tmp_path / "f.md")], input=answers
    )
    assert result.exit_code == 0, result.output
    assert "192.0.2.0/24" in (tmp_path / "f.md").read_text()


def test_access_request_as_json_reads_back_and_a_bad_form_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    from hws.client import access_request

    out = tmp_path / "keys"
    runner.invoke(app, ["keygen", "--name", "DAS", "--out", str(out)])
    base = ["access-request", "--cert", str(out / "cert.pem"), "--app-name", "App", "--description", "D",
            "--owner", "Kim", "--tech", "Lee", "--tech-email", "lee@example.org", "--ip", "192.0.2.0/24"]  # fmt: skip
    written = runner.invoke(app, [*base, "--owner-email", "kim@example.org", "--out", str(tmp_path / "f.json")])
    assert written.exit_code == 0, written.output
    parsed = access_request.parse((tmp_path / "f.json").read_bytes())
    assert parsed.business_owner_email == "kim@example.org" and parsed.ip_ranges == ["192.0.2.0/24"]

    refused = runner.invoke(app, [*base, "--owner-email", "kim at example", "--out", str(tmp_path / "g.md"), "--json"])
    assert refused.exit_code == 1
    assert "not an e-mail address" in json.loads(refused.stdout)["error"]
    assert not (tmp_path / "g.md").exists()


def test_configure_saves_and_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    result = runner.invoke(
        app, ["configure", "--issuer", "https://hws.example/oauth2/", "--client-id", "kr-1", "--private-key", str(key)]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(runner.invoke(app, ["configure", "--show", "--json"]).stdout)
    assert shown["issuer"] == "https://hws.example/oauth2" and shown["client_id"] == "kr-1"
    monkeypatch.setenv("HWS_CLIENT_ID", "from-env")
    assert json.loads(runner.invoke(app, ["configure", "--show", "--json"]).stdout)["client_id"] == "from-env"
    # Saving again does not write the environment's override into the file.
    runner.invoke(app, ["configure", "--scope", "hws/requests"])
    monkeypatch.delenv("HWS_CLIENT_ID")
    assert json.loads(runner.invoke(app, ["configure", "--show", "--json"]).stdout)["client_id"] == "kr-1"


def test_token_without_profile_says_what_to_do() -> None:
    result = runner.invoke(app, ["token"])
    assert result.exit_code == 2
    assert "hws configure" in result.output


def test_every_command_has_help() -> None:
    for args in (
        [], ["keygen"], ["access-request"], ["configure"], ["token"], ["ping"], ["serve"],
        ["admin"], ["admin", "clients"], ["admin", "clients", "add"], ["admin", "keys"], ["admin", "db"],
    ):  # fmt: skip
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output
