"""Operator commands on the service's own database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hws.cli.main import app
from hws.client.enrolment import generate

runner = CliRunner()


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HWS_DATABASE_URL", raising=False)
    monkeypatch.setenv("HWS_STRUCTURAL_ONLY_VERSIONS", "V6_0")  # no schema set installed here
    assert runner.invoke(app, ["admin", "init"]).exit_code == 0  # operator commands never create one themselves


def run(*args: str) -> dict | list:  # type: ignore[type-arg]
    options_end = args.index("--") if "--" in args else len(args)  # "--json" before any "--"
    result = runner.invoke(app, [*args[:options_end], "--json", *args[options_end:]])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_client_life_cycle(tmp_path: Path) -> None:
    first = generate("KR", tmp_path / "k1")
    second = generate("KR", tmp_path / "k2")
    added = run("admin", "clients", "add", "--cert", str(first.certificate), "--office", "kr",
                "--ip", "203.0.113.0/24", "--ip", "198.51.100.4", "--examining", "--name", "KIPO")  # fmt: skip
    client_id = added["client_id"]
    assert client_id.startswith("kr-") and added["office"] == "KR" and added["examining"] is True
    assert added["networks"] == ["203.0.113.0/24", "198.51.100.4/32"]
    assert added["scopes"] == ["hws/requests", "hws/publications"]
    assert [c["client_id"] for c in run("admin", "clients", "list")] == [client_id]
    assert run("admin", "clients", "disable", client_id)["active"] is False
    assert run("admin", "clients", "enable", client_id)["active"] is True
    assert run("admin", "clients", "add-key", client_id, "--cert", str(second.certificate))["kid"] == second.kid
    shown = run("admin", "clients", "show", client_id)
    assert [k["kid"] for k in shown["keys"]] == [first.kid, second.kid]
    run("admin", "clients", "remove-key", "--", client_id, first.kid)  # a kid may begin with "-"
    assert [k["kid"] for k in run("admin", "clients", "show", client_id)["keys"]] == [second.kid]
    last = runner.invoke(app, ["admin", "clients", "remove-key", "--", client_id, second.kid])
    assert last.exit_code == 1 and "last key" in last.output


def test_plain_add_prints_the_client_id(tmp_path: Path) -> None:
    files = generate("KR", tmp_path / "k")
    result = runner.invoke(app, ["admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR",
                                 "--ip", "127.0.0.1", "--client-id", "das-api-auth"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "das-api-auth"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--office", "KOR", "--ip", "127.0.0.1"], "two letters"),
        (["--office", "KR", "--ip", "not-an-ip"], "not an IP address"),
        (["--office", "KR", "--ip", "127.0.0.1", "--scope", "hws/everything"], "unknown scope"),
    ],
)
def test_add_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    files = generate("KR", tmp_path / "k")
    result = runner.invoke(app, ["admin", "clients", "add", "--cert", str(files.certificate), *args])
    assert result.exit_code == 1
    assert message in result.output


def test_add_refuses_a_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    files = generate("KR", tmp_path / "k")
    result = runner.invoke(
        app, ["admin", "clients", "add", "--cert", str(files.public_key), "--office", "KR", "--ip", "127.0.0.1"]
    )
    assert result.exit_code == 1 and "not an x509 certificate" in result.output


def test_add_refuses_a_key_already_registered(tmp_path: Path) -> None:
    files = generate("KR", tmp_path / "k")
    base = ["admin", "clients", "add", "--cert", str(files.certificate), "--ip", "127.0.0.1"]
    assert runner.invoke(app, [*base, "--office", "KR"]).exit_code == 0
    again = runner.invoke(app, [*base, "--office", "US"])
    assert again.exit_code == 1 and "already registered" in again.output


def test_show_unknown_client() -> None:
    result = runner.invoke(app, ["admin", "clients", "show", "nobody", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["error"].startswith("no client")


def test_keys_rotate_and_list() -> None:
    first = run("admin", "keys", "list")
    assert len(first) == 1 and first[0]["active"]
    rotated = run("admin", "keys", "rotate")
    listed = run("admin", "keys", "list")
    assert [k["kid"] for k in listed] == [first[0]["kid"], rotated["kid"]] and listed[1]["active"]


def test_db_upgrade_and_current() -> None:
    assert run("admin", "db", "upgrade")["revision"] == run("admin", "db", "current")["head"]


def test_jobs_list_and_retry(tmp_path: Path) -> None:
    from hws.config import Settings
    from hws.service import build_service
    from hws.store.jobs import JobKind

    service = build_service(Settings())
    run("admin", "db", "upgrade")
    with service.engine.begin() as conn:
        service.jobs.enqueue(conn, JobKind.IMPORT, "x", max_attempts=1)
    job = service.jobs.claim("test")
    service.jobs.fail(job, "ValueError: broken package store")
    listed = run("admin", "jobs", "list", "--status", "dead")
    assert listed["counts"] == {"dead": 1} and "broken package store" in listed["jobs"][0]["last_error"]
    assert run("admin", "jobs", "retry", str(job.id))["status"] == "queued"
    again = runner.invoke(app, ["admin", "jobs", "retry", str(job.id)])
    assert again.exit_code == 1 and "not dead" in again.output
    service.close()


def test_examination_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hws.config import Settings
    from hws.service import build_service
    from hws.st96.examples import example_package
    from hws.usecases.intake import record_receipt
    from hws.worker.runner import Worker

    files = generate("KR", tmp_path / "k")
    client_id = run("admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1")[
        "client_id"
    ]
    service = build_service(Settings())
    blob = service.blobs.put_bytes(example_package("application", office="KR"))
    record_receipt(service, service.registry.get(client_id), blob, None)
    Worker(service).run_once()
    assert [r["srn"] for r in run("admin", "sr", "list", "--status", "Undefined")] == ["970000001"]
    assert run("admin", "sr", "take-up", "970000001")["status"] == "Processing"
    irregular = run("admin", "sr", "irregular", "970000001", "--reason", "unclear view", "--fee-shortfall")
    assert irregular["status"] == "Pending Regularization" and irregular["fee_shortfall"]
    bad = runner.invoke(app, ["admin", "sr", "register", "970000001"])
    assert bad.exit_code == 1 and "cannot become Registered" in bad.output
    run("admin", "sr", "regularize", "970000001")
    assert run("admin", "sr", "register", "970000001")["irn"] == "DM/200001"
    shown = run("admin", "sr", "show", "970000001")
    assert [e["to"] for e in shown["history"]][-1] == "Registered" and shown["designations"]
    assert runner.invoke(app, ["admin", "clock", "advance", "7d"]).exit_code == 1  # not a sandbox
    monkeypatch.setenv("HWS_SANDBOX", "1")
    assert run("admin", "clock", "advance", "7d")["offset_seconds"] == 7 * 86400
    assert run("admin", "clock", "show")["offset_seconds"] == 7 * 86400
    assert runner.invoke(app, ["admin", "clock", "advance", "7 days"]).exit_code != 0
    service.close()


def test_a_kid_beginning_with_a_dash_goes_after_double_dash(tmp_path: Path) -> None:
    """RFC 7638 thumbprints are base64url: one in 64 begins with "-", which a shell
    command line would take for an option unless it comes after "--"."""
    files = generate("KR", tmp_path / "k")
    client_id = run("admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1")[
        "client_id"
    ]
    refused = runner.invoke(app, ["admin", "clients", "remove-key", "--", client_id, "-" + files.kid[1:]])
    assert refused.exit_code == 1, refused.output  # read as a kid (not found), not as an option (2)
