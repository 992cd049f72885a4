"""One exception hierarchy for the office kit: everything it raises is an HWSError."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import hws.client
from hws.client import HagueClient, errors
from hws.client.downloads import CONFIDENTIAL, Transfer, endpoint, extract_zip, file_name, parse_publication_list
from hws.client.hague import _storage_error
from hws.client.polling import PollSchedule
from hws.client.statuses import parse_import_status
from hws.client.upload import FileDigest, file_body, upload_headers
from hws.st96.api_documents import problem_document
from tests.client.fake_hws import API, ISSUER
from tests.support.jose import new_ec_key

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


# --------------------------------------------------------------------------- the hierarchy, raised


def test_the_hierarchy_is_shaped_like_httpx() -> None:
    for cls in (errors.TokenError, errors.DiscoveryError, errors.StorageError, errors.APIError):
        assert issubclass(cls, errors.HTTPStatusError)
    assert issubclass(errors.DigestMismatch, errors.DownloadError)
    assert issubclass(errors.ProfileError, errors.InvalidArgument) and issubclass(errors.InvalidArgument, ValueError)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert getattr(hws.client, name) is cls, name
        assert cls is errors.ProblemEntry or issubclass(cls, errors.HWSError), name


def _client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> HagueClient:
    return HagueClient(
        issuer=ISSUER, client_id="kr-test", private_key=new_ec_key(), http=httpx.Client(transport=httpx.MockTransport(handler)),
        **options,
    )  # fmt: skip


def _discovery(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/openid-configuration"):
        return httpx.Response(200, json={"token_endpoint": f"{ISSUER}/access_token", "hws_api_base_url": API})
    if request.url.path.endswith("/access_token"):
        return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
    return None


def _api(answer: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: _discovery(request) or answer


def _token(answer: httpx.Response) -> Callable[[], object]:
    return lambda: _client(lambda request: _discovery(request) if "openid" in str(request.url) else answer).token()


def _raise(exc: Exception) -> None:
    raise exc


def _ping(answer: httpx.Response) -> Callable[[], object]:
    return lambda: _client(_api(answer)).ping()


def _transfer_begin(tmp_path: Path, response: httpx.Response) -> Callable[[], object]:
    return lambda: Transfer("bulletin", "202647", "bulletin-202647.zip", tmp_path).begin(response)


def _body_of_another_file(tmp_path: Path) -> Callable[[], object]:
    package = tmp_path / "p.zip"
    package.write_bytes(b"abc")
    return lambda: list(file_body(package, FileDigest(3, bytes(32))))


def _junk(tmp_path: Path) -> Path:
    (tmp_path / "junk.zip").write_bytes(b"not a zip" * 10)
    return tmp_path / "junk.zip"


WAYS_TO_FAIL: dict[str, tuple[Callable[[Path], Callable[[], object]], type[Exception]]] = {
    "bad idempotency key": (lambda _: lambda: upload_headers(FileDigest(1, bytes(32)), "a b"), errors.InvalidArgument),
    "nonsense poll schedule": (lambda _: lambda: PollSchedule(-1, 0), errors.InvalidArgument),
    "unknown kind": (lambda _: lambda: endpoint("gazette"), errors.InvalidArgument),
    "confidential without an office": (lambda _: lambda: file_name(CONFIDENTIAL, "202647"), errors.InvalidArgument),
    "unknown audience": (lambda _: lambda: _client(_api(httpx.Response(500)), audience="anyone"), errors.InvalidArgument),
    "discovery answered 503": (lambda _: lambda: _client(lambda r: httpx.Response(503)).discover(), errors.DiscoveryError),
    "discovery not JSON": (lambda _: lambda: _client(lambda r: httpx.Response(200, text="<html/>")).discover(),
                           errors.UnexpectedResponse),
    "discovery without endpoint": (lambda _: lambda: _client(lambda r: httpx.Response(200, json={})).discover(),
                                   errors.UnexpectedResponse),
    "token refused": (lambda _: _token(httpx.Response(400, json={"error": "invalid_client"})), errors.TokenError),
    "token not a JSON object": (lambda _: _token(httpx.Response(200, json=["access_token"])), errors.TokenError),
    "token lifetime not a number": (lambda _: _token(httpx.Response(200, json={"access_token": "t", "expires_in": "soon"})),
                                    errors.UnexpectedResponse),
    "problem answer": (lambda _: _ping(httpx.Response(403, content=problem_document(
        type_uri="urn:x", title="Forbidden", status=403, code="ip-not-allowed"), headers={"Content-Type": "application/problem+xml"})),
        errors.APIError),
    "ping not XML": (lambda _: _ping(httpx.Response(200, text="hello")), errors.UnexpectedResponse),
    "ping of another document": (lambda _: _ping(httpx.Response(200, content=b'<x xmlns="urn:hws:xml:api:v1"/>')),
                                 errors.UnexpectedResponse),
    "status unreadable": (lambda _: lambda: parse_import_status(b"junk"), errors.UnexpectedResponse),
    "publication list unreadable": (lambda _: lambda: parse_publication_list(b"junk"), errors.UnexpectedResponse),
    "storage refused": (lambda _: lambda: _raise(_storage_error(
        httpx.Response(403, request=httpx.Request("GET", "https://store.test/b.zip")))), errors.StorageError),
    "download answered 500": (lambda tmp: _transfer_begin(tmp, httpx.Response(500)), errors.DownloadError),
    "download without a digest": (lambda tmp: _transfer_begin(tmp, httpx.Response(200)), errors.DownloadError),
    "file changed while sent": (_body_of_another_file, errors.UploadError),
    "unsafe archive": (lambda tmp: lambda: extract_zip(_junk(tmp), tmp / "out"), errors.UnsafeArchive),
}  # fmt: skip


@pytest.mark.parametrize("way", WAYS_TO_FAIL)
def test_each_raised_error_is_an_hws_error(way: str, tmp_path: Path) -> None:
    make, expected = WAYS_TO_FAIL[way]
    with pytest.raises(errors.HWSError) as info:
        make(tmp_path)()
    assert isinstance(info.value, expected), repr(info.value)
    if isinstance(info.value, errors.HTTPStatusError):
        assert isinstance(info.value.status, int)


def test_argument_errors_are_still_value_errors_and_messages_are_unchanged() -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        upload_headers(FileDigest(1, bytes(32)), "")
    with pytest.raises(
        errors.DiscoveryError, match=rf"^discovery failed: {ISSUER}/.well-known/openid-configuration answered 503$"
    ):
        _client(lambda r: httpx.Response(503)).discover()
    stored = _storage_error(httpx.Response(403, text="expired", request=httpx.Request("GET", "https://store.test/b.zip")))
    assert str(stored).startswith("the storage the service redirected to answered 403 Forbidden (store.test); run again")
    assert (stored.status, stored.url) == (403, "https://store.test/b.zip")
    assert str(errors.DigestMismatch(Path("b.zip"), "aa", "bb", 3)).startswith("b.zip: the downloaded file (3 bytes)")


def test_nothing_published_says_it_once() -> None:
    said = errors.NothingPublished(
        404, "nothing-published", "Nothing published", "week 202648 had nothing to publish", week="202648"
    )
    assert str(said) == "week 202648 had nothing to publish"
    other = errors.NothingPublished(404, "nothing-published", "Nothing published", "", week="202648")
    assert str(other) == "week 202648 had nothing to publish (Nothing published)"
