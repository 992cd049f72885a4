"""A PostgreSQL outage under load, on the real server (issue "scale-out", part 4).

The server reaches PostgreSQL through a loopback TCP proxy. Submissions (some trickled,
so bodies are mid-flight at the cut), status polls, token requests and readiness probes
run from several threads; the proxy is cut — every open connection reset, new ones
refused — for a few seconds, then restored. While it is cut the service answers 503 with
``Retry-After`` (never 500, never a dropped connection) and ``/readyz`` fails; afterwards
it recovers by itself, and every import that got a 202 — before, during or after — ends
Imported or Rejected exactly once, with unique SRNs (read from the database directly).

Also here: SIGTERM lets an upload in flight finish (graceful shutdown drains).
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from hws.auth.assertion import JWT_BEARER
from hws.client.assertion import sign_client_assertion
from hws.client.enrolment import generate, load_private_key
from hws.store.database import create_db_engine
from hws.store.jobs import JobKind
from hws.store.tables import jobs
from tests.support.databases import fresh_postgres_database
from tests.support.load import IMPORTED, PENDING, REJECTED, Audit, Package, PackageFactory, audit, wait_for
from tests.support.servers import RunningServer, start_server
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

ENV = {
    "HWS_JOB_LEASE_SECONDS": "2",  # a job cut off mid-run is retaken soon after the database returns
    "HWS_WORKER_THREADS": "2",
    "HWS_WORKER_POLL_INTERVAL": "0.1",
}
BEFORE, OUTAGE, AFTER = 3.0, 4.0, 3.0  # seconds of load in each phase


@dataclass
class Answer:
    kind: str  # upload | poll | token | ready
    phase: str  # before | outage | after (when the request was sent)
    status: int | None  # None: no HTTP answer at all
    retry_after: str | None = None
    error: str | None = None
    ended: float = 0.0  # time.monotonic() when the answer came


class Load:
    """Uploads (fast and trickled, each with an Idempotency-Key, retried after a 503 as a
    well-behaved client would), polls, token requests and readiness probes until stopped."""

    def __init__(self, server: RunningServer, client_id: str, key: Any, token: str, factory: PackageFactory) -> None:
        self.server = server
        self.client_id = client_id
        self.key = key
        self.token = token
        self.factory = factory
        self.phase = "before"  # set by the test as it cuts and restores the proxy
        self.run = secrets.token_hex(4)  # Idempotency-Keys unique to this run
        self.answers: list[Answer] = []
        self.acknowledged: dict[str, Package] = {}  # import id → package
        self._lock = threading.Lock()
        self._next = 0
        self._stop = threading.Event()
        loops = [(self._uploads, False)] * 3 + [(self._uploads, True)] * 2 + [(self._polls, None)] * 2
        loops += [(self._tokens, None), (self._ready, None)]
        self._threads = [threading.Thread(target=fn, args=(arg,), daemon=True) for fn, arg in loops]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def _call(self, kind: str, send: Any) -> httpx.Response | None:
        phase = self.phase
        try:
            response = send()
        except httpx.HTTPError as exc:
            self._record(Answer(kind, phase, None, error=f"{type(exc).__name__}: {exc}", ended=time.monotonic()))
            return None
        error = None if response.status_code < 400 else response.text[:300]
        self._record(Answer(kind, phase, response.status_code, response.headers.get("retry-after"), error, time.monotonic()))
        return response

    def _package(self) -> Package:
        with self._lock:
            n, self._next = self._next, self._next + 1
        return self.factory.invalid(n) if n % 5 == 4 else self.factory.valid(n)

    def _uploads(self, slow: bool) -> None:
        def trickle(body: bytes) -> Iterator[bytes]:
            for start in range(0, len(body), 16 * 1024):
                yield body[start : start + 16 * 1024]
                time.sleep(0.04)

        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                package = self._package()
                headers = {
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/zip",
                    "Idempotency-Key": f"{package.name}-{self.run}",
                }
                while True:  # the same package until it is acknowledged
                    content: Any = trickle(package.body) if slow else package.body
                    response = self._call(
                        "upload",
                        lambda content=content, headers=headers: http.post(
                            f"{self.server.api_url}/request", content=content, headers=headers
                        ),
                    )
                    if response is not None and response.status_code == 202:
                        with self._lock:
                            self.acknowledged[response.headers["Location"].rsplit("/", 1)[-1]] = package
                        break
                    if self._stop.is_set():
                        break
                    time.sleep(0.2)

    def _polls(self, _: Any) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.wait(0.05):
                with self._lock:
                    ids = list(self.acknowledged)
                path = f"/request/import/{ids[-1]}" if ids else "/pingMe"
                self._call(
                    "poll",
                    lambda path=path: http.get(f"{self.server.api_url}{path}", headers={"Authorization": f"Bearer {self.token}"}),
                )

    def _tokens(self, _: Any) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.wait(0.1):
                form = {
                    "grant_type": "client_credentials",
                    "client_assertion_type": JWT_BEARER,
                    "client_assertion": sign_client_assertion(self.key, client_id=self.client_id, audience=self.server.issuer),
                }
                self._call("token", lambda form=form: http.post(self.server.token_endpoint, data=form))

    def _ready(self, _: Any) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.wait(0.1):
                self._call("ready", lambda: http.get(f"{self.server.url}/readyz"))


def enrol(server: RunningServer, tmp_path: Path) -> tuple[str, Any]:
    files = generate("OUTAGE", tmp_path / "office-KR")
    result = server.hws(
        "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32", "--json"
    )
    return json.loads(result.stdout)["client_id"], load_private_key(files.private_key)


def first_token(server: RunningServer, client_id: str, key: Any) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": sign_client_assertion(key, client_id=client_id, audience=server.issuer),
    }
    response = httpx.post(server.token_endpoint, data=form, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.mark.postgres
def test_postgresql_outage_under_load_503s_then_recovers_losing_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    with fresh_postgres_database() as direct_url, TcpProxy(*_target(direct_url)) as proxy:
        proxied = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
        server = start_server(tmp_path / "server", database_url=proxied, extra_env=ENV)
        try:
            client_id, key = enrol(server, tmp_path)  # through the proxy, while it is up
            token = first_token(server, client_id, key)
            load = Load(server, client_id, key, token, PackageFactory("KR", big_pdf_bytes=150_000)).start()

            time.sleep(BEFORE)
            load.phase = "outage"
            cut_at = time.monotonic()
            proxy.cut()
            time.sleep(OUTAGE)
            proxy.restore()
            restored_at = time.monotonic()
            load.phase = "after"

            # /readyz comes back by itself.
            wait_for(lambda: _ready(server), 20, interval=0.05, what="/readyz to answer 200 again")
            ready_after = time.monotonic() - restored_at
            time.sleep(AFTER)
            load.stop()

            # Every import ever committed (acknowledged or not) is finished by the workers.
            def finished() -> Audit | None:
                state = audit(direct_url, server.data_dir)
                busy = state.import_statuses()[PENDING] + sum(n for s, n in state.job_statuses().items() if s != "done")
                return state if busy == 0 and state.imports else None

            state = wait_for(finished, 30, interval=0.2, what="every import to be processed")
            drained_after = time.monotonic() - restored_at
            job_errors = _job_errors(direct_url)
            log = server.log()
            events = Counter(json.loads(line).get("event") for line in log.splitlines() if line.startswith("{"))
        finally:
            server.stop()

    answers = load.answers
    by = Counter((a.kind, a.phase, a.status) for a in answers)
    facts = {
        "seconds": round(time.monotonic() - started, 1),
        "outage_seconds": round(restored_at - cut_at, 1),
        "readyz_200_after_restore_s": round(ready_after, 2),
        "all_processed_after_restore_s": round(drained_after, 2),
        "answers": {f"{k}/{p}/{s}": n for (k, p, s), n in sorted(by.items(), key=str)},
        "acknowledged": len(load.acknowledged),
        "final": state.summary(),
        "proxy_connections": proxy.accepted,
        "log_events": {e: n for e, n in events.items() if e and e.split(".")[0] in ("worker", "job", "scheduler", "http")},
    }
    sys.stderr.write(f"\ndatabase outage (postgresql): {json.dumps(facts)}\n")

    # No 500, no dropped connection: every answer is a success or a 503 with Retry-After.
    assert not [a for a in answers if a.status is None], [a.error for a in answers if a.status is None][:5]
    assert not [a for a in answers if a.status is not None and a.status >= 500 and a.status != 503], facts
    unavailable = [a for a in answers if a.status == 503]
    assert all(a.retry_after and int(a.retry_after) > 0 for a in unavailable)
    expected_ok = {"upload": {202}, "poll": {200}, "token": {200}, "ready": {200}}
    assert all(a.status in expected_ok[a.kind] | {503} for a in answers), facts
    # Only the outage (and the moment the pool notices it is over) gave 503s; each kind saw them.
    assert {a.kind for a in unavailable if a.phase == "outage"} == {"upload", "poll", "token", "ready"}, facts
    for kind in ("upload", "poll", "token", "ready"):
        assert by[(kind, "before", expected_ok[kind].copy().pop())] > 0, (kind, facts)
        assert by[(kind, "after", expected_ok[kind].copy().pop())] > 0, (kind, facts)
    # A 503 only once the proxy was cut (a request sent just before may end after it).
    assert all(a.ended >= cut_at for a in unavailable), facts
    assert "Traceback" not in log and '"http.error"' not in log and '"job.failed"' not in log

    # Every 202 ends as it should, exactly once; nothing half-written anywhere.
    acknowledged = load.acknowledged
    assert acknowledged and set(acknowledged) <= set(state.imports)
    assert any(p.expected == REJECTED for p in acknowledged.values()) and any(
        p.expected == IMPORTED for p in acknowledged.values()
    )
    for import_id, package in acknowledged.items():
        assert state.imports[import_id]["status"] == package.expected, (import_id, package.name, state.imports[import_id])
    by_ref = state.jobs_by_ref(JobKind.IMPORT)
    assert set(by_ref) == set(state.imports)  # one import job per import row, no row without its job
    assert all([j["status"] for j in js] == ["done"] for js in by_ref.values()), by_ref
    srs = state.srs_by_import()
    for import_id, row in state.imports.items():
        if row["status"] == IMPORTED:
            assert srs.get(import_id) == [row["srn"]], (import_id, row)
        else:
            assert row["status"] == REJECTED and import_id not in srs and row["srn"] is None
    srns = [row["srn"] for row in state.imports.values() if row["srn"]]
    assert len(srns) == len(set(srns)) == len(state.service_requests)
    assert not state.missing_files and {row["blob"] for row in state.imports.values()} <= state.blob_rows
    assert not state.tmp_files
    # Blobs whose rows could not be committed are unreferenced (the sweep's), never more
    # than the uploads refused after their body was stored.
    assert len(state.orphan_files) <= sum(1 for a in unavailable if a.kind == "upload")
    # The outage failed no job: nothing recorded as an error, nothing dead.
    assert not job_errors, job_errors


def _job_errors(url: str) -> list[Any]:
    engine = create_db_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(jobs.c.id, jobs.c.attempts, jobs.c.last_error).where(jobs.c.last_error.is_not(None))))
    finally:
        engine.dispose()


def _target(url: str) -> tuple[str, int]:
    parsed = make_url(url)
    return parsed.host or "127.0.0.1", parsed.port or 5432


def _ready(server: RunningServer) -> bool:
    try:
        return httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- shutdown drains in-flight requests ------------------------------------------------------


def test_sigterm_lets_an_in_flight_upload_finish_with_202(tmp_path: Path) -> None:
    """SIGTERM mid-upload: the server stops accepting connections, the upload already
    under way still completes with 202 (its import committed), then the process exits 0."""
    server = start_server(tmp_path / "server", extra_env={"HWS_WORKER_THREADS": "1"})
    try:
        client_id, key = enrol(server, tmp_path)
        token = first_token(server, client_id, key)
        package = PackageFactory("KR", big_pdf_bytes=300_000).valid(1)
        sent = threading.Event()
        result: dict[str, Any] = {}

        def trickle() -> Iterator[bytes]:
            for start in range(0, len(package.body), 16 * 1024):
                yield package.body[start : start + 16 * 1024]
                if start >= 64 * 1024:
                    sent.set()  # the server is mid-body from here on
                time.sleep(0.1)  # about 2 s for the whole package

        def upload() -> None:
            try:
                result["response"] = httpx.post(
                    f"{server.api_url}/request",
                    content=trickle(),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
                    timeout=60,
                )
            except httpx.HTTPError as exc:  # pragma: no cover - the failure reported below
                result["error"] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=upload)
        thread.start()
        assert sent.wait(20)
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # The listener closes at once: a new connection is refused while the upload goes on.
        refused = wait_for(lambda: _refused(server), 10, interval=0.05, what="new connections to be refused")
        thread.join(60)
        assert "error" not in result, result
        response = result["response"]
        assert response.status_code == 202, response.text
        finished = time.monotonic() - signalled
        code = server.process.wait(60)
        import_id = response.headers["Location"].rsplit("/", 1)[-1]
    finally:
        server.stop()
    state = audit(f"sqlite:///{(server.data_dir / 'hws.sqlite3').as_posix()}", server.data_dir)
    assert import_id in state.imports and state.jobs_by_ref(JobKind.IMPORT)[import_id]  # committed, with its job
    sys.stderr.write(f"\nshutdown drain: upload answered 202 {finished:.1f}s after SIGTERM, refused={refused}, exit {code}\n")
    assert finished > 0.5  # it really was in flight
    assert code == 0, server.log()[-3000:]


def _refused(server: RunningServer) -> bool:
    try:
        httpx.get(f"{server.url}/healthz", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False
