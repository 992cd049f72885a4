"""``hws package build|check|example`` and ``hws admin schemas install|list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hws.cli.main import app
from hws.st96 import specimens

runner = CliRunner()


@pytest.fixture(autouse=True)
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HWS_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()  # the service's data folder (operator commands never create it themselves)
    return tmp_path / "data"


def _spec(tmp_path: Path, kind: str = "refusal") -> Path:
    result = runner.invoke(app, ["package", "example", kind])
    assert result.exit_code == 0, result.output
    path = tmp_path / f"{kind}.yaml"
    path.write_text(result.stdout)
    return path


def test_example_build_check_round_trip(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert yaml.safe_load(spec.read_text())["transaction"] == "refusal"
    (tmp_path / "refusal.pdf").write_bytes(specimens.pdf("refusal"))
    result = runner.invoke(app, ["package", "build", str(spec), "--out", str(tmp_path / "r.zip")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["package", "check", str(tmp_path / "r.zip"), "--office", "KR"])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.stdout and "DM/200000" in result.stdout
    assert "structural rules only" in result.stdout  # no schema set installed yet


def test_build_reports_missing_files(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "application")
    result = runner.invoke(app, ["package", "build", str(spec), "--out", str(tmp_path / "a.zip")])
    assert result.exit_code == 1
    assert "not provided" in result.output and "--fill-missing" in result.output
    result = runner.invoke(app, ["package", "build", str(spec), "--out", str(tmp_path / "a.zip"), "--fill-missing"])
    assert result.exit_code == 0, result.output


def test_build_with_version_option(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "second-part-fee-paid")
    out = tmp_path / "p.zip"
    result = runner.invoke(app, ["package", "build", str(spec), "--out", str(out), "--version", "V7_0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bytes"] == out.stat().st_size
    checked = runner.invoke(app, ["package", "check", str(out), "--json"])
    assert json.loads(checked.stdout)["st96Version"] == "V7_0"


def test_check_rejected_lists_every_problem(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    runner.invoke(app, ["package", "build", str(spec), "--out", str(tmp_path / "r.zip"), "--fill-missing"])
    result = runner.invoke(app, ["package", "check", str(tmp_path / "r.zip"), "--office", "US"])
    assert result.exit_code == 1
    assert "office-code-mismatch" in result.output and "rejected" in result.output
    assert "com:IPOfficeCode" in result.output


def test_check_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    result = runner.invoke(app, ["package", "check", str(bad), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["accepted"] is False
    assert [p["code"] for p in report["problems"]] == ["zip-not-a-zip"]


def test_unknown_example_kind() -> None:
    result = runner.invoke(app, ["package", "example", "renewal"])
    assert result.exit_code == 2 and "unknown transaction kind" in result.output  # a usage error


def test_schemas_install_list_and_check_with_them(tmp_path: Path, data: Path, st96_dir: Path) -> None:
    result = runner.invoke(app, ["admin", "schemas", "list"])
    assert result.exit_code == 0 and "no schema set installed" in result.stdout
    result = runner.invoke(app, ["admin", "schemas", "install", str(st96_dir / "V6_0"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "V6_0"
    assert (data / "schemas" / "V6_0" / "HagueOfficeToIBTransaction_V6_0.xsd").is_file()
    again = runner.invoke(app, ["admin", "schemas", "install", str(st96_dir / "V6_0")])
    assert again.exit_code == 1 and "--replace" in again.output
    listed = json.loads(runner.invoke(app, ["admin", "schemas", "list", "--json"]).stdout)
    assert [s["version"] for s in listed] == ["V6_0"]
    spec = _spec(tmp_path, "application")
    runner.invoke(app, ["package", "build", str(spec), "--out", str(tmp_path / "a.zip"), "--fill-missing"])
    checked = json.loads(runner.invoke(app, ["package", "check", str(tmp_path / "a.zip"), "--json"]).stdout)
    assert checked["accepted"] and checked["schemaChecked"]
    result = runner.invoke(app, ["package", "check", str(tmp_path / "a.zip")])
    assert "official schema V6_0" in result.stdout


def test_schemas_install_refuses_a_folder_without_schemas(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["admin", "schemas", "install", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "HagueOfficeToIBTransaction" in result.output
