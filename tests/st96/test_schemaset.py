"""Installing official schema sets and validating against them, without the network."""

from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path

import pytest

from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.schemaset import (
    SchemaError,
    SchemaSet,
    compile_schema,
    install_schema_set,
    list_schema_sets,
)
from hws.worker.runner import WorkerPool
from tests.conftest import make_service
from tests.st96.repack import NS, with_tree

XSD = "http://www.w3.org/2001/XMLSchema"


def _tiny_set(folder: Path, version: str = "V6_0", import_location: str | None = None) -> Path:
    """A minimal stand-in schema set (not WIPO's) that accepts any element."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = f'<xsd:import namespace="urn:x" schemaLocation="{import_location}"/>' if import_location else ""
    (folder / f"HagueOfficeToIBTransaction_{version}.xsd").write_text(
        f'<xsd:schema xmlns:xsd="{XSD}" targetNamespace="{NS["dgn"]}">{extra}'
        '<xsd:element name="HagueOfficeToIBTransaction"/></xsd:schema>'
    )
    return folder


@pytest.fixture(scope="module")
def installed_v6(tmp_path_factory: pytest.TempPathFactory, st96_dir: Path) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    result = install_schema_set(st96_dir / "V6_0", data_dir)
    assert result.version == "V6_0"
    return data_dir


def test_install_official_folder_and_validate(installed_v6: Path) -> None:
    target = installed_v6 / "schemas" / "V6_0"
    assert (target / "HagueOfficeToIBTransaction_V6_0_Common.xsd").is_file()
    [listed] = list_schema_sets(installed_v6)
    assert listed.version == "V6_0" and listed.files >= 9
    assert set(listed.documents) == {"HagueOfficeToIBTransaction", "HagueIBToOfficeTransaction"}
    report = validate_package(example_package(), schemas=SchemaSet(installed_v6 / "schemas"))
    assert report.ok and report.schema_checked


def test_install_from_a_zip(tmp_path: Path, st96_dir: Path) -> None:
    archive = tmp_path / "wipo.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for xsd in sorted((st96_dir / "V6_0").glob("*.xsd")):
            zf.write(xsd, f"ST96/V6_0/Design/{xsd.name}")
        zf.writestr("ST96/Readme.txt", "ignored")
    result = install_schema_set(archive, tmp_path / "data")
    assert result.version == "V6_0"
    sets = SchemaSet(tmp_path / "data" / "schemas")
    assert sets.entry_point("V6_0").name == "HagueOfficeToIBTransaction_V6_0.xsd"
    assert validate_package(example_package(), schemas=sets).schema_checked


def test_reinstall_needs_replace(tmp_path: Path) -> None:
    src = _tiny_set(tmp_path / "src")
    install_schema_set(src, tmp_path / "data")
    with pytest.raises(SchemaError, match="already installed"):
        install_schema_set(src, tmp_path / "data")
    install_schema_set(src, tmp_path / "data", replace=True)
    assert [s.version for s in list_schema_sets(tmp_path / "data")] == ["V6_0"]


def test_compiled_once_and_cached(tmp_path: Path) -> None:
    src = _tiny_set(tmp_path / "src", "V4_0")
    entry = src / "HagueOfficeToIBTransaction_V4_0.xsd"
    assert compile_schema(entry) is compile_schema(entry)


def test_a_replaced_set_is_the_one_used_next(tmp_path: Path) -> None:
    """The set is hashed once per process (not per validation); replacing it (a new folder)
    or editing its entry point is seen at the next validation."""
    data = tmp_path / "data"
    install_schema_set(_tiny_set(tmp_path / "v1"), data)
    sets = SchemaSet(data / "schemas")
    first = sets.compiled("V6_0")
    assert first is sets.compiled("V6_0")  # unchanged: the same compiled schema

    strict = tmp_path / "v2"
    strict.mkdir()
    (strict / "HagueOfficeToIBTransaction_V6_0.xsd").write_text(
        f'<xsd:schema xmlns:xsd="{XSD}" targetNamespace="{NS["dgn"]}"><xsd:element name="Other"/></xsd:schema>'
    )
    install_schema_set(strict, data, replace=True)
    second = sets.compiled("V6_0")
    assert second is not first
    report = validate_package(example_package(), schemas=sets)
    assert not report.ok and any(p.code == "xsd-invalid" for p in report.problems)

    entry = data / "schemas" / "V6_0" / "HagueOfficeToIBTransaction_V6_0.xsd"  # edited in place
    entry.write_text(entry.read_text().replace('name="Other"', 'name="HagueOfficeToIBTransaction"') + "\n")
    assert sets.compiled("V6_0") is not second
    assert validate_package(example_package(), schemas=sets).ok


def test_a_folder_without_a_hague_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "Other.xsd").write_text(f'<xsd:schema xmlns:xsd="{XSD}"/>')
    with pytest.raises(SchemaError, match=r"HagueOfficeToIBTransaction_<version>\.xsd"):
        install_schema_set(tmp_path / "src", tmp_path / "data")


def test_import_over_the_network_is_refused_and_not_fetched(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/x.xsd"
        src = _tiny_set(tmp_path / "src", import_location=url)
        with pytest.raises(SchemaError, match="relative paths"):
            install_schema_set(src, tmp_path / "data")
        # compiling such a file directly (not installed) does not fetch it either
        with pytest.raises(SchemaError):
            compile_schema(src / "HagueOfficeToIBTransaction_V6_0.xsd")
        with pytest.raises(BlockingIOError):
            server.accept()
    assert not (tmp_path / "data" / "schemas" / "V6_0").exists()


def test_import_outside_the_set_is_refused(tmp_path: Path) -> None:
    src = _tiny_set(tmp_path / "src", import_location="../elsewhere.xsd")
    with pytest.raises(SchemaError, match="outside the schema set"):
        install_schema_set(src, tmp_path / "data")


def test_import_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    src = _tiny_set(tmp_path / "src", import_location="Missing.xsd")
    with pytest.raises(SchemaError, match="not in the schema set"):
        install_schema_set(src, tmp_path / "data")


def test_broken_installed_set_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "schemas" / "V6_0"
    folder.mkdir(parents=True)
    (folder / "HagueOfficeToIBTransaction_V6_0.xsd").write_text("<xsd:schema")
    report = validate_package(example_package(), schemas=SchemaSet(tmp_path / "schemas"))
    assert "xsd-unavailable" in report.codes and not report.ok


def test_version_picks_the_set(tmp_path: Path) -> None:
    """A V4_0 document is checked against the V4_0 set, not the V6_0 one."""
    install_schema_set(_tiny_set(tmp_path / "v4", "V4_0"), tmp_path / "data")
    sets = SchemaSet(tmp_path / "data" / "schemas")
    data = with_tree(example_package(), lambda r: r.set("{%s}st96Version" % NS["com"], "V4_0"))
    report = validate_package(data, schemas=sets)
    assert report.ok and report.schema_checked and report.st96_version == "V4_0"
    report = validate_package(example_package(), schemas=sets)
    assert report.ok and not report.schema_checked and "xsd-not-installed" in report.codes


def test_warm_compiles_every_installed_version_and_names_a_broken_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    install_schema_set(_tiny_set(tmp_path / "good", "V6_0"), data)
    schemas = SchemaSet(data / "schemas")
    broken = data / "schemas" / "V5_0"  # damaged after its installation
    broken.mkdir()
    (broken / "HagueOfficeToIBTransaction_V5_0.xsd").write_text("<xsd:schema not xml")
    outcome = schemas.warm()
    assert outcome["V6_0"] is None and "does not compile" in (outcome["V5_0"] or "")
    assert schemas.compiled("V6_0") is schemas.compiled("V6_0")


def test_a_job_runner_compiles_the_installed_sets_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The first package after a start does not wait for the compile (seconds for WIPO's set)."""
    service = make_service(tmp_path, f"sqlite:///{tmp_path / 'hws.sqlite3'}", worker_poll_interval=30.0)
    install_schema_set(_tiny_set(tmp_path / "set", "V6_0"), service.settings.data_dir)
    pool = WorkerPool(service, 1)
    caplog.set_level("INFO", logger="hws.worker")
    pool.start()
    try:
        deadline = time.monotonic() + 20
        while not [r for r in caplog.records if getattr(r, "event", None) == "schemas.compiled"]:
            assert time.monotonic() < deadline, "the installed set was not compiled at start"
            time.sleep(0.05)
        [record] = [r for r in caplog.records if getattr(r, "event", None) == "schemas.compiled"]
        assert record.versions == ["V6_0"]  # type: ignore[attr-defined]
    finally:
        pool.stop()
        service.close()
