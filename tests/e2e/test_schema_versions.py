"""A relabelled st96Version no longer skips the schema check (issue 9, item 8;
checklists/package.md: a version without an installed set is refused unless allowed).

Before: with WIPO's V6_0 set installed, a package holding ``<dgn:Bogus/>`` labelled V6_0
was rejected ``xsd-invalid``, but the same bytes labelled V7_0 (no set installed) were
imported, registered and published in the V6_0 bulletin.
"""

from __future__ import annotations

import httpx
import pytest

from hws.st96.examples import example_package
from tests.st96.repack import with_xml
from tests.support.servers import RunningServer, start_server

pytestmark = pytest.mark.e2e


def bogus(package: bytes, version: str) -> bytes:
    """The example with an element no schema allows, labelled ``version``."""

    def edit(xml: bytes) -> bytes:
        xml = xml.replace(b'st96Version="V6_0"', f'st96Version="{version}"'.encode())
        bag = xml.index(b"<dgn:HagueOfficeToIBBag")
        return xml[:bag] + b"<dgn:Bogus/>" + xml[bag:]

    return with_xml(package, edit)


def relabelled(package: bytes, version: str) -> bytes:
    return with_xml(package, lambda xml: xml.replace(b'st96Version="V6_0"', f'st96Version="{version}"'.encode()))


def submit_all(server: RunningServer, tmp_path, packages: dict[str, bytes]) -> dict[str, dict]:  # type: ignore[type-arg]
    results = {}
    with server.enrol("KR") as hws:
        for name, body in packages.items():
            path = tmp_path / f"{name}.zip"
            path.write_bytes(body)
            done = hws.wait_for_import(hws.submit(path).import_id, timeout=60)
            results[name] = {
                "status": str(done.status),
                "errors": [p.code for p in done.problems if p.severity == "error"],
                "warnings": [(p.code, p.message) for p in done.problems if p.severity == "warning"],
                "messages": [p.message for p in done.problems],
            }
    return results


def test_a_relabelled_version_is_refused_where_v6_is_installed(tmp_path, st96_dir) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "server", extra_env={"HWS_STRUCTURAL_ONLY_VERSIONS": ""})  # production default
    try:
        server.hws("admin", "schemas", "install", str(st96_dir / "V6_0"), "--json")
        good = example_package("application", office="KR")
        results = submit_all(server, tmp_path, {
            "bogus-v6": bogus(good, "V6_0"),
            "bogus-v7": bogus(good, "V7_0"),
            "clean-v7": relabelled(good, "V7_0"),
            "clean-v6": good,
        })  # fmt: skip
        ready = httpx.get(f"{server.url}/readyz").json()["checks"]["st96_schemas"]
    finally:
        server.stop()
    assert results["bogus-v6"]["status"] == "Rejected" and "xsd-invalid" in results["bogus-v6"]["errors"]
    for name in ("bogus-v7", "clean-v7"):
        assert results[name]["status"] == "Rejected", results[name]
        assert results[name]["errors"] == ["st96-version-not-installed"], results[name]
        assert any("declares st96Version V7_0" in m and "(installed: V6_0)" in m for m in results[name]["messages"])
    assert results["clean-v6"]["status"] == "Imported" and results["clean-v6"]["warnings"] == []
    assert ready["installed"] == ["V6_0"] and "refused" in ready["other_versions"]


def test_the_operator_may_allow_structural_only_for_a_version_and_the_import_says_so(tmp_path, st96_dir) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path / "server", extra_env={"HWS_STRUCTURAL_ONLY_VERSIONS": "V7_0"})
    try:
        server.hws("admin", "schemas", "install", str(st96_dir / "V6_0"), "--json")
        good = example_package("application", office="KR")
        results = submit_all(server, tmp_path, {"clean-v7": relabelled(good, "V7_0"), "bogus-v4": bogus(good, "V4_0")})
    finally:
        server.stop()
    accepted = results["clean-v7"]
    assert accepted["status"] == "Imported", accepted
    (warning,) = accepted["warnings"]
    assert warning[0] == "xsd-not-installed" and "the operator allows structural rules only" in warning[1]
    assert results["bogus-v4"]["errors"] == ["st96-version-not-installed"]


def test_a_sandbox_without_any_schema_set_checks_structure_only_and_says_so(tmp_path, st96_dir) -> None:  # type: ignore[no-untyped-def]
    """The sandbox's default (no HWS_STRUCTURAL_ONLY_VERSIONS): any version while no schema
    set at all is installed, each import warned; once one is installed, no more."""
    server = start_server(tmp_path / "server", extra_env={"HWS_SANDBOX": "1", "HWS_STRUCTURAL_ONLY_VERSIONS": None})
    try:
        good = example_package("application", office="KR")
        before = submit_all(server, tmp_path, {"clean-v6": good})
        server.hws("admin", "schemas", "install", str(st96_dir / "V6_0"), "--json")
        after = submit_all(server, tmp_path, {"clean-v7": relabelled(good, "V7_0"), "clean-v6": good})
        log = server.log()
    finally:
        server.stop()
    assert before["clean-v6"]["status"] == "Imported"
    assert [code for code, _ in before["clean-v6"]["warnings"]] == ["xsd-not-installed"]
    assert "sandbox: no schema set installed, so every version gets structural checks only" in log
    assert after["clean-v7"]["errors"] == ["st96-version-not-installed"]
    assert after["clean-v6"]["status"] == "Imported" and after["clean-v6"]["warnings"] == []
