"""Resumable, verified downloads on both twins, against an in-memory server with real
Range / If-Range / If-None-Match / Repr-Digest semantics, and safe extraction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import stat
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hws.client import APIError, AsyncHagueClient, HagueClient, HWSError
from hws.client.downloads import (
    DigestMismatch,
    NothingPublished,
    NotYetPublished,
    UnsafeArchive,
    extract_zip,
    sha256_of_repr_digest,
)
from hws.st96.api_documents import PublicationView, ping_response, publication_list, schema
from tests.client.conftest import call
from tests.client.fake_hws import API, ISSUER, FakeHWS, problem
from tests.support.jose import new_ec_key

WEEK = "202647"
STORAGE = "https://s3.test/hws-blobs/"
CHUNK = 64 * 1024  # what the fake server sends at a time


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@dataclass
class Served:
    """A published file; ``corrupt`` sends other bytes under this file's validators."""

    data: bytes
    corrupt: bool = False
    repr_digest: str | None = None  # override the announced digest

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.data).hexdigest()}"'


class CutBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body sent in chunks that can break off after ``cut`` bytes (a dropped connection)."""

    def __init__(self, data: bytes, cut: int | None) -> None:
        self.data, self.cut = data, cut
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), CHUNK):
            piece = self.data[start : start + CHUNK]
            if self.cut is not None and start + len(piece) > self.cut:
                if self.cut > start:
                    self.sent += self.cut - start
                    yield piece[: self.cut - start]
                raise httpx.ReadError("connection reset by peer")
            self.sent += len(piece)
            yield piece

    async def __aiter__(self):  # type: ignore[no-untyped-def, override]
        for piece in self:
            yield piece


class FakePublications(FakeHWS):
    """``FakeHWS`` plus ``/pingMe`` and the ``/publication`` endpoints."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, Served] = {}
        self.problems: dict[str, Any] = {}
        #: absolute offset at which the next body breaks off (once)
        self.cut_at: int | None = None
        self.office = "KR"
        self.answers: list[tuple[str, int, dict[str, str]]] = []  # (path, status, request headers)
        #: answer downloads with a 307 to a presigned object-store URL (as with S3)
        self.presign = False
        self.storage_expired = False
        self.storage_corrupt = False
        self.storage_requests: list[dict[str, str]] = []

    def publish(self, path: str, data: bytes) -> Served:
        self.files[path] = Served(data)
        return self.files[path]

    def _answer(self, request: httpx.Request, chunks: list[bytes]) -> httpx.Response:
        url = str(request.url)
        if url.startswith(STORAGE):
            return self._storage(request)
        path = url[len(API) :] if url.startswith(API) else ""
        if path != "/pingMe" and not path.startswith("/publication"):
            return super()._answer(request, chunks)
        self.log.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.stale_tokens or not token:
            return self._send(problem(401, "invalid-token"), request)
        response = self._route(request, path)
        self.answers.append((path, response.status_code, dict(request.headers)))
        return response

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == "/pingMe":
            body = ping_response("Hello", "kr-test", self.office, datetime(2026, 11, 20, tzinfo=UTC))
            return httpx.Response(200, content=body, headers={"Content-Type": "application/xml"})
        if path in self.problems:
            return self._send(self.problems[path], request)
        if path in ("/publication/bulletin", "/publication/copy/confidential"):
            return self._listing(path)
        served = self.files.get(path)
        if served is None:
            return self._send(problem(404, "not-found"), request)
        data = served.data
        headers = {
            "ETag": served.etag,
            "Accept-Ranges": "bytes",
            "Repr-Digest": served.repr_digest or repr_digest(data),
            "Content-Type": "application/zip",
        }
        if request.headers.get("if-none-match") == served.etag:
            return httpx.Response(304, headers=headers)
        start = 0
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if wanted and (if_range is None or if_range == served.etag):
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(data):
                return self._send(problem(416, "range-not-satisfiable", Content_Range=f"bytes */{len(data)}"), request)
        if self.presign and (if_range is None or start):
            location = f"{STORAGE}{hashlib.sha256(data).hexdigest()}?X-Amz-Signature=abc"
            redirect = {k: v for k, v in headers.items() if k != "Accept-Ranges"}
            return httpx.Response(307, headers={**redirect, "Location": location})
        body = data[start:]
        if served.corrupt:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if request.method == "HEAD":
            return httpx.Response(200, headers={**headers, "Content-Length": str(len(data))})
        cut, self.cut_at = (None if self.cut_at is None else self.cut_at - start), None
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return httpx.Response(status, headers={**headers, "Content-Length": str(len(body))}, stream=CutBody(body, cut))

    def _storage(self, request: httpx.Request) -> httpx.Response:
        """The object store behind a presigned URL: its own ETag, no Repr-Digest."""
        self.storage_requests.append(dict(request.headers))
        if self.storage_expired:
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
        sha = request.url.path.rsplit("/", 1)[1]
        data = next(f.data for f in self.files.values() if hashlib.sha256(f.data).hexdigest() == sha)
        start = int(request.headers["range"].removeprefix("bytes=").removesuffix("-")) if "range" in request.headers else 0
        headers = {"ETag": f'"{hashlib.md5(data).hexdigest()}"', "Content-Length": str(len(data) - start)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:] if not self.storage_corrupt else data[start:-1] + bytes([data[-1] ^ 1])
        cut, self.cut_at = (None if self.cut_at is None else self.cut_at - start), None
        return httpx.Response(206 if start else 200, headers=headers, stream=CutBody(body, cut))

    def _listing(self, path: str) -> httpx.Response:
        kind = "bulletin" if path == "/publication/bulletin" else "confidential"
        items = []
        for file_path, served in sorted(self.files.items(), reverse=True):
            if not file_path.startswith(path + "/"):
                continue
            week = file_path.rsplit("/", 1)[1]
            items.append(
                PublicationView(
                    week=week,
                    bulletin_number=f"{week[:4]}/{week[4:]}",
                    publication_date=date.fromisocalendar(int(week[:4]), int(week[4:]), 5),
                    size=len(served.data),
                    sha256=hashlib.sha256(served.data).hexdigest(),
                    registrations=1,
                    decisions=0,
                    published_at=datetime(2026, 11, 20, 11, 0, tzinfo=UTC),
                    url=f"{API}{file_path}",
                )
            )
        for problem_path in self.problems:
            if problem_path.startswith(path + "/"):  # a week that the list names but that answers a problem
                week = problem_path.rsplit("/", 1)[1]
                items.append(PublicationView(week, f"{week[:4]}/{week[4:]}", date(2026, 1, 1), 1, "0" * 64, 0, 0,
                                             datetime(2026, 1, 1, tzinfo=UTC), f"{API}{problem_path}"))  # fmt: skip
        document = publication_list(kind, items, self.office if kind == "confidential" else None)
        schema("hws-api-v1.xsd").assertValid(etree.fromstring(document))
        return httpx.Response(200, content=document, headers={"Content-Type": "application/xml"})

    def downloads(self) -> list[tuple[int, dict[str, str]]]:
        return [
            (status, headers)
            for path, status, headers in self.answers
            if path.startswith("/publication/") and path.count("/") >= 3
        ]


def run(kind: str, fake: FakePublications, scenario: Callable[[Any], Awaitable[Any]]) -> Any:
    options = {"issuer": ISSUER, "client_id": "kr-test", "private_key": KEY}

    async def main() -> Any:
        if kind == "sync":
            with HagueClient(http=httpx.Client(transport=fake), **options) as client:
                return await scenario(client)
        async with AsyncHagueClient(http=httpx.AsyncClient(transport=fake), **options) as client:
            return await scenario(client)

    return asyncio.run(main())


KEY = new_ec_key()
BULLETIN_PATH = f"/publication/bulletin/{WEEK}"


@dataclass
class World:
    kind: str
    dest: Path
    fake: FakePublications = field(default_factory=FakePublications)

    def download(self, week: str = WEEK, progress: Any = None, what: str = "bulletin") -> Any:
        method = "download_bulletin" if what == "bulletin" else "download_confidential"
        return run(self.kind, self.fake, lambda c: call(getattr(c, method)(week, self.dest, progress=progress)))

    def attempt(self, **kwargs: Any) -> BaseException:
        try:
            self.download(**kwargs)
        except BaseException as exc:  # the test looks at it
            return exc
        raise AssertionError("the download did not fail")

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.dest.iterdir())


@pytest.fixture(params=["sync", "async"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    return World(request.param, tmp_path / "downloads")


def payload(size: int = 5 * CHUNK + 1234, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


# --------------------------------------------------------------------------- fresh, skip, 304


def test_fresh_download_is_streamed_verified_and_moved_into_place(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    seen: list[tuple[int, int]] = []
    result = world.download(progress=lambda done, total: seen.append((done, total)))
    assert result.path == world.dest / f"bulletin-{WEEK}.zip" and result.path.read_bytes() == data
    assert (result.outcome, result.size, result.received, result.resumed_from) == ("downloaded", len(data), len(data), 0)
    assert result.sha256 == hashlib.sha256(data).hexdigest() and not result.restarted
    assert world.leftovers() == [f"bulletin-{WEEK}.zip"]  # no .part, no .etag
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data)) and len(seen) >= 3
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    [(status, headers)] = world.fake.downloads()
    assert status == 200 and "range" not in headers and "if-none-match" not in headers
    assert headers["accept-encoding"] == "identity" and "application/zip" in headers["accept"]


def test_present_file_with_the_same_digest_is_skipped_with_304(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    world.download()
    seen: list[tuple[int, int]] = []
    again = world.download(progress=lambda d, t: seen.append((d, t)))
    assert again.skipped and again.outcome == "skipped" and again.received == 0 and again.size == len(data)
    assert seen == [(len(data), len(data))]
    second = world.fake.downloads()[-1]
    assert second[0] == 304 and second[1]["if-none-match"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert (world.dest / f"bulletin-{WEEK}.zip").read_bytes() == data


def test_present_file_with_another_digest_is_replaced(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    world.dest.mkdir(parents=True)
    (world.dest / f"bulletin-{WEEK}.zip").write_bytes(b"a damaged local copy")
    result = world.download()
    assert result.outcome == "downloaded" and result.path.read_bytes() == data
    assert world.fake.downloads()[-1][0] == 200


# --------------------------------------------------------------------------- interrupted, resumed


def resume_after_cut(kind: str, data: bytes, cut: int, how: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(kind, Path(tmp) / "dl")
        world.fake.publish(BULLETIN_PATH, data)
        if how == "connection":
            world.fake.cut_at = cut
            failure = world.attempt()
            assert isinstance(failure, httpx.ReadError)
        else:  # the caller gives up: its progress callback raises after ``cut`` bytes

            def give_up(done: int, total: int) -> None:
                if done >= cut:
                    raise KeyboardInterrupt

            assert isinstance(world.attempt(progress=give_up), KeyboardInterrupt)
        part = world.dest / f"bulletin-{WEEK}.zip.part"
        kept = part.stat().st_size
        assert 0 <= kept <= len(data) and part.read_bytes() == data[:kept]
        if how == "connection":
            assert kept == cut
        assert (world.dest / f"bulletin-{WEEK}.zip.part.etag").read_text().strip() == world.fake.files[BULLETIN_PATH].etag
        assert not (world.dest / f"bulletin-{WEEK}.zip").exists()

        seen: list[tuple[int, int]] = []
        result = world.download(progress=lambda d, t: seen.append((d, t)))
        assert result.path.read_bytes() == data and world.leftovers() == [f"bulletin-{WEEK}.zip"]
        status, headers = world.fake.downloads()[-1]
        if kept == len(data):  # cut after the last byte, before the check: 416, then the part is the file
            assert status == 416 and headers["range"] == f"bytes={kept}-"
            assert (result.outcome, result.resumed_from, result.received) == ("resumed", kept, 0)
            assert seen == [(kept, kept)]
        elif kept:
            assert status == 206 and headers["range"] == f"bytes={kept}-"
            assert headers["if-range"] == world.fake.files[BULLETIN_PATH].etag
            assert (result.outcome, result.resumed_from, result.received) == ("resumed", kept, len(data) - kept)
            assert seen[0] == (kept, len(data))
        else:
            assert status == 200 and result.outcome == "downloaded"
        assert seen[-1] == (len(data), len(data)) and not result.restarted


@pytest.mark.parametrize("kind", ["sync", "async"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_interrupted_at_a_random_offset_then_resumed(kind: str, data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 4 * CHUNK + 77), label="size")
    content = payload(size, seed=size)
    cut = data.draw(st.integers(0, size - 1), label="cut")
    how = data.draw(st.sampled_from(["connection", "callback"]), label="how")
    resume_after_cut(kind, content, cut, how)


@pytest.mark.parametrize("cut", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5])
def test_interrupted_at_chunk_edges(world: World, cut: int) -> None:
    resume_after_cut(world.kind, payload(), cut, "connection")


def test_interrupted_twice_then_resumed(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    for cut in (CHUNK + 10, 3 * CHUNK + 3):
        world.fake.cut_at = cut
        assert isinstance(world.attempt(), httpx.ReadError)
        assert (world.dest / f"bulletin-{WEEK}.zip.part").stat().st_size == cut
    result = world.download()
    assert result.resumed_from == 3 * CHUNK + 3 and result.path.read_bytes() == data


def test_changed_file_restarts_from_zero(world: World) -> None:
    old, new = payload(seed=1), payload(4 * CHUNK, seed=2)
    world.fake.publish(BULLETIN_PATH, old)
    world.fake.cut_at = 2 * CHUNK + 9
    world.attempt()
    world.fake.publish(BULLETIN_PATH, new)  # the server now has other bytes: If-Range fails
    result = world.download()
    status, headers = world.fake.downloads()[-1]
    assert status == 200 and headers["if-range"] == f'"{hashlib.sha256(old).hexdigest()}"'
    assert result.restarted and result.outcome == "downloaded" and result.resumed_from == 0
    assert result.path.read_bytes() == new and result.sha256 == hashlib.sha256(new).hexdigest()
    assert world.leftovers() == [f"bulletin-{WEEK}.zip"]


def test_part_without_saved_etag_is_not_trusted(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    world.dest.mkdir(parents=True)
    (world.dest / f"bulletin-{WEEK}.zip.part").write_bytes(b"garbage from somewhere")
    result = world.download()
    assert "range" not in world.fake.downloads()[-1][1] and result.path.read_bytes() == data


def test_part_as_long_as_the_file_gets_416_and_starts_again(world: World) -> None:
    data = payload()
    served = world.fake.publish(BULLETIN_PATH, data)
    world.dest.mkdir(parents=True)
    (world.dest / f"bulletin-{WEEK}.zip.part").write_bytes(data + b"extra")
    (world.dest / f"bulletin-{WEEK}.zip.part.etag").write_text(served.etag)
    result = world.download()
    assert [s for s, _ in world.fake.downloads()] == [416, 200]
    assert result.path.read_bytes() == data and world.leftovers() == [f"bulletin-{WEEK}.zip"]


def test_complete_part_that_was_never_checked_is_verified_not_downloaded(world: World) -> None:
    data = payload()
    served = world.fake.publish(BULLETIN_PATH, data)
    world.dest.mkdir(parents=True)
    (world.dest / f"bulletin-{WEEK}.zip.part").write_bytes(data)
    (world.dest / f"bulletin-{WEEK}.zip.part.etag").write_text(served.etag)
    result = world.download()
    assert [s for s, _ in world.fake.downloads()] == [416]
    assert result.outcome == "resumed" and result.received == 0 and result.path.read_bytes() == data
    # a part of the right size but other bytes is not trusted: downloaded again
    result.path.unlink()
    (world.dest / f"bulletin-{WEEK}.zip.part").write_bytes(bytes(len(data)))
    (world.dest / f"bulletin-{WEEK}.zip.part.etag").write_text(served.etag)
    assert world.download().path.read_bytes() == data
    assert [s for s, _ in world.fake.downloads()][-2:] == [416, 200]


# --------------------------------------------------------------------------- verification


def test_digest_mismatch_is_refused_and_nothing_kept(world: World) -> None:
    world.fake.publish(BULLETIN_PATH, payload()).corrupt = True
    failure = world.attempt()
    assert isinstance(failure, DigestMismatch) and "deleted" in str(failure)
    assert failure.expected == hashlib.sha256(payload()).hexdigest() and failure.actual != failure.expected
    assert world.leftovers() == []


def test_digest_mismatch_after_resume_is_refused(world: World) -> None:
    data = payload()
    served = world.fake.publish(BULLETIN_PATH, data)
    world.fake.cut_at = CHUNK + 1
    world.attempt()
    served.corrupt = True  # the rest comes back damaged
    assert isinstance(world.attempt(), DigestMismatch)
    assert world.leftovers() == []
    served.corrupt = False
    assert world.download().path.read_bytes() == data


def test_repr_digest_and_etag_that_disagree_are_refused(world: World) -> None:
    served = world.fake.publish(BULLETIN_PATH, payload())
    served.repr_digest = repr_digest(b"something else")
    failure = world.attempt()
    assert isinstance(failure, HWSError) and "disagree" in str(failure)
    assert not (world.dest / f"bulletin-{WEEK}.zip").exists()


def test_repr_digest_parsing() -> None:
    digest = hashlib.sha256(b"x").digest()
    b64 = base64.b64encode(digest).decode()
    assert sha256_of_repr_digest(f"sha-256=:{b64}:") == digest.hex()
    assert sha256_of_repr_digest(f"sha-512=:{base64.b64encode(bytes(64)).decode()}:, sha-256=:{b64}:") == digest.hex()
    assert sha256_of_repr_digest("sha-256=:not base64:") is None
    assert sha256_of_repr_digest(f"sha-256=:{base64.b64encode(b'short').decode()}:") is None
    assert sha256_of_repr_digest(None) is None


# --------------------------------------------------------------------------- the server says no


def test_not_yet_published_carries_retry_after(world: World) -> None:
    detail = "the bulletin of week 202647 is scheduled for 2026-11-20T12:00:00+01:00"
    world.fake.problems[BULLETIN_PATH] = problem(404, "not-yet-published", detail, Retry_After="3600")
    failure = world.attempt()
    assert isinstance(failure, NotYetPublished) and isinstance(failure, APIError)
    assert failure.retry_after == 3600 and failure.week == WEEK and failure.scheduled_for == "2026-11-20T12:00:00+01:00"
    assert (
        str(failure) == "week 202647 is not published yet (bulletin); scheduled for 2026-11-20T12:00:00+01:00, retry after 3600 s"
    )
    assert not world.dest.exists() or world.leftovers() == []


def test_nothing_published_and_other_problems(world: World) -> None:
    world.fake.problems[BULLETIN_PATH] = problem(404, "nothing-published", "week 202647 had nothing to publish in the bulletin")
    assert isinstance(world.attempt(), NothingPublished)
    forbidden = f"/publication/copy/confidential/{WEEK}"
    world.fake.problems[forbidden] = problem(403, "not-examining", "office KR is not registered as an examining office")
    failure = world.attempt(what="confidential")
    assert isinstance(failure, APIError) and failure.status == 403 and failure.code == "not-examining"
    with pytest.raises(ValueError, match="yyyyww"):
        world.download(week="2026-47")


def test_stale_token_is_refreshed_once(world: World) -> None:
    data = payload(1000)
    world.fake.publish(BULLETIN_PATH, data)
    world.fake.stale_tokens.add("token-1")
    assert world.download().path.read_bytes() == data
    assert world.fake.tokens == 2


# --------------------------------------------------------------------------- confidential, lists, backfill


def test_confidential_copy_is_named_after_the_office(world: World) -> None:
    data = payload(3000)
    world.fake.publish(f"/publication/copy/confidential/{WEEK}", data)
    result = world.download(what="confidential")
    assert result.path.name == f"confidential-KR-{WEEK}.zip" and result.kind == "confidential"
    assert result.path.read_bytes() == data


def test_lists_are_parsed(world: World) -> None:
    world.fake.publish(BULLETIN_PATH, payload(100))
    world.fake.publish("/publication/bulletin/202648", payload(200, seed=2))
    world.fake.publish(f"/publication/copy/confidential/{WEEK}", payload(300, seed=3))
    bulletins = run(world.kind, world.fake, lambda c: call(c.list_bulletins()))
    assert [p.week for p in bulletins] == ["202648", WEEK]
    latest = bulletins[0]
    assert (latest.kind, latest.size, latest.bulletin_number, latest.registrations) == ("bulletin", 200, "2026/48", 1)
    assert latest.sha256 == hashlib.sha256(payload(200, seed=2)).hexdigest()
    assert latest.publication_date == date(2026, 11, 27) and latest.published_at.tzinfo is not None
    assert latest.url == f"{API}/publication/bulletin/202648" and latest.office is None
    [copy] = run(world.kind, world.fake, lambda c: call(c.list_confidential()))
    assert (copy.kind, copy.week, copy.office, copy.size) == ("confidential", WEEK, "KR", 300)
    assert copy.to_dict()["publication_date"] == "2026-11-20"


def test_backfill_downloads_published_weeks_skipping_empty_ones(world: World) -> None:
    weeks = ["202645", "202646", "202648", "202649"]
    for i, week in enumerate(weeks):
        world.fake.publish(f"/publication/bulletin/{week}", payload(1000 + i, seed=i))
    world.fake.problems["/publication/bulletin/202647"] = problem(404, "nothing-published")
    world.dest.mkdir(parents=True)
    (world.dest / "bulletin-202648.zip").write_bytes(payload(1002, seed=2))  # already here
    progress: list[str] = []
    results = run(
        world.kind,
        world.fake,
        lambda c: call(c.backfill("bulletin", "202646", world.dest, progress=lambda w, d, t: progress.append(w))),
    )
    assert [(r.week, r.outcome) for r in results] == [("202646", "downloaded"), ("202648", "skipped"), ("202649", "downloaded")]
    assert set(progress) == {"202646", "202648", "202649"}
    assert sorted(p.name for p in world.dest.iterdir()) == ["bulletin-202646.zip", "bulletin-202648.zip", "bulletin-202649.zip"]
    until = run(world.kind, world.fake, lambda c: call(c.backfill("bulletin", "202645", world.dest, until_week="202646")))
    assert [(r.week, r.outcome) for r in until] == [("202645", "downloaded"), ("202646", "skipped")]


# --------------------------------------------------------------------------- extraction


def make_zip(path: Path, entries: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def test_extraction_writes_the_files(tmp_path: Path) -> None:
    entries = {"bulletin-202647.xml": b"<x/>", "images/DM000001/1.1.jpg": os.urandom(5000), "images/DM000001/1.2.jpg": b"jpg"}
    archive = make_zip(tmp_path / "b.zip", entries)
    done = extract_zip(archive, tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in done.files) == sorted(entries)
    for name, data in entries.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    assert done.size == sum(len(v) for v in entries.values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bulletin-202647.xml", "images"]  # no staging left


@pytest.mark.parametrize(
    ("entries", "links", "code"),
    [
        ({"ok.xml": b"x", "../evil.txt": b"x"}, None, "zip-entry-traversal"),
        ({"ok.xml": b"x", "images/../../evil.txt": b"x"}, None, "zip-entry-traversal"),
        ({"/etc/evil": b"x"}, None, "zip-entry-absolute"),
        ({"C:/evil": b"x"}, None, "zip-entry-drive"),
        ({"a\\..\\..\\evil": b"x"}, None, "zip-entry-backslash"),
        ({"ok.xml": b"x"}, {"link": "/etc/passwd"}, "zip-entry-symlink"),
        ({"Same.xml": b"x", "same.xml": b"y"}, None, "zip-entry-duplicate"),
    ],
)
def test_extraction_refuses_unsafe_entries_and_writes_nothing(
    tmp_path: Path, entries: dict[str, bytes], links: Any, code: str
) -> None:
    archive = make_zip(tmp_path / "bad.zip", entries, links)
    out = tmp_path / "sandbox" / "out"
    with pytest.raises(UnsafeArchive) as info:
        extract_zip(archive, out)
    assert any(p.startswith(code) for p in info.value.problems), info.value.problems
    assert list(out.iterdir()) == [] and sorted(p.name for p in tmp_path.rglob("*")) == sorted(["bad.zip", "sandbox", "out"])


def test_extraction_does_not_follow_a_link_out_of_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").symlink_to(outside)
    archive = make_zip(tmp_path / "b.zip", {"images/x.jpg": b"x"})
    with pytest.raises(UnsafeArchive, match="outside"):
        extract_zip(archive, out)
    assert list(outside.iterdir()) == []


def test_extraction_stops_a_zip_bomb(tmp_path: Path) -> None:
    from hws.st96.zipsafe import ZipLimits

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.xml", b"\0" * (4 << 20))
    with pytest.raises(UnsafeArchive, match=r"zip-ratio-exceeded|zip-entry-too-large"):
        extract_zip(archive, tmp_path / "out", limits=ZipLimits(max_ratio=50.0))
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(UnsafeArchive, match="zip-not-a-zip"):
        extract_zip(make_junk(tmp_path), tmp_path / "out")


def make_junk(tmp_path: Path) -> Path:
    path = tmp_path / "junk.zip"
    path.write_bytes(b"not a zip" * 10)
    return path


def test_bounded_memory_chunks(world: World) -> None:
    """The body goes to disk chunk by chunk: never more than one chunk per write."""
    data = payload(8 * CHUNK)
    world.fake.publish(BULLETIN_PATH, data)
    sizes: list[int] = []
    last = [0]

    def watch(done: int, total: int) -> None:
        sizes.append(done - last[0])
        last[0] = done

    world.download(progress=watch)
    assert max(sizes) <= 256 * 1024 and sum(sizes) == len(data)


# --------------------------------------------------------------------------- presigned redirects


def test_redirect_to_presigned_storage_is_followed_without_the_token(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    world.fake.presign = True
    result = world.download()
    assert result.outcome == "downloaded" and result.path.read_bytes() == data
    assert world.fake.downloads()[-1][0] == 307
    [storage] = world.fake.storage_requests
    assert "authorization" not in storage and "range" not in storage and "if-range" not in storage


def test_resume_through_the_redirect(world: World) -> None:
    data = payload()
    world.fake.publish(BULLETIN_PATH, data)
    world.fake.presign = True
    world.fake.cut_at = 2 * CHUNK + 17
    assert isinstance(world.attempt(), httpx.ReadError)
    result = world.download()
    assert (result.outcome, result.resumed_from) == ("resumed", 2 * CHUNK + 17) and result.path.read_bytes() == data
    status, headers = world.fake.downloads()[-1]
    assert status == 307 and headers["if-range"] == world.fake.files[BULLETIN_PATH].etag  # judged by the service
    storage = world.fake.storage_requests[-1]
    assert storage["range"] == f"bytes={2 * CHUNK + 17}-" and "if-range" not in storage and "authorization" not in storage


def test_redirect_to_a_damaged_object_is_refused(world: World) -> None:
    world.fake.publish(BULLETIN_PATH, payload())
    world.fake.presign = True
    world.fake.storage_corrupt = True  # the store sends other bytes than the service announced
    failure = world.attempt()
    assert isinstance(failure, DigestMismatch) and world.leftovers() == []


def test_expired_presigned_url_is_a_readable_error(world: World) -> None:
    world.fake.publish(BULLETIN_PATH, payload())
    world.fake.presign = True
    world.fake.storage_expired = True
    failure = world.attempt()
    assert isinstance(failure, HWSError) and "403" in str(failure) and "run again" in str(failure)
