"""Every expected failure of ``hws`` is one sentence and the exit status of its class, the
same as JSON with ``--json`` — through the real entry point (``python -m hws``), against
the real server or none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from hws.cli.failures import ExitCode
from hws.client.enrolment import generate
from tests.support.servers import RunningServer, free_port, start_server

pytestmark = pytest.mark.e2e


def hws(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hws", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env["HWS_CONFIG_HOME"] = str(tmp_path / "office-config")
    env.update(extra)
    return env


def office_env(tmp_path: Path, issuer: str, client_id: str, key: Path) -> dict[str, str]:
    return clean_env(tmp_path, HWS_ISSUER=issuer, HWS_CLIENT_ID=client_id, HWS_PRIVATE_KEY=str(key))


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure as a person reads it: one ``error:`` line on stderr, no traceback."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def as_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict) and document["exit_code"] == result.returncode
    return document


@pytest.fixture
def office_key(tmp_path: Path) -> Path:
    return generate("KR", tmp_path / "keys").private_key


def test_service_down(tmp_path: Path, office_key: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/oauth2"  # nothing listens there
    env = office_env(tmp_path, issuer, "kr-1", office_key)
    for command in (["ping"], ["token"], ["status", "HWS-1"], ["import-status", "imp-1"], ["bulletin", "202601"]):
        result = hws(*command, env=env)
        assert result.returncode == ExitCode.UNREACHABLE, (command, result.stderr)
        line = one_line(result)
        assert "cannot connect to http://127.0.0.1:" in line and "is the service running?" in line
        document = as_json(hws(*command, "--json", env=env))
        assert document["kind"] == "connection-refused"


def test_unknown_host(tmp_path: Path, office_key: Path) -> None:
    env = office_env(tmp_path, "http://no-such-host.invalid/oauth2", "kr-1", office_key)
    result = hws("ping", env=env)
    assert result.returncode == ExitCode.UNREACHABLE
    assert "cannot resolve the host of http://no-such-host.invalid" in one_line(result)


def test_a_missing_or_wrong_private_key_is_named(tmp_path: Path, office_key: Path) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/oauth2"
    missing = hws("ping", env=office_env(tmp_path, issuer, "kr-1", tmp_path / "nowhere.pem"))
    assert missing.returncode == ExitCode.USAGE
    line = one_line(missing)
    assert f"cannot read the private key {tmp_path / 'nowhere.pem'}: No such file or directory" in line
    assert "hws configure --private-key" in line
    certificate = office_key.parent / "cert.pem"  # a certificate where the key should be
    wrong = hws("token", "--json", env=office_env(tmp_path, issuer, "kr-1", certificate))
    assert "not an unencrypted PEM private key" in str(as_json(wrong)["error"])
    assert wrong.returncode == ExitCode.USAGE


def test_database_missing(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/hws_missing_{uuid.uuid4().hex[:12]}"
    env = clean_env(tmp_path, HWS_DATA_DIR=str(tmp_path / "data"), HWS_DATABASE_URL=url)
    result = hws("admin", "db", "current", env=env)
    assert result.returncode == ExitCode.DATABASE
    # stderr names the data folder and database used, then the failure in one line
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "does not exist" in errors[0] and "HWS_DATABASE_URL" in errors[0]
    assert "Traceback" not in result.stderr
    assert as_json(hws("admin", "db", "current", "--json", env=env))["kind"] == "database"


def test_an_operator_command_in_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = clean_env(tmp_path)
    result = hws("admin", "clients", "list", env=env, cwd=folder)
    assert result.returncode == ExitCode.DATABASE
    assert f"data folder {folder / 'var'} (the default, ./var)" in result.stderr  # which one it looked at
    assert "no hws database at" in result.stderr and "hws admin init" in result.stderr
    assert list(folder.iterdir()) == []  # no ./var, no database
    document = as_json(hws("admin", "clients", "list", "--json", env=env, cwd=folder))
    assert document["kind"] == "database-missing"
    assert list(folder.iterdir()) == []
    # asked for, it is created, and then the same command works
    assert hws("admin", "init", env=env, cwd=folder).returncode == 0
    assert (folder / "var" / "hws.sqlite3").is_file()
    assert hws("admin", "clients", "list", "--json", env=env, cwd=folder).returncode == 0
    # --data-dir points at another folder, without creating it
    other = tmp_path / "other"
    result = hws("admin", "--data-dir", str(other), "clients", "list", env=env, cwd=folder)
    assert result.returncode == ExitCode.DATABASE and f"data folder {other} (--data-dir)" in result.stderr
    assert not other.exists()


@pytest.fixture
def limited(tmp_path: Path) -> RunningServer:
    server = start_server(
        tmp_path / "server",
        extra_env={"HWS_MAX_PACKAGE_BYTES": "2048", "HWS_RATE_LIMIT_PER_MINUTE": "2", "HWS_RATE_LIMIT_BURST": "2"},
    )
    yield server  # type: ignore[misc]
    server.stop()


def test_refusals_by_status(limited: RunningServer, tmp_path: Path) -> None:
    client = limited.enrol("KR")
    key = next(limited.data_dir.parent.glob("keys-KR-*")) / "private_key.pem"
    env = office_env(tmp_path, limited.issuer, client.client_id, key)

    # 401: a client the service does not know
    stranger = hws("token", env=office_env(tmp_path, limited.issuer, "kr-nobody", key))
    assert stranger.returncode == ExitCode.UNAUTHORIZED
    assert "the token request was refused (401 invalid_client" in one_line(stranger)
    assert as_json(hws("token", "--json", env=office_env(tmp_path, limited.issuer, "kr-nobody", key)))["code"] == (
        "invalid_client"
    )

    # 413: a package larger than the service accepts
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("filler.bin", os.urandom(8192))
    result = hws("submit", str(big), "--no-check", env=env)
    assert result.returncode == ExitCode.TOO_LARGE, result.stderr
    assert "413" in one_line(result) and "larger than the service accepts" in result.stderr
    assert as_json(hws("submit", str(big), "--no-check", "--json", env=env))["status"] == 413

    # 404, then 429 once the budget (2 calls a minute, per client) is spent: another client
    other = limited.enrol("US")
    other_key = next(p for p in limited.data_dir.parent.glob("keys-US-*")) / "private_key.pem"
    env = office_env(tmp_path, limited.issuer, other.client_id, other_key)
    result = hws("status", "HWS-DOES-NOT-EXIST", env=env)
    assert result.returncode == ExitCode.NOT_FOUND and "404" in one_line(result)
    assert as_json(hws("status", "HWS-DOES-NOT-EXIST", "--json", env=env))["status"] == 404
    result = hws("status", "HWS-DOES-NOT-EXIST", env=env)
    assert result.returncode == ExitCode.RATE_LIMITED and "wait a minute" in one_line(result)
    assert as_json(hws("status", "HWS-DOES-NOT-EXIST", "--json", env=env))["status"] == 429


def test_debug_shows_the_traceback(tmp_path: Path, office_key: Path) -> None:
    env = office_env(tmp_path, f"http://127.0.0.1:{free_port()}/oauth2", "kr-1", office_key)
    result = hws("--debug", "ping", env=env)
    assert result.returncode != 0 and "Traceback" in result.stderr and "ConnectError" in result.stderr
    result = hws("ping", env={**env, "HWS_DEBUG": "1"})
    assert "Traceback" in result.stderr
