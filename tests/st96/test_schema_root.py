"""``--schemas`` takes what an operator gives ``hws admin schemas install`` (WIPO's V6_0
folder) as well as a folder of installed sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from hws.st96.schemaset import SchemaError, SchemaSet, install_schema_set, schema_root_for


def test_wipo_folder_itself(st96_dir: Path) -> None:
    root = schema_root_for(st96_dir / "V6_0")
    assert root == st96_dir and "V6_0" in SchemaSet(root).versions()


def test_folder_of_installed_sets(st96_dir: Path, tmp_path: Path) -> None:
    installed = install_schema_set(st96_dir / "V6_0", tmp_path / "data")
    assert schema_root_for(installed.path.parent) == installed.path.parent


@pytest.mark.parametrize("make", ["missing", "empty", "file", "unversioned"])
def test_anything_else_is_refused_with_what_to_give(make: str, tmp_path: Path) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    elif make == "unversioned":
        (target / "V6_0_copy").mkdir(parents=True)
        (target / "V6_0_copy" / "HagueOfficeToIBTransaction_V6_0.xsd").write_text("<x/>")
    with pytest.raises(SchemaError, match="V6_0"):
        schema_root_for(target)
