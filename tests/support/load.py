"""Load and audit helpers for durability tests on the real server.

- :class:`PackageFactory` makes distinct packages: valid ones (each carries a large
  stored PDF so uploads take a while) and invalid ones of a few kinds.
- :class:`UploadLoad` uploads them from several threads until stopped, some bodies
  trickled slowly so that uploads are mid-body at any moment, and records every answer.
- :class:`LogTail` follows a JSON log file (one object per line).
- :func:`audit` reads what the database and the blob folder hold, for assertions.
- :func:`plant_orphans` leaves a stale temporary upload and an unreferenced blob, so a
  test can see the maintenance sweep run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from hws.st96 import specimens
from hws.st96.builder import build_package, build_xml, transaction_kind, write_zip
from hws.st96.examples import example_spec
from hws.store.database import create_db_engine
from hws.store.tables import blobs, imports, jobs, service_requests

IMPORTED, REJECTED, PENDING = "Imported", "Rejected", "Pending"


# --- packages ------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    name: str  # e.g. "valid-17", "not-a-zip-5"
    body: bytes
    expected: str  # Imported | Rejected


class PackageFactory:
    """Distinct packages for office ``office``; every fifth one is invalid.

    Valid packages are the example application with a unique office reference and a
    ``big_pdf_bytes`` PDF stored uncompressed (cheap to build, large on the wire).
    """

    INVALID_KINDS = ("not-a-zip", "wrong-office", "unreferenced-file")

    def __init__(self, office: str = "KR", *, big_pdf_bytes: int = 1_000_000, invalid_every: int = 5) -> None:
        self.office = office
        self.invalid_every = invalid_every
        self._padding = secrets.token_bytes(big_pdf_bytes)
        self._run = secrets.token_hex(3)

    def _stored(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        info.create_system = 3
        return info

    def valid(self, n: int) -> Package:
        reference = f"{self.office}-DUR-{self._run}-{n}"
        spec = example_spec("application", office=self.office, office_reference=reference)
        xml, refs = build_xml(spec)
        entries: list[tuple[str | zipfile.ZipInfo, bytes]] = [(f"{transaction_kind(spec).value}.xml", xml)]
        for ref in refs:
            if ref == "docs/dm1.pdf":
                # A real PDF carrying padding unique to this package in a stream object.
                body = specimens.pdf(reference, payload=self._padding + reference.encode())
                entries.append((self._stored(ref), body))
            else:
                entries.append((ref, specimens.for_name(ref)))
        return Package(f"valid-{n}", write_zip(entries), IMPORTED)

    def small_valid(self, n: int) -> Package:
        reference = f"{self.office}-SMALL-{self._run}-{n}"
        spec = example_spec("application", office=self.office, office_reference=reference)
        return Package(f"small-{n}", build_package(spec, fill_missing=True), IMPORTED)

    def invalid(self, n: int) -> Package:
        kind = self.INVALID_KINDS[n % len(self.INVALID_KINDS)]
        reference = f"{self.office}-BAD-{self._run}-{n}"
        if kind == "not-a-zip":
            body = b"this is not a zip " + reference.encode() + secrets.token_bytes(50_000)
        elif kind == "wrong-office":
            other = "JP" if self.office != "JP" else "KR"
            body = build_package(example_spec("application", office=other, office_reference=reference), fill_missing=True)
        else:
            spec = example_spec("application", office=self.office, office_reference=reference)
            xml, refs = build_xml(spec)
            entries: list[tuple[str | zipfile.ZipInfo, bytes]] = [(f"{transaction_kind(spec).value}.xml", xml)]
            entries += [(ref, specimens.for_name(ref)) for ref in refs]
            entries.append(("docs/not-referenced.pdf", specimens.pdf(reference)))
            body = write_zip(entries)
        return Package(f"{kind}-{n}", body, REJECTED)

    def package(self, n: int) -> Package:
        return self.invalid(n) if n % self.invalid_every == self.invalid_every - 1 else self.valid(n)


# --- uploads -------------------------------------------------------------------------


@dataclass
class Answer:
    package: Package
    status: int | None  # None: no answer (connection refused, reset, …)
    import_id: str | None = None
    error: str | None = None


class UploadLoad:
    """Upload packages from ``fast + slow`` threads until :meth:`stop`.

    Slow threads trickle the body (``chunk`` bytes every ``pause`` seconds), so at any
    moment some uploads are mid-body. Every answer is kept in :attr:`answers`.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        factory: PackageFactory,
        *,
        fast: int = 3,
        slow: int = 2,
        chunk: int = 64 * 1024,
        pause: float = 0.03,
        first: int = 0,
    ) -> None:
        self.api_url = api_url
        self.token = token
        self.factory = factory
        self.chunk = chunk
        self.pause = pause
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._next = first
        self._stop = threading.Event()
        self._in_progress: dict[int, str] = {}  # thread index → "slow" | "fast", while a body is being sent
        self._threads = [
            threading.Thread(target=self._loop, args=(i, i >= fast), name=f"upload-{i}", daemon=True) for i in range(fast + slow)
        ]

    @property
    def next_number(self) -> int:
        return self._next

    def start(self) -> UploadLoad:
        for thread in self._threads:
            thread.start()
        return self

    def acknowledged(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status == 202]

    def in_progress(self) -> Counter[str]:
        with self._lock:
            return Counter(self._in_progress.values())

    def stop_starting(self) -> None:
        """Start no new upload; those in progress carry on."""
        self._stop.set()

    def join(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def _take(self) -> int:
        with self._lock:
            n = self._next
            self._next += 1
            return n

    def _trickle(self, body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), self.chunk):
            yield body[start : start + self.chunk]
            time.sleep(self.pause)

    def _loop(self, index: int, slow: bool) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/zip"}
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            while not self._stop.is_set():
                package = self.factory.package(self._take())
                with self._lock:
                    self._in_progress[index] = "slow" if slow else "fast"
                try:
                    content: Any = self._trickle(package.body) if slow else package.body
                    response = http.post(f"{self.api_url}/request", content=content, headers=headers)
                    answer = Answer(package, response.status_code)
                    if response.status_code == 202:
                        answer.import_id = response.headers["Location"].rsplit("/", 1)[-1]
                    else:
                        answer.error = response.text[:500]
                except httpx.HTTPError as exc:
                    answer = Answer(package, None, error=f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self._in_progress.pop(index, None)
                    self.answers.append(answer)
                if answer.status is None:
                    return  # the server is gone


# --- logs ----------------------------------------------------------------------------


class LogTail:
    """Reads a JSON-lines log as it grows; :attr:`events` holds every parsed object."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        fresh = []
        for line in lines:
            line = line.strip()
            if line.startswith(b"{"):
                try:
                    fresh.append(json.loads(line))
                except ValueError:
                    continue
        self.events += fresh
        return fresh

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


def read_events(path: Path) -> list[dict[str, Any]]:
    tail = LogTail(path)
    tail.poll()
    return tail.events


# --- the state on disk and in the database -------------------------------------------


@dataclass
class Audit:
    imports: dict[str, dict[str, Any]]  # import_id → {status, srn, blob}
    jobs: list[dict[str, Any]]  # {id, ref, status, attempts}
    service_requests: list[dict[str, Any]]  # {srn, import_id}
    blob_rows: set[str]  # rows of blobs that are files of their own
    blob_files: set[str]
    tmp_files: list[str]
    srn_counter: int | None = None
    #: files kept inside their package (``packed_in``): file digest → the package's digest
    packed: dict[str, str] = field(default_factory=dict)

    @property
    def orphan_files(self) -> set[str]:
        """Blob files that no ``blobs`` row references."""
        return self.blob_files - self.blob_rows

    @property
    def missing_files(self) -> set[str]:
        """``blobs`` rows whose file is gone, and files kept inside a package that is gone
        (or has no row of its own)."""
        gone = {sha for sha, package in self.packed.items() if package not in self.blob_files & self.blob_rows}
        return (self.blob_rows - self.blob_files) | gone

    def import_statuses(self) -> Counter[str]:
        return Counter(row["status"] for row in self.imports.values())

    def job_statuses(self) -> Counter[str]:
        return Counter(job["status"] for job in self.jobs)

    def jobs_by_ref(self, kind: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for job in self.jobs:
            if job["kind"] == kind:
                out.setdefault(job["ref"], []).append(job)
        return out

    def srs_by_import(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for sr in self.service_requests:
            out.setdefault(sr["import_id"], []).append(sr["srn"])
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "imports": dict(self.import_statuses()),
            "jobs": dict(self.job_statuses()),
            "service_requests": len(self.service_requests),
            "blob_rows": len(self.blob_rows),
            "blob_files": len(self.blob_files),
            "orphan_files": len(self.orphan_files),
            "missing_files": len(self.missing_files),
            "packed_files": len(self.packed),
            "tmp_files": len(self.tmp_files),
        }


def sqlite_url(data_dir: Path) -> str:
    """The database ``hws serve`` uses in ``data_dir`` when no URL is configured."""
    return f"sqlite:///{(data_dir / 'hws.sqlite3').as_posix()}"


def audit(database_url: str, data_dir: Path) -> Audit:
    """Read the imports, jobs, service requests and blobs (rows and files)."""
    engine = create_db_engine(database_url, pool_size=1)
    if engine.dialect.name == "postgresql":  # one snapshot for every table (SQLite: BEGIN IMMEDIATE)
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    try:
        with engine.begin() as conn:
            import_rows = {
                r.import_id: {"status": r.status, "srn": r.srn, "blob": r.blob_sha256}
                for r in conn.execute(select(imports.c.import_id, imports.c.status, imports.c.srn, imports.c.blob_sha256))
            }
            job_rows = [
                {"id": r.id, "ref": r.ref, "kind": r.kind, "status": r.status, "attempts": r.attempts}
                for r in conn.execute(select(jobs.c.id, jobs.c.ref, jobs.c.kind, jobs.c.status, jobs.c.attempts))
            ]
            srs = [
                {"srn": r.srn, "import_id": r.import_id}
                for r in conn.execute(select(service_requests.c.srn, service_requests.c.import_id))
            ]
            blob_rows, packed = set(), {}
            for sha, package in conn.execute(select(blobs.c.sha256, blobs.c.packed_in)):
                if package is None:
                    blob_rows.add(sha)
                else:
                    packed[sha] = package
    finally:
        engine.dispose()
    root = data_dir / "blobs"
    files = {p.name for p in (root / "sha256").glob("*/*/*") if p.is_file()}
    tmp = sorted(p.name for p in (root / "tmp").iterdir()) if (root / "tmp").is_dir() else []
    return Audit(import_rows, job_rows, srs, blob_rows, files, tmp, packed=packed)


class JobProbe:
    """Counts running jobs while the server runs, without getting in its way (SQLite: a
    plain deferred reader, which WAL never blocks)."""

    def __init__(self, database_url: str) -> None:
        sqlite = database_url.startswith("sqlite")
        self._engine = create_engine(database_url) if sqlite else create_db_engine(database_url, pool_size=1)

    def running(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(jobs).where(jobs.c.status == "running")).scalar_one())

    def close(self) -> None:
        self._engine.dispose()


def plant_orphans(data_dir: Path, age: float = 3600) -> tuple[Path, Path]:
    """A stale temporary upload and an unreferenced blob file, both ``age`` seconds old."""
    root = data_dir / "blobs"
    part = root / "tmp" / f"planted-{secrets.token_hex(4)}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"half an upload")
    data = b"orphan " + secrets.token_bytes(16)
    sha = hashlib.sha256(data).hexdigest()
    blob = root / "sha256" / sha[:2] / sha[2:4] / sha
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    stamp = time.time() - age
    for path in (part, blob):
        os.utime(path, (stamp, stamp))
    return part, blob


def wait_for(predicate: Any, timeout: float, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class KillReport:
    """What was in flight when the server was killed."""

    acknowledged_before: int
    uploads_in_progress: dict[str, int]
    backlog: int  # acknowledged imports the worker had not finished (per its log)
    after: dict[str, Any] = field(default_factory=dict)  # audit summary of the dead server's state
