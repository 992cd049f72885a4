"""Resumable, verified downloads of weekly bulletins and confidential copies, and their
safe extraction.

The sync and async clients share everything here but the HTTP I/O:

- :class:`Transfer` decides the request headers from what is on disk, checks the answer
  (200, 206 or 304), writes the body to ``<name>.part`` in chunks, and verifies the whole
  file's SHA-256 against ``Repr-Digest`` (RFC 9530) and the ``ETag`` before it is moved
  into place (fsync, then ``os.replace``). The ``ETag`` of the answer is kept beside the
  part file (``<name>.part.etag``) so that an interrupted download resumes with
  ``Range: bytes=<size>-`` and ``If-Range``; if the file changed meanwhile, the server
  answers 200 and the download starts again from zero. A download out of step with
  what was announced raises :class:`~hws.client.errors.DownloadError`
  (:class:`~hws.client.errors.DigestMismatch` when the bytes are not those announced).
- :func:`parse_publication_list` reads ``hws:PublicationList`` (hardened parser).
- :func:`extract_zip` unpacks an archive into a folder and never writes outside it, with
  the service's own archive checks (:mod:`hws.st96.zipsafe`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from hws.client.errors import (
    APIError,
    DigestMismatch,
    DownloadError,
    InvalidArgument,
    NothingPublished,
    NotYetPublished,
    RangeNotSatisfiable,
    UnexpectedResponse,
    UnsafeArchive,
)
from hws.client.polling import parse_retry_after
from hws.client.upload import CHUNK, Progress
from hws.domain.weeks import Week
from hws.st96.api_documents import DocumentError, read_publication_list
from hws.st96.problems import Problem
from hws.st96.zipsafe import (
    EntryRefused,
    ZipLimits,
    check_entry_name,
    inflate_entry,
    refuse_directory,
    refuse_early,
    refuse_entries,
)

BULLETIN = "bulletin"
CONFIDENTIAL = "confidential"
KINDS = (BULLETIN, CONFIDENTIAL)
PART_SUFFIX = ".part"
ETAG_SUFFIX = ".part.etag"
#: what download requests accept: the ZIP, or a problem document
ACCEPT_ZIP = "application/zip, application/problem+xml;q=0.9"
#: bulletins hold many images: limits wider than for an office's package
EXTRACT_LIMITS = ZipLimits(max_entries=100_000, max_total_bytes=32 << 30, max_entry_bytes=4 << 30, max_ratio=200.0)

_STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e]+"$')
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
REDIRECTS = frozenset({301, 302, 303, 307, 308})


# --------------------------------------------------------------------------- errors


def publication_error(error: APIError, response: httpx.Response, kind: str, week: str) -> APIError:
    """The richer error for the 404s of the publication endpoints."""
    status, code, title, detail, errors = error.status, error.code, error.title, error.detail, error.errors
    if code == "not-yet-published":
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return NotYetPublished(
            status=status, code=code, title=title, detail=detail, errors=errors, week=week, kind=kind, retry_after=retry_after
        )
    if code == "nothing-published":
        return NothingPublished(status=status, code=code, title=title, detail=detail, errors=errors, week=week)
    if status == 416:
        match = re.match(r"^bytes \*/(\d+)$", response.headers.get("content-range", ""))
        size = int(match.group(1)) if match else None
        return RangeNotSatisfiable(status=status, code=code, title=title, detail=detail, errors=errors, size=size)
    return error


# --------------------------------------------------------------------------- what is published


@dataclass(frozen=True)
class Publication:
    """One entry of ``GET /publication/bulletin`` or ``/publication/copy/confidential``."""

    kind: str
    week: str
    bulletin_number: str
    publication_date: date
    size: int
    sha256: str
    registrations: int
    decisions: int
    published_at: datetime
    url: str
    office: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["publication_date"] = self.publication_date.isoformat()
        data["published_at"] = self.published_at.isoformat()
        return data


def parse_publication_list(content: bytes) -> list[Publication]:
    """``hws:PublicationList`` → publications, newest week first as the server sends them
    (read by :func:`hws.st96.api_documents.read_publication_list`, beside its writer)."""
    try:
        listing = read_publication_list(content)
        return [
            Publication(
                kind=listing.kind,
                week=Week.parse(item.week).id,
                bulletin_number=item.bulletin_number,
                publication_date=item.publication_date,
                size=item.size,
                sha256=item.sha256,
                registrations=item.registrations,
                decisions=item.decisions,
                published_at=item.published_at,
                url=item.url,
                office=listing.office,
            )
            for item in listing.items
        ]
    except (DocumentError, ValueError) as exc:  # a week id that is not one (InvalidWeek) too
        raise UnexpectedResponse(f"the publication list cannot be read: {exc}") from None


def backfill_weeks(publications: Iterable[Publication], since: str, until: str | None = None) -> list[str]:
    """Published weeks from ``since`` (and up to ``until``), oldest first."""
    first = Week.parse(since).id
    last = Week.parse(until).id if until else None
    return sorted({p.week for p in publications if p.week >= first and (last is None or p.week <= last)})


# --------------------------------------------------------------------------- one download


@dataclass(frozen=True)
class DownloadResult:
    kind: str
    week: str
    path: Path
    size: int
    sha256: str
    #: ``downloaded`` (from zero), ``resumed`` (from a part file) or ``skipped`` (already there)
    outcome: str
    #: body bytes received by this call
    received: int = 0
    #: where this call resumed (0 when it started from zero)
    resumed_from: int = 0
    #: a part file was there but of another version of the file: started again from zero
    restarted: bool = False

    @property
    def skipped(self) -> bool:
        return self.outcome == "skipped"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def file_name(kind: str, week: str, office: str | None = None) -> str:
    if kind == BULLETIN:
        return f"bulletin-{week}.zip"
    if kind == CONFIDENTIAL:
        if not office or not re.fullmatch(r"[A-Z0-9]{2,3}", office):
            raise InvalidArgument(f"a confidential copy needs the office code, got {office!r}")
        return f"confidential-{office}-{week}.zip"
    raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def endpoint(kind: str, week: str | None = None) -> str:
    base = {BULLETIN: "/publication/bulletin", CONFIDENTIAL: "/publication/copy/confidential"}.get(kind)
    if base is None:
        raise InvalidArgument(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return base if week is None else f"{base}/{Week.parse(week).id}"


def sha256_of_repr_digest(value: str | None) -> str | None:
    """The ``sha-256`` member of a ``Repr-Digest`` field (RFC 9530), as hex."""
    for member in (value or "").split(","):
        name, _, rest = member.strip().partition("=")
        if name.strip().lower() == "sha-256" and rest.startswith(":") and rest.endswith(":") and len(rest) > 2:
            try:
                raw = base64.b64decode(rest[1:-1], validate=True)
            except (binascii.Error, ValueError):
                return None
            return raw.hex() if len(raw) == 32 else None
    return None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Transfer:
    """One download of one file into ``dest_dir``; blocking file I/O only (the async
    client runs these methods in a thread), no network.

    Use: ``headers = prepare()``; send the GET; ``begin(response)`` — when it returns
    True, ``write(chunk)`` for each body chunk, then ``finish()``; on any failure
    ``abort()`` keeps the part file for the next attempt.
    """

    def __init__(self, kind: str, week: str, name: str, dest_dir: Path, progress: Progress | None = None) -> None:
        self.kind, self.week = kind, week
        self.dest_dir = Path(dest_dir)
        self.final = self.dest_dir / name
        self.part = self.dest_dir / (name + PART_SUFFIX)
        self.tag_file = self.dest_dir / (name + ETAG_SUFFIX)
        self.progress = progress
        self.offset = 0  # bytes of the part file this attempt builds on
        self.local_sha256: str | None = None  # of a final file already there
        self.total: int | None = None
        self.expected: str | None = None
        self.written = 0  # bytes in the part file
        self.received = 0
        self.restarted = False
        self.resumed_from = 0
        self.skipped = False
        self._sha = hashlib.sha256()
        self._fh: BinaryIO | None = None

    # ------------------------------------------------------------------ before

    def prepare(self) -> dict[str, str]:
        """Headers for the GET, from what is on disk."""
        self.dest_dir.mkdir(parents=True, exist_ok=True)
        headers = {"Accept-Encoding": "identity"}
        if self.final.is_file():
            self.local_sha256 = _hash_file(self.final)[1]
            headers["If-None-Match"] = f'"{self.local_sha256}"'
        self.offset = 0
        etag = self._saved_etag()
        if self.part.is_file() and etag is not None and (size := self.part.stat().st_size) > 0:
            self.offset = size
            headers["Range"] = f"bytes={size}-"
            headers["If-Range"] = etag
        return headers

    def _saved_etag(self) -> str | None:
        try:
            text = self.tag_file.read_text("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if _STRONG_ETAG.match(text) else None

    def complete_part(self, size: int | None) -> DownloadResult | None:
        """After a 416: a part file of exactly the file's size (the transfer was cut after
        its last byte) whose SHA-256 is the saved ETag is the file — move it into place.
        None: it is not; the part is discarded and the caller starts again."""
        etag = self._saved_etag()
        tag = (etag or "").strip('"').lower()
        if size is not None and _SHA256_HEX.match(tag) and self.part.is_file() and self.part.stat().st_size == size:
            with self.part.open("rb+") as fh:
                os.fsync(fh.fileno())
            if _hash_file(self.part) == (size, tag):
                os.replace(self.part, self.final)
                self.tag_file.unlink(missing_ok=True)
                _fsync_dir(self.dest_dir)
                self.expected, self.total, self.written, self.resumed_from = tag, size, size, size
                self._report()
                return self._result("resumed")
        self.discard_part()
        return None

    def discard_part(self) -> None:
        for path in (self.part, self.tag_file):
            path.unlink(missing_ok=True)
        self.offset = 0

    # ------------------------------------------------------------------ the answer

    def redirect_headers(self) -> dict[str, str]:
        """Headers for the presigned URL a 307 points to: the range only. The service has
        already judged ``If-Range`` and ``If-None-Match``; the object store's own ETag is not
        ours, and it gets no access token."""
        headers = {"Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        return headers

    def begin(self, response: httpx.Response, announced: httpx.Headers | None = None) -> bool:
        """Check the answer's status and headers and open the part file. False: nothing
        to read (304: the file is already here). ``announced``: the headers of the
        service's redirect when the bytes come from elsewhere (its ETag and Repr-Digest
        are the ones to verify against)."""
        status = response.status_code
        validators = announced if announced is not None else response.headers
        if status == 304:
            if self.local_sha256 is None:
                raise DownloadError(f"{self.final.name}: 304 Not Modified, but no local file was offered")
            self.skipped = True
            self.total = self.written = self.final.stat().st_size
            self.expected = self.local_sha256
            if self.part.exists():
                self.discard_part()
            self._report()
            return False
        if status not in (200, 206):
            raise DownloadError(f"GET {self.final.name}: unexpected answer {status}")
        etag = validators.get("etag")
        self.expected = self._announced_digest(validators, etag)
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if (
                not self.offset
                or not match
                or int(match.group(1)) != self.offset
                or int(match.group(2)) + 1 != int(match.group(3))
            ):
                raise DownloadError(
                    f"{self.final.name}: the server sent range {response.headers.get('content-range')!r}, "
                    f"not the rest from byte {self.offset}"
                )
            if etag != self._saved_etag():
                raise DownloadError(f"{self.final.name}: the server resumed another version of the file ({etag})")
            self.total = int(match.group(3))
            self.resumed_from = self.offset
            self._fh = self.part.open("r+b", buffering=0)
            self._sha = hashlib.sha256()
            remaining = self.offset
            while remaining:  # the digest covers the bytes already there
                chunk = self._fh.read(min(CHUNK, remaining))
                if not chunk:
                    raise DownloadError(f"{self.part} shrank while it was being resumed")
                self._sha.update(chunk)
                remaining -= len(chunk)
            self._fh.seek(self.offset)
            self._fh.truncate()
            self.written = self.offset
        else:
            self.restarted = self.offset > 0
            self.offset = 0
            length = response.headers.get("content-length")
            self.total = int(length) if length and length.isdigit() else None
            self.tag_file.unlink(missing_ok=True)
            self._fh = self.part.open("wb", buffering=0)
            self._sha = hashlib.sha256()
            self.written = 0
            if etag and _STRONG_ETAG.match(etag):
                # beside the part file, so that an interrupted download resumes
                tmp = self.tag_file.with_name(self.tag_file.name + ".tmp")
                tmp.write_text(etag + "\n", "ascii")
                os.replace(tmp, self.tag_file)
        self._report()
        return True

    def _announced_digest(self, headers: httpx.Headers, etag: str | None) -> str:
        from_digest = sha256_of_repr_digest(headers.get("repr-digest"))
        tag = (etag or "").strip('"').lower()
        from_etag = tag if _SHA256_HEX.match(tag) else None
        if from_digest and from_etag and from_digest != from_etag:
            raise DownloadError(f"{self.final.name}: the server's Repr-Digest ({from_digest}) and ETag ({from_etag}) disagree")
        expected = from_digest or from_etag
        if expected is None:
            raise DownloadError(f"{self.final.name}: the server announced no SHA-256 (Repr-Digest or ETag); cannot verify")
        return expected

    def write(self, chunk: bytes) -> None:
        assert self._fh is not None
        # unbuffered: the part file holds every byte received, whenever the process stops
        view = memoryview(chunk)
        while view:
            view = view[self._fh.write(view) or 0 :]
        self._sha.update(chunk)
        self.written += len(chunk)
        self.received += len(chunk)
        if self.total is not None and self.written > self.total:
            self._fh.close()
            self._fh = None
            self.discard_part()
            raise DownloadError(f"{self.final.name}: the server sent more than the announced {self.total} bytes; deleted")
        self._report()

    @property
    def done(self) -> tuple[int, int]:
        """``(bytes, total)`` so far, as the progress callback gets them."""
        return self.written, self.total if self.total is not None else self.written

    def _report(self) -> None:
        if self.progress:
            self.progress(*self.done)

    # ------------------------------------------------------------------ after

    def abort(self) -> None:
        """Close the part file and keep it (and its ETag) for a later resume."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.flush()
                self._fh.close()
            self._fh = None

    def finish(self) -> DownloadResult:
        """Verify the whole file and move it into place (or report the skip)."""
        assert self.expected is not None
        if self.skipped:
            return self._result("skipped")
        assert self._fh is not None
        fh, self._fh = self._fh, None
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        actual = self._sha.hexdigest()
        if self.total is not None and self.written != self.total:
            # a short body that ended cleanly: keep the part, a later call resumes it
            raise DownloadError(
                f"{self.final.name}: the transfer ended after {self.written} of {self.total} bytes; run again to resume"
            )
        if actual != self.expected:
            self.discard_part()
            raise DigestMismatch(self.final, self.expected, actual, self.written)
        os.replace(self.part, self.final)
        self.tag_file.unlink(missing_ok=True)
        _fsync_dir(self.dest_dir)
        return self._result("resumed" if self.resumed_from else "downloaded")

    def _result(self, outcome: str) -> DownloadResult:
        assert self.expected is not None
        return DownloadResult(
            kind=self.kind,
            week=self.week,
            path=self.final,
            size=self.written,
            sha256=self.expected,
            outcome=outcome,
            received=self.received,
            resumed_from=self.resumed_from,
            restarted=self.restarted,
        )


def _hash_file(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


#: ``progress(week, bytes, total)`` for :meth:`~hws.client.HagueClient.backfill`
BackfillProgress = Callable[[str, int, int], None]


def week_progress(progress: BackfillProgress | None, week: str) -> Progress | None:
    return None if progress is None else (lambda done, total: progress(week, done, total))


# --------------------------------------------------------------------------- extraction


@dataclass
class Extracted:
    directory: Path
    files: list[Path] = field(default_factory=list)
    size: int = 0


def _described(problem: Problem) -> str:
    """``code: 'entry': message``, or ``code: message`` for the archive as a whole."""
    name = problem.where.entry
    return f"{problem.code}: {name!r}: {problem.message}" if name is not None else f"{problem.code}: {problem.message}"


def _entry_problems(info: zipfile.ZipInfo, limits: ZipLimits) -> list[str]:
    """The service's own checks of an entry (:mod:`hws.st96.zipsafe`): its name, then its header."""
    problems = [_described(p) for p in check_entry_name(info.filename, raw=info.orig_filename)]
    early = refuse_early(info, limits)
    if early is not None:
        problems.append(_described(early))
    return problems


def _inside(base: Path, name: str) -> Path:
    target = (base / name).resolve()
    if not target.is_relative_to(base):
        raise UnsafeArchive(base, [f"zip-entry-traversal: {name!r} would be written outside {base}"])
    return target


def extract_zip(archive: Path, dest_dir: Path, *, limits: ZipLimits = EXTRACT_LIMITS) -> Extracted:
    """Unpack ``archive`` into ``dest_dir``, all or nothing.

    The checks are the service's own (:mod:`hws.st96.zipsafe`, as for an office's
    package): the entry count from the central directory before zipfile reads it
    (:func:`~hws.st96.zipsafe.refuse_directory`), the count and the declared total
    (:func:`~hws.st96.zipsafe.refuse_entries`), every entry name
    (:func:`~hws.st96.zipsafe.check_entry_name`: no absolute paths, drive letters, ``..``,
    backslashes or control characters) and header
    (:func:`~hws.st96.zipsafe.refuse_early`: links, special files, encryption, methods,
    nested archives, declared size and ratio). What only a folder on disk needs is
    checked here: no two names for the same file (even by letter case), no name both a
    file and a folder, no path that resolves outside ``dest_dir``. The archive is refused
    as a whole before anything is written. Entries are then inflated as streams against
    the size and ratio limits (:func:`~hws.st96.zipsafe.inflate_entry`) into a staging
    folder inside ``dest_dir``, and moved into place only when all of them were read.
    Files already in ``dest_dir`` with the same names are replaced.
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    base = dest_dir.resolve()
    try:
        refused = refuse_directory(archive, limits)  # before zipfile builds an object per entry
        if refused is not None:
            raise UnsafeArchive(archive, [_described(refused)])
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UnsafeArchive(archive, [f"zip-not-a-zip: {exc}"]) from None
    with zf:
        infos = zf.infolist()
        whole = refuse_entries(infos, limits)
        problems: list[str] = [] if whole is None else [_described(whole)]
        seen: dict[str, str] = {}
        files: list[zipfile.ZipInfo] = []
        for info in infos:
            entry = _entry_problems(info, limits)
            folded = info.filename.rstrip("/").casefold()
            if folded in seen:
                entry.append(f"zip-entry-duplicate: {info.filename!r} and {seen[folded]!r} name the same file")
            seen[folded] = info.filename
            if not entry:
                try:
                    _inside(base, info.filename)
                except UnsafeArchive as exc:
                    entry.extend(exc.problems)
            problems.extend(entry)
            if not entry and not info.filename.endswith("/"):
                files.append(info)
        # a file and a folder of the same name ("a" and "a/b") cannot both exist
        folders = {name.rsplit("/", i)[0].casefold() for name in seen.values() for i in range(1, name.count("/") + 1)}
        problems.extend(
            f"zip-entry-conflict: {i.filename!r} is both a file and a folder" for i in files if i.filename.casefold() in folders
        )
        if problems:
            raise UnsafeArchive(archive, problems)

        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=base))
        try:
            result = Extracted(base)
            budget = limits.max_total_bytes
            for info in files:
                target = staging / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                size = _inflate(zf, info, target, limits, budget, archive)
                budget -= size
                result.size += size
            for info in files:
                final = _inside(base, info.filename)
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.is_symlink() or final.is_dir():
                    raise UnsafeArchive(archive, [f"zip-entry-conflict: {final} exists and is not a regular file"])
                os.replace(staging / info.filename, final)
                result.files.append(final)
            return result
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limits: ZipLimits, budget: int, archive: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            return inflate_entry(zf, info, limits, budget, out)  # the service's streaming limits
    except EntryRefused as refused:
        raise UnsafeArchive(archive, [_described(refused.problem)]) from None
    except Exception as exc:  # BadZipFile (CRC), zlib.error, EOFError, OSError …
        raise UnsafeArchive(archive, [f"zip-corrupt: {info.filename!r} cannot be read: {exc}"]) from None
