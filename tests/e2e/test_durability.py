"""Durability of the import pipeline on the real server (spec §4-§6, DESIGN "job queue").

1. Crash safety: uploads and imports are in flight when the server gets SIGKILL; after
   a restart on the same data folder and database, every import ever answered 202 is
   found and processed exactly once, and no orphan blob, temporary upload or unfinished
   job remains. A stale temporary file and an unreferenced blob are planted before each
   restart: their removal (and the ``blobs.swept`` log event) shows the restarted
   server's sweep ran, and no upload starts before it has.
2. Scale-out: four ``hws worker`` processes over 200 queued imports on PostgreSQL take
   each exactly once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.st96.namespaces import COM, HWS
from hws.store.jobs import JobKind
from tests.support.databases import fresh_postgres_database
from tests.support.load import (
    IMPORTED,
    PENDING,
    REJECTED,
    Answer,
    Audit,
    JobProbe,
    KillReport,
    LogTail,
    Package,
    PackageFactory,
    UploadLoad,
    audit,
    plant_orphans,
    read_events,
    sqlite_url,
    wait_for,
)
from tests.support.servers import RunningServer, start_server

pytestmark = pytest.mark.e2e

#: Short leases so a killed worker's job is retaken quickly; no grace for orphans so the
#: sweep at worker start removes what the crash left. (Grace 0 is only safe because no
#: upload runs while a sweep does: each server here lives well under the 60 s between sweeps.)
CRASH_ENV = {
    "HWS_JOB_LEASE_SECONDS": "2",
    "HWS_BLOB_ORPHAN_GRACE": "0",
    "HWS_WORKER_THREADS": "1",
    "HWS_WORKER_POLL_INTERVAL": "0.1",
}
KILLS = 2
#: more kills, up to this many, until one has landed while a job was running (a job takes
#: milliseconds, so the moment seen before a kill can have passed by the time it lands)
MAX_KILLS = 6
ACKNOWLEDGED_BEFORE_KILL = 12  # per cycle


# --- helpers ---------------------------------------------------------------------------


def enrol(server: RunningServer, tmp_path: Path, office: str = "KR") -> tuple[str, Path]:
    files = generate("DURABILITY", tmp_path / f"office-{office}")
    result = server.hws(
        "admin", "clients", "add", "--cert", str(files.certificate), "--office", office, "--ip", "127.0.0.1/32", "--json"
    )
    return json.loads(result.stdout)["client_id"], files.private_key


def token_for(server: RunningServer, client_id: str, private_key: Path) -> str:
    # Each server process listens on a new port, hence a new issuer: a token per server.
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=private_key) as hws:
        return hws.token()


def import_status(http: httpx.Client, server: RunningServer, token: str, import_id: str) -> tuple[int, str | None, str | None]:
    """(HTTP status, import status, SRN) from GET /request/import/{id}."""
    response = http.get(f"{server.api_url}/request/import/{import_id}", headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        return response.status_code, None, None
    root = etree.fromstring(response.content)
    return (
        200,
        root.findtext(f"{{{HWS}}}ImportStatusCategory"),
        root.findtext(f"{{{COM}}}RecordIdentifier"),
    )


def wait_for_sweep(server: RunningServer) -> dict[str, Any]:
    """The restarted server's first maintenance pass (at worker start) has finished."""
    tail = LogTail(server.log_path)

    def swept() -> dict[str, Any] | None:
        tail.poll()
        done = [e for e in tail.named("blobs.swept") if e.get("blobs", 0) >= 1 and e.get("temporary", 0) >= 1]
        return done[0] if done else None

    return wait_for(swept, 20, what="the maintenance sweep of the restarted server")  # type: ignore[no-any-return]


def load_until_kill(
    server: RunningServer, db: str, token: str, factory: PackageFactory, first: int
) -> tuple[UploadLoad, KillReport]:
    """Upload until enough were acknowledged, imports are queued behind the worker, one
    is being processed and a slow upload is mid-body; then SIGKILL the server."""
    load = UploadLoad(server.api_url, token, factory, fast=3, slow=2, first=first).start()
    tail = LogTail(server.log_path)
    probe = JobProbe(db)
    temporary = server.data_dir / "blobs" / "tmp"

    def moment() -> tuple[int, int, dict[str, int]] | None:
        tail.poll()
        finished = {e.get("ref") for e in tail.named("job.done")}
        acknowledged = load.acknowledged()
        backlog = sum(1 for a in acknowledged if a.import_id not in finished)
        progress = load.in_progress()
        # A slow upload counts only once the server holds its body in a temporary file:
        # the client may still be sending headers, or the server not yet have opened it.
        if (
            len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
            and backlog >= 2
            and progress["slow"] >= 1
            and (any(temporary.iterdir()) if temporary.is_dir() else False)
            and probe.running()  # last: the closest to the kill
        ):
            return len(acknowledged), backlog, dict(progress)
        return None

    try:
        acknowledged, backlog, progress = wait_for(moment, 40, interval=0.01, what="uploads and imports in flight")
    finally:
        load.stop_starting()
        server.process.kill()
        server.process.wait(10)
        load.join()
        probe.close()
    return load, KillReport(acknowledged, progress, backlog)


def check_state(state: Audit, acknowledged: dict[str, Package]) -> None:
    """The invariants that must hold once every import is finished."""
    # Every import answered 202 is in the database; all imports are finished.
    assert set(acknowledged) <= set(state.imports), sorted(set(acknowledged) - set(state.imports))
    assert state.import_statuses()[PENDING] == 0, state.summary()
    for import_id, package in acknowledged.items():
        assert state.imports[import_id]["status"] == package.expected, (import_id, package.name, state.imports[import_id])

    # Exactly one import job per import, done; no job of any kind queued, running or dead.
    by_ref = state.jobs_by_ref(JobKind.IMPORT)
    assert set(by_ref) == set(state.imports)
    for import_id, its_jobs in by_ref.items():
        assert [j["status"] for j in its_jobs] == ["done"], (import_id, its_jobs)
    assert set(state.job_statuses()) == {"done"}, state.summary()

    # Exactly one service request per Imported import, none for Rejected; SRNs unique.
    srs = state.srs_by_import()
    for import_id, row in state.imports.items():
        if row["status"] == IMPORTED:
            assert srs.get(import_id) == [row["srn"]], (import_id, row, srs.get(import_id))
        else:
            assert row["status"] == REJECTED and import_id not in srs and row["srn"] is None, (import_id, row)
    srns = [row["srn"] for row in state.imports.values() if row["srn"]]
    assert len(srns) == len(set(srns)) == len(state.service_requests)

    # Blobs: a row for every file, a file for every row, no temporary upload left.
    assert not state.orphan_files, f"blob files without a row: {sorted(state.orphan_files)}"
    assert not state.missing_files, f"blob rows without a file: {sorted(state.missing_files)}"
    if any(row["status"] == IMPORTED for row in state.imports.values()):  # kept inside their packages
        assert state.packed and set(state.packed.values()) <= {row["blob"] for row in state.imports.values()}, state.summary()
    assert not state.tmp_files, f"temporary uploads left: {state.tmp_files}"
    assert {row["blob"] for row in state.imports.values()} <= state.blob_rows


# --- 1. crash safety -------------------------------------------------------------------


def crash_and_recover(tmp_path: Path, database_url: str | None) -> dict[str, Any]:
    data = tmp_path / "server"
    db = database_url or sqlite_url(data)
    factory = PackageFactory("KR", big_pdf_bytes=1_000_000)
    answers: list[Answer] = []
    kills: list[KillReport] = []
    running_at_kill: set[int] = set()
    server = start_server(data, database_url=database_url, extra_env=CRASH_ENV)
    try:
        client_id, key = enrol(server, tmp_path)
        number = 0
        for cycle in range(MAX_KILLS):
            if cycle >= KILLS and running_at_kill:
                break
            token = token_for(server, client_id, key)
            load, report = load_until_kill(server, db, token, factory, number)
            number = load.next_number
            answers += load.answers
            shutil.copy(server.log_path, tmp_path / f"server-{cycle}.log")  # the next start truncates it

            # The dead server's state: what was in flight.
            dead = audit(db, data)
            running = {j["id"] for j in dead.jobs if j["status"] == "running"}
            running_at_kill |= running
            report.after = {
                **dead.summary(),
                "cut_off_uploads": sum(1 for a in load.answers if a.status is None),
                "running_jobs": len(running),
            }
            kills.append(report)
            assert report.after["cut_off_uploads"] >= 1, report  # uploads were mid-body …
            assert dead.tmp_files, report  # … with their temporary files on disk
            assert dead.import_statuses()[PENDING] >= 1, report  # acknowledged imports were queued

            planted = plant_orphans(data)
            server = start_server(data, database_url=database_url, extra_env=CRASH_ENV)
            wait_for_sweep(server)
            assert not any(p.exists() for p in planted)

        assert running_at_kill, kills  # at least one kill landed while a job was being processed

        # Every import the last server inherited gets finished (killed jobs after their lease).
        def finished() -> Audit | None:
            state = audit(db, data)
            unfinished = state.import_statuses()[PENDING] + sum(
                n for status, n in state.job_statuses().items() if status != "done"
            )
            return state if unfinished == 0 else None

        state = wait_for(finished, 40, interval=0.2, what="every import to be processed")

        # Over the API: every 202 is found, finished, with an SRN when valid.
        refused = [(a.package.name, a.status, a.error) for a in answers if a.status not in (202, None)]
        assert not refused, refused
        acknowledged = {a.import_id: a.package for a in answers if a.status == 202}
        assert len(acknowledged) == sum(1 for a in answers if a.status == 202)  # distinct import IDs
        token = token_for(server, client_id, key)
        srns: list[str] = []
        with httpx.Client(timeout=30) as http:
            for import_id, package in acknowledged.items():
                code, status, srn = import_status(http, server, token, import_id)
                assert code == 200, (import_id, package.name, code)
                assert status == package.expected, (import_id, package.name, status)
                assert (srn is not None) == (status == IMPORTED), (import_id, status, srn)
                if srn:
                    srns.append(srn)
        assert len(srns) == len(set(srns))

        state = audit(db, data)
        check_state(state, acknowledged)
        # Jobs killed mid-run were retaken after their lease, and only they ran twice.
        retaken = {j["id"] for j in state.jobs if j["attempts"] > 1 and j["kind"] == JobKind.IMPORT}
        assert running_at_kill == retaken, (running_at_kill, retaken)
        return {
            "kills": [vars(k) for k in kills],
            "acknowledged": len(acknowledged),
            "valid": sum(1 for p in acknowledged.values() if p.expected == IMPORTED),
            "cut_off": sum(1 for a in answers if a.status is None),
            "committed_unanswered": len(set(state.imports) - set(acknowledged)),
            "running_at_kill": len(running_at_kill),
            "retaken": len(retaken),
            "final": state.summary(),
        }
    finally:
        server.stop()


def _print(title: str, facts: dict[str, Any]) -> None:
    sys.stderr.write(f"\n{title}: {json.dumps(facts)}\n")


def test_sigkill_mid_flight_loses_nothing_and_does_nothing_twice_sqlite(tmp_path: Path) -> None:
    _print("crash (sqlite)", crash_and_recover(tmp_path, None))


@pytest.mark.postgres
def test_sigkill_mid_flight_loses_nothing_and_does_nothing_twice_postgresql(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        _print("crash (postgresql)", crash_and_recover(tmp_path, url))


# --- 2. four worker processes ----------------------------------------------------------

QUEUED_IMPORTS = 200
WORKER_PROCESSES = 4


def upload_all(server: RunningServer, token: str, packages: list[Package]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}

    def post(chunk: list[Package]) -> list[httpx.Response]:
        with httpx.Client(timeout=30) as http:
            return [http.post(f"{server.api_url}/request", content=p.body, headers=headers) for p in chunk]

    chunks = [packages[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        return [r for part in pool.map(post, chunks) for r in part]


@pytest.fixture
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(5)


@pytest.mark.postgres
def test_four_worker_processes_take_each_of_200_imports_once(
    tmp_path: Path, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    with fresh_postgres_database() as url:
        server = start_server(tmp_path / "server", database_url=url, extra_env={"HWS_WORKER_THREADS": "0"})
        try:
            client_id, key = enrol(server, tmp_path)
            token = token_for(server, client_id, key)
            factory = PackageFactory("KR")
            packages = [factory.small_valid(n) for n in range(QUEUED_IMPORTS)]
            responses = upload_all(server, token, packages)
            assert [r.status_code for r in responses] == [202] * QUEUED_IMPORTS
            assert all(b"<hws:ImportStatusCategory>Pending<" in r.content for r in responses)
            ids = {r.headers["Location"].rsplit("/", 1)[-1] for r in responses}
            assert len(ids) == QUEUED_IMPORTS

            queued = audit(url, server.data_dir)
            assert queued.import_statuses() == {PENDING: QUEUED_IMPORTS}  # no worker in the server
            assert queued.job_statuses() == {"queued": QUEUED_IMPORTS}
            assert {j["kind"] for j in queued.jobs} == {JobKind.IMPORT}

            env = {**server.env, "HWS_WORKER_POLL_INTERVAL": "0.05"}
            logs = [tmp_path / f"worker-{i}.log" for i in range(WORKER_PROCESSES)]
            for path in logs:
                with open(path, "wb") as stderr:
                    worker_processes.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "hws", "worker"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
                        )
                    )

            def all_imported() -> Audit | None:
                state = audit(url, server.data_dir)
                return state if state.import_statuses()[IMPORTED] == QUEUED_IMPORTS else None

            wait_for(all_imported, 60, interval=0.2, what=f"{QUEUED_IMPORTS} imports by {WORKER_PROCESSES} workers")
            for process in worker_processes:
                process.send_signal(signal.SIGTERM)
            codes = [process.wait(30) for process in worker_processes]
            assert codes == [0] * WORKER_PROCESSES, [p.read_text()[-2000:] for p in logs]

            state = audit(url, server.data_dir)
            assert set(state.imports) == ids
            assert state.import_statuses() == {IMPORTED: QUEUED_IMPORTS}
            srns = {row["srn"] for row in state.imports.values()}
            assert len(srns) == QUEUED_IMPORTS and None not in srns
            assert len(state.service_requests) == QUEUED_IMPORTS
            assert {sr["srn"] for sr in state.service_requests} == srns
            assert sorted(srns) == [f"{970000001 + i}" for i in range(QUEUED_IMPORTS)]  # gap-free sequence
            import_jobs = [j for j in state.jobs if j["kind"] == JobKind.IMPORT]
            assert Counter(j["status"] for j in import_jobs) == {"done": QUEUED_IMPORTS}
            assert Counter(j["attempts"] for j in import_jobs) == {1: QUEUED_IMPORTS}  # nobody ran a job twice
            check_state(state, {})

            # Each import in exactly one worker's log, once; the work was shared.
            done = [
                [e for e in read_events(path) if e.get("event") == "job.done" and e.get("kind") == JobKind.IMPORT]
                for path in logs
            ]
            refs = Counter(e["ref"] for events in done for e in events)
            assert set(refs) == ids and set(refs.values()) == {1}, refs.most_common(3)
            job_ids = Counter(e["job"] for events in done for e in events)
            assert set(job_ids.values()) == {1} and len(job_ids) == QUEUED_IMPORTS
            assert all(e["outcome"] == IMPORTED for events in done for e in events)
            shares = sorted((len(events) for events in done), reverse=True)
            assert sum(1 for n in shares if n > 0) > 1, shares
            _print("four workers (postgresql)", {"jobs per worker": shares})
        finally:
            server.stop()
