"""One exception hierarchy for the office kit: everything it raises is an HWSError."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import hws.client
from hws.client import errors

CLIENT = Path(hws.client.__file__).parent


def test_every_client_exception_is_defined_in_errors_and_is_an_hws_error() -> None:
    defined_elsewhere = [
        f"{path.name}: {node.name}"
        for path in CLIENT.glob("*.py")
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception")) or b.id == "Exception") for b in node.bases)
    ]
    assert defined_elsewhere == []
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, BaseException)]
    assert {c.__name__ for c in classes} >= {
        "HWSError", "TokenError", "APIError", "NotYetPublished", "NothingPublished", "RangeNotSatisfiable",
        "UnexpectedResponse", "ImportTimeout", "DigestMismatch", "UnsafeArchive", "ProfileError",
    }  # fmt: skip
    assert all(issubclass(c, errors.HWSError) for c in classes)


def test_the_publication_errors_are_api_errors_and_a_profile_error_is_still_a_value_error() -> None:
    for cls in (errors.NotYetPublished, errors.NothingPublished, errors.RangeNotSatisfiable):
        assert issubclass(cls, errors.APIError)
    assert issubclass(errors.ProfileError, ValueError)


def test_the_kit_exports_the_hierarchy() -> None:
    for name in ("HWSError", "TokenError", "APIError", "UnexpectedResponse", "ImportTimeout", "UnsafeArchive", "DigestMismatch"):
        assert getattr(hws.client, name) is getattr(errors, name)


def test_messages_name_what_happened() -> None:
    late = errors.NotYetPublished(
        status=404,
        code="not-yet-published",
        title="t",
        detail="scheduled for 2026-12-04T12:00:00Z",
        week="202649",
        retry_after=30,
    )
    assert str(late) == "week 202649 is not published yet (bulletin); scheduled for 2026-12-04T12:00:00Z, retry after 30 s"
    assert str(errors.ImportTimeout("01J", 5, last=None)).startswith("import 01J status unknown after 5 s")
