"""validate_package with the service's rule for versions without an installed schema set."""

from __future__ import annotations

from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.schemaset import SchemaSet, StructuralOnly
from tests.st96.repack import with_xml


def v7(package: bytes) -> bytes:
    return with_xml(package, lambda xml: xml.replace(b'st96Version="V6_0"', b'st96Version="V7_0"'))


def test_without_a_rule_the_office_kit_warns(st96_dir) -> None:  # type: ignore[no-untyped-def]
    report = validate_package(v7(example_package("application", office="KR")), schemas=SchemaSet(st96_dir))
    assert report.ok and report.codes == {"xsd-not-installed"}


def test_the_service_refuses_a_version_it_has_no_set_for(st96_dir) -> None:  # type: ignore[no-untyped-def]
    report = validate_package(
        v7(example_package("application", office="KR")), schemas=SchemaSet(st96_dir), structural_only=StructuralOnly()
    )
    assert not report.ok and report.codes == {"st96-version-not-installed"} and report.content is None
    (problem,) = report.problems
    assert "declares st96Version V7_0" in problem.message and "(installed: V6_0)" in problem.message
    assert problem.where.entry == "HagueApplication.xml"


def test_an_allowed_version_is_checked_structurally_with_a_warning(st96_dir) -> None:  # type: ignore[no-untyped-def]
    report = validate_package(
        v7(example_package("application", office="KR")),
        schemas=SchemaSet(st96_dir),
        structural_only=StructuralOnly(frozenset({"V7_0"})),
    )
    assert report.ok and not report.schema_checked
    (warning,) = report.warnings
    assert warning.code == "xsd-not-installed" and "the operator allows structural rules only" in warning.message


def test_an_installed_version_is_checked_against_its_schema_whatever_the_rule(st96_dir) -> None:  # type: ignore[no-untyped-def]
    report = validate_package(
        example_package("application", office="KR"), schemas=SchemaSet(st96_dir), structural_only=StructuralOnly()
    )
    assert report.ok and report.schema_checked and report.problems == []
