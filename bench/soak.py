"""Soak: the long-running steady mixed load — errors, p50/p99 over time, RSS growth — on
the embedded default (SQLite + local data folder) and on PostgreSQL + S3, with status polls
against a bare anchor in interleaved rounds before and after.

``bench/status_polls.py`` measures status-poll throughput against the anchor in short
rounds; this script is its long-running, steady-load companion: the same polls (through
``bench/harness.py``'s load generator) mixed with token requests, submissions followed to
Registered and bulletin downloads, for ``--duration`` seconds, with progress lines
(req/s, poll p50/p99, errors, RSS) every ``--report-every`` seconds.

Backends (``--backend sqlite``, ``postgres`` or ``both``, one after the other; each on
loopback, started by this script and torn down afterwards):

* ``sqlite`` — the embedded default: ``--api-procs`` (default 1) ``hws serve`` process(es)
  on a fresh data folder with nothing but the defaults (SQLite database, local blob folder,
  job runner and scheduler in-process);
* ``postgres`` — a fresh database ``hws_soak_<random>`` on 127.0.0.1:5432 (trust auth; the
  admin URL is ``HWS_SOAK_PG``, default ``postgresql://postgres@127.0.0.1:5432/postgres``),
  migrated with ``hws admin db upgrade``, dropped at the end; S3 on ``moto_server`` (moto in
  server mode, its own process, dummy credentials), one bucket; ``--api-procs`` (default 2)
  ``hws serve`` processes (``HWS_WORKER_THREADS=0``: no job work) and ``--job-workers``
  (default 2) ``hws worker`` processes (validation, automatic examination, the scheduler).

Both: ``HWS_SANDBOX=1 HWS_EXAMINATION=auto HWS_AUTO_IRREGULARITY=never`` (every valid
application is registered without an operator); rate limits off (every load client comes
from 127.0.0.1 and a few office clients make thousands of calls a second); WIPO's V6_0
schema set installed when ``../shared/st96/V6_0`` exists (``--schemas``).

**Connections are spread over the server processes deterministically**: each API process
(``hws serve`` without ``--workers``) and each anchor process listens on a port of its own
(no shared listening socket, no ``SO_REUSEPORT``), and the load generator's connections go
round-robin over the ports (poll connection ``i`` to process ``i mod N``); the anchor gets
the same plan with the same number of processes. Each phase prints how many requests each
process answered.

Before the load, each office registers ``--seed`` applications, the sandbox clock is moved
past Friday noon of their publication week and the script waits for the bulletin; then
``--resources`` more applications are sent through the real API (``HagueClient``) and
imported: their imports and service requests are the polled resources (2 per application).

The load (one asyncio process, uvloop, a minimal keep-alive HTTP/1.1 client so the load
generator's CPU share stays small on 2 cores), over 4 office clients:

* status polls, closed loop on ``--poll-conns`` connections: ``GET /request/import/{id}``
  and ``GET /request/{srn}`` over every polled resource, a share ``--revalidate`` (default
  0.5) of them with the ``If-None-Match`` of the ETag got before (200 or 304);
* bulletin downloads, closed loop on ``--download-conns`` connections: the whole file
  (200, length checked, sha-256 = ETag checked every 10th) or a ``Range`` with ``If-Range``
  (206, length checked);
* token requests, open loop at ``--token-rate``/s: a fresh ES256 assertion each; the new
  access token replaces the office's current one (the polls use it);
* submissions, open loop at ``--submit-rate``/s: a distinct valid package each
  (``hws.st96.examples.example_package`` with its own office reference), 202; each is
  followed (import status every 0.5 s, then the service request) until Registered, and
  then polled like the others.

Every answer outside 2xx/3xx, or not the expected one (304 and 206 are expected where
asked for), every connection error and timeout counts as an error and is printed. RSS of
every server process is read from ``/proc`` every ``--sample-every`` seconds; a process is
"flat" when the mean of the last third of the samples is < 10 % above the first third.

Anchor: ``bench/bare_constant_app.py``'s ``/status/{key}`` under uvicorn (uvloop,
httptools), as many processes as hws has API processes, one port each: a constant status
document, a per-resource ETag, 304 when ``If-None-Match`` matches; no auth, no database.
Status-poll-only rounds, anchor and hws alternating which goes first, ``--anchor-rounds``
before the soak and as many after it, the same resources count, connections, plan and
304 share on both sides; the ratio hws ÷ anchor is printed per round, with its median and
spread (targets, issue 15: ≥ 0.5× on the embedded default, ≥ 0.6× on PostgreSQL with 2
processes). The status-poll rate inside the mix is printed against the anchor's median too.

Run from the repository root::

    .venv/bin/python bench/soak.py                       # both backends, 600 s of load each
    .venv/bin/python bench/soak.py --backend sqlite      # the embedded default alone
    .venv/bin/python bench/soak.py --quick               # 60 s of load each, 200 applications

Work files (data folder, logs, keys) live in ``bench/.work/soak`` (git-ignored), fresh each
run. Exit status 1 when there was an error or an RSS was not flat.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from harness import (
    PG_ADMIN,
    Connection,
    PollPhase,
    Resource,
    create_database,
    drop_database,
    get,
    percentile,
    pg_connect,
    poll_load,
    post,
    process_tree_cpu,
    seed_applications,
)
from hws.client import HagueClient
from hws.client.assertion import sign_client_assertion
from hws.client.dpop import DPoPKey
from hws.client.enrolment import load_private_key
from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"  # loopback only, always
API = "/webservices/api/v1"
OFFICES = ("KR", "JP", "CN", "US")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "hws/requests hws/publications"
POOL_IDLE = 2.0  # seconds an idle pooled connection is reused (uvicorn closes them after 5 s)
FLAT_LIMIT = 0.10  # last third vs first third of the RSS samples
TARGETS = {"sqlite": 0.5, "postgres": 0.6}  # issue 15: status polls / bare anchor
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_SRN = re.compile(rb"RecordIdentifier>(\d{9})<")
_IMPORT_STATUS = re.compile(rb"ImportStatusCategory>(\w+)<")
_SR_STATUS = re.compile(rb"ProcessingStatusCategory>([^<]+)<")
_PUBLICATION = re.compile(rb"PublicationDate>(\d{4}-\d{2}-\d{2})<")


# Results ------------------------------------------------------------------------------


@dataclass
class Endpoint:
    """Answers of one kind of request: counts, latencies, statuses, errors."""

    label: str
    expected: frozenset[int]
    mode: str = ""
    count: int = 0
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: array = field(default_factory=lambda: array("d"))
    error_samples: list[str] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)

    def record(self, status: int, ms: float, problem: str | None = None) -> None:
        self.count += 1
        self.statuses[status] += 1
        self.latencies_ms.append(ms)
        if problem is None and status not in self.expected:
            problem = f"HTTP {status}"
        if problem is not None:
            self.errors += 1
            self.error_kinds[problem.split(":")[0]] += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(problem)

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)


def merged(label: str, parts: list[Endpoint]) -> Endpoint:
    out = Endpoint(label, frozenset())
    for part in parts:
        out.count += part.count
        out.errors += part.errors
        out.statuses.update(part.statuses)
        out.latencies_ms.extend(part.latencies_ms)
    return out


# The load ------------------------------------------------------------------------------


@dataclass
class Office:
    code: str
    client_id: str
    key: Any
    token: str
    imports: list[str] = field(default_factory=list)  # finished imports (Imported)
    dpop: DPoPKey | None = None  # --dpop: the office's DPoP key and its DPoP-bound token
    dpop_token: str = ""
    srns: list[str] = field(default_factory=list)


@dataclass
class Target:
    """A polled resource of an office (its ETag kept in ``resource``)."""

    office: Office
    resource: Resource


@dataclass
class Bulletin:
    week: str
    size: int
    etag: str


class Load:
    """The mixed load (or a part of it) against one server until ``stop_at``."""

    def __init__(
        self, ports: list[int], offices: list[Office], targets: list[Target], bulletin: Bulletin | None, issuer: str,
        args: argparse.Namespace,
    ) -> None:  # fmt: skip
        self.ports, self.offices, self.targets = ports, offices, targets
        self.bulletin, self.issuer, self.args = bulletin, issuer, args
        self.next_port = 0  # the open-loop parts open their connections round-robin over the ports
        self.token_path = "/oauth2/access_token"
        polls = f"closed, {args.poll_conns} conns"
        self.stats = {
            "token": Endpoint("POST /oauth2/access_token", frozenset({200}), f"open, {args.token_rate:g}/s"),
            "submit": Endpoint("POST /request (new package)", frozenset({202}), f"open, {args.submit_rate:g}/s"),
            "import": Endpoint("GET /request/import/{id}", frozenset({200}), polls),
            "import-inm": Endpoint("GET /request/import/{id} If-None-Match", frozenset({200, 304}), polls),
            "sr": Endpoint("GET /request/{srn}", frozenset({200}), polls),
            "sr-inm": Endpoint("GET /request/{srn} If-None-Match", frozenset({200, 304}), polls),
            "follow": Endpoint("GET import/SR status (following a submission)", frozenset({200}), "0.5 s per submission"),
            "full": Endpoint(
                "GET /publication/bulletin/{week} (whole)", frozenset({200}), f"closed, {args.download_conns} conns"
            ),
            "range": Endpoint("GET /publication/bulletin/{week} Range", frozenset({206}), f"closed, {args.download_conns} conns"),
        }
        self.stop_at = 0.0
        self.phase = "SOAK"
        self.pool: list[Connection] = []
        self.in_flight = 0
        self.skipped = 0  # open-loop ticks dropped because too many requests were in flight
        self.followers: set[asyncio.Task[None]] = set()
        self.to_imported: list[float] = []
        self.to_registered: list[float] = []
        self.pipeline_errors: list[str] = []
        self.submitted = 0

    # helpers

    def running(self) -> bool:
        return time.perf_counter() < self.stop_at

    def _acquire(self) -> Connection:
        # uvicorn closes a keep-alive connection idle for 5 s (timeout_keep_alive); a request
        # sent on it as the server closes it gets no answer. Clients retry that case or, like
        # this one, do not reuse connections idle for longer than POOL_IDLE seconds.
        while self.pool:
            conn = self.pool.pop()
            if time.perf_counter() - conn.last_used < POOL_IDLE:
                return conn
            conn.close()
        self.next_port += 1
        return Connection(self.ports[self.next_port % len(self.ports)])

    def _release(self, conn: Connection) -> None:
        if conn.writer is not None:
            self.pool.append(conn)

    async def _timed(self, conn: Connection, raw: bytes) -> tuple[int, dict[str, str], bytes, str | None, float]:
        start = time.perf_counter()
        status, headers, body, problem = await conn.request(raw)
        return status, headers, body, problem, (time.perf_counter() - start) * 1000.0

    # closed loops

    async def poller(self, seed: int) -> None:
        rnd = random.Random(seed)
        conn = Connection(self.ports[seed % len(self.ports)])  # poll connection i to process i mod N
        revalidate = self.args.revalidate
        try:
            while self.running():
                target = self.targets[rnd.randrange(len(self.targets))]
                resource = target.resource
                kind = "import" if "/import/" in resource.path else "sr"
                extra = ""
                if resource.etag and rnd.random() < revalidate:
                    kind, extra = kind + "-inm", f"If-None-Match: {resource.etag}\r\n"
                status, headers, _, problem, ms = await self._timed(conn, get(resource.path, target.office.token, extra))
                self.stats[kind].record(status, ms, problem)
                if status == 200 and "etag" in headers:
                    resource.etag = headers["etag"]
        finally:
            conn.close()

    async def downloader(self, seed: int) -> None:
        assert self.bulletin is not None
        rnd = random.Random(seed)
        conn = Connection(self.ports[seed % len(self.ports)])
        path, size, etag = f"{API}/publication/bulletin/{self.bulletin.week}", self.bulletin.size, self.bulletin.etag
        n = 0
        try:
            while self.running():
                office = rnd.choice(self.offices)
                n += 1
                if n % 2:
                    status, headers, body, problem, ms = await self._timed(conn, get(path, office.token))
                    if problem is None and status == 200:
                        if len(body) != size:
                            problem = f"whole bulletin: {len(body)} bytes, expected {size}"
                        elif n % 20 == 1 and f'"{hashlib.sha256(body).hexdigest()}"' != etag:
                            problem = "whole bulletin: sha-256 differs from the ETag"
                    self.stats["full"].record(status, ms, problem)
                else:
                    first = rnd.randrange(size)
                    last = min(size - 1, first + rnd.randrange(1, 65536))
                    extra = f"Range: bytes={first}-{last}\r\nIf-Range: {etag}\r\n"
                    status, headers, body, problem, ms = await self._timed(conn, get(path, office.token, extra))
                    if (
                        problem is None
                        and status == 206
                        and (len(body) != last - first + 1 or headers.get("content-range") != f"bytes {first}-{last}/{size}")
                    ):
                        problem = f"Range {first}-{last}: {len(body)} bytes, Content-Range {headers.get('content-range')}"
                    self.stats["range"].record(status, ms, problem)
        finally:
            conn.close()

    # open loops

    async def paced(self, rate: float, action: Any) -> None:
        if rate <= 0:
            return
        interval, started, n = 1.0 / rate, time.perf_counter(), 0
        tasks: set[asyncio.Task[None]] = set()
        while self.running():
            n += 1
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.running():
                break
            if self.in_flight >= 64:
                self.skipped += 1
                continue
            task = asyncio.create_task(action(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def token_request(self, n: int) -> None:
        office = self.offices[n % len(self.offices)]
        assertion = sign_client_assertion(office.key, client_id=office.client_id, audience=self.issuer, lifetime=120)
        form = urlencode({"grant_type": "client_credentials", "scope": SCOPE, "client_assertion_type": JWT_BEARER,
                          "client_assertion": assertion}).encode()  # fmt: skip
        conn = self._acquire()
        self.in_flight += 1
        try:
            status, _, body, problem, ms = await self._timed(
                conn, post(self.token_path, form, "application/x-www-form-urlencoded")
            )
        finally:
            self.in_flight -= 1
            self._release(conn)
        if status == 200 and problem is None:
            try:
                office.token = json.loads(body)["access_token"]
            except (ValueError, KeyError) as exc:
                problem = f"token response: {exc}: {body[:120]!r}"
        elif status != 0 and problem is None:
            problem = f"HTTP {status}: {body[:200]!r}"
        self.stats["token"].record(status, ms, problem)

    async def submission(self, n: int) -> None:
        office = self.offices[n % len(self.offices)]
        self.submitted += 1
        reference = f"{office.code}-{self.phase}-{self.args.run_id}-{n:06d}"
        package = example_package("application", office=office.code, office_reference=reference, deferment=None,
                                  immediate_publication=True)  # fmt: skip
        conn = self._acquire()
        self.in_flight += 1
        try:
            sent = time.perf_counter()
            status, headers, body, problem, ms = await self._timed(
                conn, post(f"{API}/request", package, "application/zip", office.token)
            )
        finally:
            self.in_flight -= 1
            self._release(conn)
        if status == 202 and problem is None:
            import_id = headers.get("location", "").rsplit("/", 1)[-1]
            task = asyncio.create_task(self.follow(office, import_id, reference, sent))
            self.followers.add(task)
            task.add_done_callback(self.followers.discard)
        elif status != 0 and problem is None:
            problem = f"HTTP {status}: {body[:200]!r}"
        self.stats["submit"].record(status, ms, problem)

    async def follow(self, office: Office, import_id: str, reference: str, sent: float) -> None:
        """Poll the import, then the service request, until Registered (or give up)."""
        deadline = sent + self.args.follow_timeout
        path, srn = f"{API}/request/import/{import_id}", None
        while time.perf_counter() < deadline:
            await asyncio.sleep(0.5)
            conn = self._acquire()
            try:
                status, headers, body, problem, ms = await self._timed(conn, get(path, office.token))
            finally:
                self._release(conn)
            self.stats["follow"].record(status, ms, problem if problem or status == 200 else f"HTTP {status}: {body[:200]!r}")
            if status != 200:
                continue
            if srn is None:
                found = _IMPORT_STATUS.search(body)
                state = found.group(1).decode() if found else "?"
                if state == "Pending":
                    continue
                if state != "Imported":
                    self.pipeline_errors.append(f"{reference}: import {import_id} {state}: {body[:300]!r}")
                    return
                srn = _SRN.search(body).group(1).decode()  # type: ignore[union-attr]
                self.to_imported.append(time.perf_counter() - sent)
                office.imports.append(import_id)
                self.targets.append(Target(office, Resource(path, "", headers.get("etag"))))
                path = f"{API}/request/{srn}"
                office.srns.append(srn)
                continue
            found = _SR_STATUS.search(body)
            state = found.group(1).decode() if found else "?"
            if state == "Registered":
                self.to_registered.append(time.perf_counter() - sent)
                self.targets.append(Target(office, Resource(path, "", headers.get("etag"))))
                return
            if state not in ("Undefined", "Processing"):
                self.pipeline_errors.append(f"{reference}: service request {srn} {state}")
                return
        self.pipeline_errors.append(
            f"{reference}: import {import_id} not Registered within {self.args.follow_timeout:.0f} s (SRN {srn})"
        )

    async def run(self, seconds: float, *, polls: bool = True, downloads: bool = False, tokens: bool = False,
                  submissions: bool = False, monitor: Any = None) -> float:  # fmt: skip
        """Run the chosen parts for ``seconds``; returns the elapsed wall time."""
        self.stop_at = time.perf_counter() + seconds
        tasks = []
        started = time.perf_counter()
        if polls:
            tasks += [self.poller(1000 + i) for i in range(self.args.poll_conns)]
        if downloads:
            tasks += [self.downloader(2000 + i) for i in range(self.args.download_conns)]
        if tokens:
            tasks.append(self.paced(self.args.token_rate, self.token_request))
        if submissions:
            tasks.append(self.paced(self.args.submit_rate, self.submission))
        if monitor is not None:
            tasks.append(monitor(self))
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    async def drain(self, timeout: float) -> int:
        """Wait for the followers; returns how many were still running at the timeout."""
        if not self.followers:
            return 0
        _, pending = await asyncio.wait(set(self.followers), timeout=timeout)
        for task in pending:
            task.cancel()
        return len(pending)

    def close(self) -> None:
        for conn in self.pool:
            conn.close()
        self.pool.clear()


# Processes and /proc -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not found (run with the project's venv: .venv/bin/python)")
    return found


def run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Proc:
    """A process this script started (in its own session), with its log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 40.0) -> int | None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # the session this script started
                self.popen.wait(timeout=10)
        return self.popen.returncode


def wait_http(url: str, proc: Proc, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SystemExit(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not answer {url} within {timeout:.0f} s; see {proc.log}")


def wait_port(port: int, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise SystemExit(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{proc.name} did not listen on {HOST}:{port} within {timeout:.0f} s; see {proc.log}")


def proc_status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving ``database`` (by their title)."""
    out: dict[int, float] = {}
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                cpu = proc_cpu_seconds(int(entry.name))
                if cpu is not None:
                    out[int(entry.name)] = cpu
        except OSError:
            continue
    return out


def uvicorn_workers(parent: int) -> list[int]:
    """The worker processes uvicorn spawned under ``parent`` (not multiprocessing's helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            if ppid != parent:
                continue
            if b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return sorted(found)


@dataclass
class Watched:
    name: str
    pid: int
    verdict: bool = True  # part of the flat verdict (moto and the generator are shown only)
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, VmRSS KiB)
    cpu_start: float | None = None
    cpu_end: float | None = None
    peak_kib: int = 0  # VmHWM at the end: the peak since the process started


class Memory:
    """RSS of the watched processes, sampled from /proc."""

    def __init__(self, watched: list[Watched]) -> None:
        self.watched = watched
        self.t0 = time.perf_counter()
        self.lost: list[str] = []

    def start(self) -> None:
        self.t0 = time.perf_counter()
        for w in self.watched:
            w.cpu_start = proc_cpu_seconds(w.pid)
        self.sample()

    def sample(self) -> None:
        now = time.perf_counter() - self.t0
        for w in self.watched:
            rss = proc_status_kib(w.pid, "VmRSS")
            if rss is None:
                if f"{w.name} (pid {w.pid})" not in self.lost:
                    self.lost.append(f"{w.name} (pid {w.pid})")
                continue
            w.samples.append((now, rss))

    def finish(self) -> None:
        self.sample()
        for w in self.watched:
            w.cpu_end = proc_cpu_seconds(w.pid)
            w.peak_kib = proc_status_kib(w.pid, "VmHWM") or 0


def rss_growth(samples: list[tuple[float, int]]) -> tuple[float, float, float]:
    """(mean of the first third, mean of the last third, growth) of the RSS samples."""
    values = [kib for _, kib in samples]
    third = max(1, len(values) // 3)
    first, last = statistics.fmean(values[:third]), statistics.fmean(values[-third:])
    return first, last, (last - first) / first if first else float("nan")


# Setup ---------------------------------------------------------------------------------


def database_state(backend: str, db_name: str, data: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    queries = {
        t: f"SELECT status, count(*) FROM {t} GROUP BY status ORDER BY status" for t in ("imports", "service_requests", "jobs")
    }
    if backend == "postgres":
        with pg_connect(f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}") as conn:
            for table, query in queries.items():
                out[table] = {str(status): int(n) for status, n in conn.execute(query).fetchall()}
        return out
    with sqlite3.connect(f"file:{data / 'hws.sqlite3'}?mode=ro", uri=True) as conn:
        for table, query in queries.items():
            out[table] = {str(status): int(n) for status, n in conn.execute(query).fetchall()}
    return out


def pending_work(backend: str, db_name: str, data: Path) -> int:
    """Jobs not yet done, and imports still Pending."""
    state = database_state(backend, db_name, data)
    jobs = sum(n for status, n in state["jobs"].items() if status not in ("done", "dead"))
    return jobs + state["imports"].get("Pending", 0)


async def prime(ports: list[int], resources: list[Resource], conns: int) -> int:
    """Read every resource once (keeping its ETag), ``conns`` connections round-robin over
    the ports; returns the number of answers other than 200."""
    queue = list(resources)
    errors = 0

    async def one(port: int) -> None:
        nonlocal errors
        connection = Connection(port)
        try:
            while queue:
                resource = queue.pop()
                status, headers, _, _ = await connection.request(get(resource.path, resource.token))
                if status == 200:
                    resource.etag = headers.get("etag", resource.etag)
                else:
                    errors += 1
        finally:
            connection.close()

    await asyncio.gather(*(one(ports[i % len(ports)]) for i in range(conns)))
    return errors


def token_for(issuer: str, office: Office, dpop: DPoPKey | None = None) -> str:
    """A token for the office: a bearer one, or bound to ``dpop`` (a proof sent with the request)."""
    assertion = sign_client_assertion(office.key, client_id=office.client_id, audience=issuer, lifetime=120)
    response = httpx.post(
        f"{issuer}/access_token",
        headers={"DPoP": dpop.proof("POST", f"{issuer}/access_token")} if dpop else None,
        data={
            "grant_type": "client_credentials",
            "scope": SCOPE,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def seed_and_publish(
    base: str, issuer: str, offices: list[Office], per_office: int, hws: list[str], env: dict[str, str]
) -> Bulletin:
    """Register ``per_office`` applications per office, move the sandbox clock past their
    publication moment and wait for the bulletin."""
    pending: list[tuple[Office, str, str]] = []
    with httpx.Client(base_url=f"{base}{API}", timeout=60) as http:
        for office in offices:
            for n in range(per_office):
                package = example_package("application", office=office.code, office_reference=f"{office.code}-SEED-{n}",
                                          deferment=None, immediate_publication=True)  # fmt: skip
                answer = http.post(
                    "/request",
                    content=package,
                    headers={"Authorization": f"Bearer {office.token}", "Content-Type": "application/zip"},
                )
                if answer.status_code != 202:
                    raise SystemExit(f"seeding: POST /request answered {answer.status_code}: {answer.text[:500]}")
                pending.append((office, answer.headers["location"].rsplit("/", 1)[-1], f"{office.code}-SEED-{n}"))
        publication: set[date] = set()
        deadline = time.monotonic() + 300
        for office, import_id, reference in pending:
            auth = {"Authorization": f"Bearer {office.token}"}
            srn = None
            while True:
                if time.monotonic() > deadline:
                    raise SystemExit(f"seeding: {reference} (import {import_id}) not registered within 300 s")
                if srn is None:
                    body = http.get(f"/request/import/{import_id}", headers=auth).content
                    state = _IMPORT_STATUS.search(body).group(1).decode()  # type: ignore[union-attr]
                    if state == "Imported":
                        srn = _SRN.search(body).group(1).decode()  # type: ignore[union-attr]
                        office.imports.append(import_id)
                        office.srns.append(srn)
                        continue
                    if state != "Pending":
                        raise SystemExit(f"seeding: {reference} was {state}: {body[:800]!r}")
                else:
                    body = http.get(f"/request/{srn}", headers=auth).content
                    state = _SR_STATUS.search(body).group(1).decode()  # type: ignore[union-attr]
                    if state == "Registered":
                        publication.add(date.fromisoformat(_PUBLICATION.search(body).group(1).decode()))  # type: ignore[union-attr]
                        break
                    if state not in ("Undefined", "Processing"):
                        raise SystemExit(f"seeding: {reference} (SRN {srn}) is {state}")
                time.sleep(0.2)
        week = Week.of(max(publication))
        now = datetime.fromisoformat(json.loads(run([*hws, "admin", "clock", "show", "--json"], env))["now"])
        ahead = int((Schedule().moment(week) - now).total_seconds()) + 120
        run([*hws, "admin", "clock", "advance", f"{ahead}s"], env)
        auth = {"Authorization": f"Bearer {offices[0].token}"}
        deadline = time.monotonic() + 180
        while True:
            answer = http.get(f"/publication/bulletin/{week.id}", headers=auth)
            if answer.status_code == 200:
                etag = answer.headers["etag"]
                if f'"{hashlib.sha256(answer.content).hexdigest()}"' != etag:
                    raise SystemExit("the bulletin's bytes do not match its ETag")
                return Bulletin(week.id, len(answer.content), etag)
            if time.monotonic() > deadline:
                raise SystemExit(f"bulletin {week.id} not published within 180 s: {answer.status_code} {answer.text[:300]}")
            time.sleep(0.5)


# Report --------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if value == value else "-"


def endpoint_table(rows: list[Endpoint], seconds: float) -> list[str]:
    head = (
        f"{'endpoint':<48} {'load':<17} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} "
        f"{'errors':>6}  statuses"
    )
    lines = [head, "-" * len(head)]
    for e in rows:
        statuses = " ".join(f"{s or 'none'}:{n}" for s, n in sorted(e.statuses.items()))
        lines.append(
            f"{e.label:<48} {e.mode:<17} {e.count:>9} {e.count / seconds:>8.1f} {fmt(e.percentile(50), 2):>7} "
            f"{fmt(e.percentile(99), 2):>7} {fmt(max(e.latencies_ms) if len(e.latencies_ms) else float('nan')):>8} "
            f"{e.errors:>6}  {statuses}"
        )
    return lines


def seconds_summary(values: list[float]) -> str:
    if not values:
        return "-"
    return f"p50 {percentile(values, 50):.1f} s, p99 {percentile(values, 99):.1f} s, max {max(values):.1f} s"


# Main ----------------------------------------------------------------------------------


POLL_KINDS = ("import", "import-inm", "sr", "sr-inm")


async def monitor_loop(
    load: Load, memory: Memory, every: float, sample_every: float, watched: list[Watched], procs: list[Proc],
    timeline: list[str],
) -> None:  # fmt: skip
    """RSS samples and a progress line every ``every`` seconds while the soak runs: req/s,
    the status polls' p50/p99 over that interval, errors, RSS."""
    started = time.perf_counter()
    next_sample, next_line = started + sample_every, started + every
    last_counts = {k: e.count for k, e in load.stats.items()}
    last_errors = 0
    last_t = started
    while load.running():
        await asyncio.sleep(max(0.0, min(next_sample, next_line, load.stop_at) - time.perf_counter()))
        now = time.perf_counter()
        if now >= next_sample:
            memory.sample()
            next_sample += sample_every
        for proc in list(procs):
            if not proc.alive():
                load.pipeline_errors.append(f"{proc.name} exited with {proc.popen.returncode}")
                procs.remove(proc)
        if now >= next_line or not load.running():
            counts = {k: e.count for k, e in load.stats.items()}
            delta = {k: counts[k] - last_counts[k] for k in counts}
            span = now - last_t
            errors = sum(e.errors for e in load.stats.values()) + len(load.pipeline_errors)
            polls = sum(delta[k] for k in POLL_KINDS)
            recent = [ms for k in POLL_KINDS for ms in load.stats[k].latencies_ms[last_counts[k] :]]
            rss = "  ".join(f"{w.name} {w.samples[-1][1] / 1024:.0f}" for w in watched if w.verdict and w.samples)
            line = (
                f"  t={now - started:5.0f}s  {sum(delta.values()) / span:7.1f} req/s (polls {polls / span:6.1f} "
                f"p50 {fmt(percentile(recent, 50), 2)} p99 {fmt(percentile(recent, 99), 2)} ms; downloads "
                f"{(delta['full'] + delta['range']) / span:5.1f}, tokens {delta['token'] / span:4.1f}, submissions "
                f"{delta['submit'] / span:4.1f})  errors {errors - last_errors:+d}  RSS MiB: {rss}  load {os.getloadavg()[0]:.2f}"
            )
            timeline.append(line)
            print(line, flush=True)
            last_counts, last_t, last_errors = counts, now, errors
            next_line += every


def reexec_on_snapshot() -> int:
    """Export HEAD's src/ and run this script again with it first on PYTHONPATH."""
    target = HERE / ".work" / "soak-src"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True, capture_output=True).stdout.strip()
    path = os.pathsep.join(p for p in (str(target / "src"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "HWS_SOAK_SNAPSHOT": head}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]], env)
    return 2  # not reached


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both",
                        help="sqlite: the embedded default; postgres: PostgreSQL + S3 (moto); both (default), one after the other")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="60 s of load, 200 applications, 1 anchor round before and after")
    parser.add_argument("--duration", type=float, help="seconds of mixed load per backend (default 600; --quick 60)")
    parser.add_argument("--warmup", type=float, help="seconds of untimed mixed load first (default 30; --quick 10)")
    parser.add_argument("--anchor-seconds", type=float, help="seconds per anchor / poll-only phase (default 10; --quick 5)")
    parser.add_argument(
        "--anchor-rounds", type=int, help="anchor/hws poll-only rounds before and after the soak (default 2; --quick 1)"
    )
    parser.add_argument("--resources", type=int, help="applications sent and imported before the load (default 1000; --quick 200); "
                        "each gives two polled resources")  # fmt: skip
    parser.add_argument(
        "--dpop",
        action="store_true",
        help="also poll with DPoP-bound tokens (a proof per poll; issue 14) in the poll-only rounds: hws-dpop ÷ anchor",
    )
    parser.add_argument(
        "--revalidate", type=float, default=0.5, help="share of polls with If-None-Match, default 0.5 (both sides)"
    )
    parser.add_argument("--poll-conns", type=int, default=8, help="status-poll connections (and anchor connections), default 8")
    parser.add_argument("--download-conns", type=int, default=1, help="bulletin download connections, default 1")
    parser.add_argument("--token-rate", type=float, default=5.0, help="token requests per second (open loop), default 5")
    parser.add_argument("--submit-rate", type=float, default=1.0, help="submissions per second (open loop), default 1")
    parser.add_argument(
        "--api-procs", type=int, help="hws serve processes, one port each (and the anchor's); default 1 on sqlite, 2 on postgres"
    )
    parser.add_argument("--job-workers", type=int, default=2, help="hws worker processes on postgres, default 2")
    parser.add_argument("--seed", type=int, default=2, help="applications registered per office for the bulletin, default 2")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between RSS samples, default 5")
    parser.add_argument("--report-every", type=float, help="seconds between progress lines (default 60; --quick 10)")
    parser.add_argument("--follow-timeout", type=float, default=120.0, help="seconds a submission may take to Registered")
    parser.add_argument(
        "--schemas", type=Path, default=ROOT.parent / "shared" / "st96" / "V6_0", help="ST.96 schema set to install"
    )
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/soak (data, logs) and the database")
    parser.add_argument(
        "--snapshot", action="store_true",
        help="measure the committed HEAD (git archive of src/ into bench/.work/soak-src, first on PYTHONPATH for this "
        "script and every process it starts) instead of the working tree, e.g. while others edit a shared tree",
    )  # fmt: skip
    args = parser.parse_args()
    args.duration = args.duration or (60.0 if args.quick else 600.0)
    args.warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 30.0)
    args.anchor_seconds = args.anchor_seconds or (5.0 if args.quick else 10.0)
    args.anchor_rounds = args.anchor_rounds or (1 if args.quick else 2)
    args.resources = args.resources or (200 if args.quick else 1000)
    args.report_every = args.report_every or (10.0 if args.quick else 60.0)
    args.run_id = secrets.token_hex(3).upper()
    return args


def main() -> int:
    args = parse_args()
    if args.snapshot and os.environ.get("HWS_SOAK_SNAPSHOT") is None:
        return reexec_on_snapshot()
    if not Path("/proc/self/status").exists():
        print("this bench reads /proc (Linux only)", file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], text=True, capture_output=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], text=True, capture_output=True
    ).stdout.split("\n")
    dirty = [line[3:] for line in dirty if line.strip()]
    import hws as hws_package

    if os.environ.get("HWS_SOAK_SNAPSHOT"):
        print(
            f"code: snapshot of HEAD {os.environ['HWS_SOAK_SNAPSHOT']} (git archive), hws from {Path(hws_package.__file__).parent}",
            flush=True,
        )
    else:
        print(
            f"code: working tree at {head or '?'}"
            + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else " (src clean)"),
            flush=True,
        )
    print(
        f"soak: {args.duration:g} s of mixed load per backend after {args.warmup:g} s of warm-up; {os.cpu_count()} CPUs, "
        f"{platform.platform()}, Python {platform.python_version()} ({loop_name} load generator); "
        f"/proc/loadavg {Path('/proc/loadavg').read_text().strip()}",
        flush=True,
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    verdicts = {backend: soak_one(backend, args) for backend in backends}
    print(f"\n/proc/loadavg at the end: {Path('/proc/loadavg').read_text().strip()}")
    print("verdicts: " + "; ".join(f"{b} {'ok' if ok else 'NOT ok'}" for b, ok in verdicts.items()))
    return 0 if all(verdicts.values()) else 1


def soak_one(backend: str, args: argparse.Namespace) -> bool:
    """Set up one backend, seed it, run the anchor rounds, the soak and the anchor rounds
    again; print the report; True when there was no error, RSS stayed flat and nothing was
    left queued."""
    api_procs = args.api_procs or (1 if backend == "sqlite" else 2)
    job_workers = args.job_workers if backend == "postgres" else 0
    target_ratio = TARGETS[backend]
    work = HERE / ".work" / "soak"
    shutil.rmtree(work, ignore_errors=True)
    data, logs = work / "data", work / "logs"
    data.mkdir(parents=True)
    hws = [venv_bin("hws")]
    load_before = Path("/proc/loadavg").read_text().strip()
    print(f"\n######## backend: {backend} (/proc/loadavg {load_before})", flush=True)

    procs: list[Proc] = []
    db_name = ""
    ok = False
    try:
        ports = [free_port() for _ in range(api_procs)]
        base = f"http://{HOST}:{ports[0]}"  # the public URL (issuer) of every API process
        env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
        env.update({
            "HWS_DATA_DIR": str(data), "HWS_PUBLIC_URL": base, "HWS_CONFIG_HOME": str(work / "office-config"),
            "HWS_LOG_FORMAT": "json", "HWS_LOG_LEVEL": "WARNING",
            "HWS_SANDBOX": "1", "HWS_EXAMINATION": "auto", "HWS_AUTO_IRREGULARITY": "never",
            "HWS_SCHEDULER_INTERVAL": "1", "HWS_WORKER_POLL_INTERVAL": "0.2",
            # The load clients are a few offices on 127.0.0.1 far past the per-client limits.
            "HWS_RATE_LIMIT_PER_MINUTE": "0", "HWS_MAX_CONCURRENT_PER_CLIENT": "0", "HWS_TOKEN_RATE_PER_MINUTE": "0",
        })  # fmt: skip
        if args.dpop:  # proofs signed as each poll is sent; no server nonce to fetch (as in token_endpoint.py)
            env["HWS_DPOP_NONCES"] = "false"
        moto = None
        if backend == "postgres":
            db_name, db_url = create_database()
            moto_port = free_port()
            moto = Proc(
                "moto", [venv_bin("moto_server"), "-H", HOST, "-p", str(moto_port)], {**os.environ, **AWS}, logs / "moto.log"
            )
            procs.append(moto)
            wait_port(moto_port, moto)
            import boto3

            bucket = f"hws-soak-{secrets.token_hex(4)}"
            boto3.client("s3", endpoint_url=f"http://{HOST}:{moto_port}", region_name="us-east-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=bucket)  # fmt: skip
            env.update(AWS)
            env.update({
                "HWS_DATABASE_URL": db_url, "HWS_AUTO_MIGRATE": "false",
                "HWS_BLOB_STORE": "s3", "HWS_S3_BUCKET": bucket, "HWS_S3_ENDPOINT_URL": f"http://{HOST}:{moto_port}",
                "HWS_S3_REGION": "us-east-1", "HWS_WORKER_THREADS": "0",
            })  # fmt: skip
            where = (
                f"PostgreSQL database {db_name} (fresh); S3 on moto_server {HOST}:{moto_port}, bucket {bucket}; "
                f"{api_procs} hws serve process(es) without job work + {job_workers} hws worker process(es)"
            )
        else:
            where = f"SQLite + local data folder (the embedded default): {api_procs} hws serve process(es), job runner in-process"
        # operator commands never create a SQLite database unasked: `admin init` does
        run([*hws, "admin", "db", "upgrade"] if backend == "postgres" else [*hws, "admin", "init"], env)
        schemas = "none (structural checks only)"
        if args.schemas and args.schemas.exists():
            run([*hws, "admin", "schemas", "install", str(args.schemas), "--data-dir", str(data)], env)
            schemas = f"{args.schemas.name} installed (official XSD validation)"
        offices = []
        for code in OFFICES:
            folder = work / "offices" / code
            run([*hws, "keygen", "--name", f"SOAK-{code}", "--out", str(folder), "--force"], env)
            binding = ["--token-binding", "dpop-allowed"] if args.dpop else []
            created = json.loads(run([*hws, "admin", "clients", "add", "--cert", str(folder / "cert.pem"), "--office", code,
                                      "--ip", f"{HOST}/32", *binding, "--json"], env))  # fmt: skip
            offices.append(Office(code, created["client_id"], load_private_key(folder / "private_key.pem"), ""))

        # hws: API processes (one port each) and workers ---------------------------------
        apis = [
            Proc(f"hws serve {i + 1}", [*hws, "serve", "--host", HOST, "--port", str(port)], env, logs / f"serve-{i + 1}.log")
            for i, port in enumerate(ports)
        ]
        procs += apis
        workers = [Proc(f"hws worker {i + 1}", [*hws, "worker"], env, logs / f"worker-{i + 1}.log") for i in range(job_workers)]
        procs += workers
        for port, api in zip(ports, apis, strict=True):
            wait_http(f"http://{HOST}:{port}/readyz", api)
        issuer = f"{base}/oauth2"
        for office in offices:
            office.token = token_for(issuer, office)
            if args.dpop:
                office.dpop = DPoPKey.generate()
                office.dpop_token = token_for(issuer, office, office.dpop)
        print(f"setup: {where}; ports {ports}; schemas: {schemas}", flush=True)
        started = time.perf_counter()
        bulletin = seed_and_publish(base, issuer, offices, args.seed, hws, env)
        print(
            f"seeded {args.seed * len(offices)} registrations over {len(offices)} offices; bulletin {bulletin.week} published "
            f"({bulletin.size:,} bytes) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        started = time.perf_counter()
        by_code = {o.code: o for o in offices}
        clients = [(o.code, HagueClient(issuer=issuer, client_id=o.client_id, private_key=o.key)) for o in offices]
        try:
            seeded = seed_applications(base, clients, max(1, args.resources // len(OFFICES)), work / "packages", args.run_id)
        finally:
            for _, client in clients:
                client.close()
        targets: list[Target] = []
        for code, import_path, sr_path in seeded:
            targets += [Target(by_code[code], Resource(import_path, "")), Target(by_code[code], Resource(sr_path, ""))]
        for office in offices:  # the bulletin's applications are polled too
            targets += [Target(office, Resource(f"{API}/request/import/{i}", "")) for i in office.imports]
            targets += [Target(office, Resource(f"{API}/request/{srn}", "")) for srn in office.srns]
        print(f"seeded {len(seeded)} more applications through the API in {time.perf_counter() - started:.1f} s: "
              f"{len(targets)} distinct polled resources", flush=True)  # fmt: skip
        # Steady state before anything is measured: the seeded applications' jobs (validation,
        # examination) all done, then every polled resource read once (the read cache warm,
        # as it is for a service that has been answering these polls).
        started = time.perf_counter()
        deadline = time.monotonic() + 600
        while (pending := pending_work(backend, db_name, data)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for t in targets:
            t.resource.token = t.office.token
        primed = asyncio.run(prime(ports, [t.resource for t in targets], args.poll_conns))
        print(f"steady state: job backlog drained in {time.perf_counter() - started:.1f} s ({pending} left); "
              f"every polled resource read once ({primed} errors)", flush=True)  # fmt: skip

        # The anchor: as many processes as hws has API processes, one port each -----------
        bare_ports = [free_port() for _ in range(api_procs)]
        bare_cmd = [venv_bin("uvicorn"), "bare_constant_app:app", "--app-dir", str(HERE), "--host", HOST, "--no-access-log",
                    "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
        bares = [
            Proc(f"bare {i + 1}", [*bare_cmd, "--port", str(p)], os.environ.copy(), logs / f"bare-{i + 1}.log")
            for i, p in enumerate(bare_ports)
        ]
        procs += bares
        for p, bare in zip(bare_ports, bares, strict=True):
            wait_http(f"http://{HOST}:{p}/constant", bare)
        bare_resources = [Resource(f"/status/{i}", t.office.token) for i, t in enumerate(targets)]
        asyncio.run(prime(bare_ports, bare_resources, args.poll_conns))  # its ETags known too, as hws's are
        print(
            f"anchor: bench/bare_constant_app.py /status/{{key}}, {api_procs} uvicorn process(es) (uvloop, httptools), one "
            f"port each; constant body, per-key ETag, 304 on If-None-Match, no auth, no database; {len(bare_resources)} keys\n"
            f"hws: every poll's bearer token checked, the client and the import / service request read (read cache), "
            f"ETag compared\nboth: {args.poll_conns} connections round-robin over the ports, closed loop, "
            f"{args.revalidate:.0%} of the polls with If-None-Match",
            flush=True,
        )

        rounds: list[tuple[str, int, PollPhase, PollPhase]] = []

        dpop_rounds: list[tuple[str, int, PollPhase, PollPhase]] = []
        prove = None
        dpop_of: dict[int, DPoPKey | None] = {}  # resource → its office's DPoP key (targets grow during the soak)
        if args.dpop:

            def prove(resource: Resource) -> str:
                key = dpop_of[id(resource)]
                assert key is not None
                return key.proof("GET", f"{base}{resource.path}", access_token=resource.token)

        def measure(side: str, label: str) -> PollPhase:
            if side == "hws-dpop":
                for t in targets:
                    t.resource.token = t.office.dpop_token
                    dpop_of[id(t.resource)] = t.office.dpop
                resources = [t.resource for t in targets]
                asyncio.run(poll_load(ports, resources, args.poll_conns, 1.0, args.revalidate, label, prove=prove))
                before = sum(process_tree_cpu(a.pid) or 0.0 for a in apis)
                phase = asyncio.run(
                    poll_load(ports, resources, args.poll_conns, args.anchor_seconds, args.revalidate, label, prove=prove)
                )
                phase.cpu = sum(process_tree_cpu(a.pid) or 0.0 for a in apis) - before
                return phase
            if side == "anchor":
                for t, r in zip(targets, bare_resources, strict=False):  # the same request size as hws's polls
                    r.token = t.office.token
                ports_, resources, pids = bare_ports, bare_resources, [b.pid for b in bares]
            else:
                for t in targets:
                    t.resource.token = t.office.token
                ports_, resources, pids = ports, [t.resource for t in targets], [a.pid for a in apis]
            asyncio.run(poll_load(ports_, resources, args.poll_conns, 1.0, args.revalidate, label))  # warm-up
            before = sum(process_tree_cpu(pid) or 0.0 for pid in pids)
            phase = asyncio.run(poll_load(ports_, resources, args.poll_conns, args.anchor_seconds, args.revalidate, label))
            phase.cpu = sum(process_tree_cpu(pid) or 0.0 for pid in pids) - before
            return phase

        def anchor_rounds(when: str) -> None:
            print(f"poll-only rounds {when} the soak ({args.anchor_seconds:g} s per side, order alternating):", flush=True)
            print(f"  {'round':<12}{'side':<8}{'polls/s':>9}{'304':>6}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/poll':>12}"
                  f"{'errors':>7}  requests per process")  # fmt: skip
            for n in range(args.anchor_rounds):
                number = len(rounds) + 1
                order: tuple[str, ...] = ("anchor", "hws") if number % 2 else ("hws", "anchor")
                if args.dpop:
                    order += ("hws-dpop",)
                phases = {}
                for side in order:
                    phase = phases[side] = measure(side, f"{when} {side}")
                    print(
                        f"  {when + ' ' + str(n + 1):<12}{side:<8}{phase.rate:>9.0f}{phase.not_modified / max(1, phase.count):>6.0%}"
                        f"{percentile(phase.latencies, 50):>8.2f}{percentile(phase.latencies, 99):>8.2f}"
                        f"{phase.cpu * 1000 / max(1, phase.count):>12.3f}{phase.errors:>7}  "
                        + " / ".join(str(c) for c in phase.per_port.values()),
                        flush=True,
                    )
                rounds.append((when, number, phases["anchor"], phases["hws"]))
                if args.dpop:
                    dpop_rounds.append((when, number, phases["anchor"], phases["hws-dpop"]))

        anchor_rounds("before")

        # Warm-up, then the soak --------------------------------------------------------
        load = Load(ports, offices, targets, bulletin, issuer, args)
        load.phase = "WARM"
        mix = {"polls": True, "downloads": True, "tokens": True, "submissions": True}
        print(f"warm-up: {args.warmup:g} s of the mix (not counted)", flush=True)
        if args.warmup > 0:
            asyncio.run(load.run(args.warmup, **mix))
            asyncio.run(load.drain(args.follow_timeout))
        warm_errors = sum(e.errors for e in load.stats.values()) + len(load.pipeline_errors)
        load.close()

        watched = []
        for i, api in enumerate(apis):
            children = uvicorn_workers(api.pid)
            watched.append(Watched(f"api-{i + 1}", api.pid))
            watched += [Watched(f"api-{i + 1}.{k + 1}", pid) for k, pid in enumerate(children)]
        watched += [Watched(f"worker-{i + 1}", w.pid) for i, w in enumerate(workers)]
        if moto is not None:
            watched.append(Watched("moto", moto.pid, verdict=False))
        watched.append(Watched("loadgen", os.getpid(), verdict=False))
        memory = Memory(watched)
        load = Load(ports, offices, targets, bulletin, issuer, args)
        print(
            f"soak: {args.duration:g} s; status polls {args.poll_conns} conns over {len(targets)} resources to start with "
            f"({args.revalidate:.0%} If-None-Match), downloads {args.download_conns} conn(s), tokens {args.token_rate:g}/s, "
            f"submissions {args.submit_rate:g}/s; API pids {[a.pid for a in apis]}",
            flush=True,
        )
        memory.start()
        cpu0 = time.process_time()
        pg0 = backends_cpu(db_name) if db_name else {}
        timeline: list[str] = []

        async def soak() -> tuple[float, int]:
            elapsed = await load.run(
                args.duration, **mix,
                monitor=lambda loop: monitor_loop(loop, memory, args.report_every, args.sample_every, watched,
                                                  [p for p in procs if p not in bares], timeline),
            )  # fmt: skip
            return elapsed, await load.drain(args.follow_timeout)

        elapsed, unfinished = asyncio.run(soak())
        loadgen_cpu = time.process_time() - cpu0
        postgres_cpu = None
        if db_name:
            pg1 = backends_cpu(db_name)
            postgres_cpu = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in pg1.items())
        memory.finish()
        load.close()
        anchor_rounds("after")
        state = database_state(backend, db_name, data)
        load_after = Path("/proc/loadavg").read_text().strip()

        # Report ----------------------------------------------------------------------------
        st = load.stats
        polls = merged("all status polls", [st[k] for k in POLL_KINDS])
        polls.mode = f"closed, {args.poll_conns} conns"
        everything = merged("all requests", list(st.values()))
        print()
        print(f"== [{backend}] Mixed load: {elapsed:.1f} s on {where} ==")
        order = ["token", "submit", "import", "import-inm", "sr", "sr-inm", "follow", "full", "range"]
        for line in endpoint_table([st[k] for k in order] + [polls, everything], elapsed):
            print(line)
        print(f"304 share of the status polls in the mix: {polls.statuses.get(304, 0) / max(1, polls.count):.0%}; "
              f"{len(load.targets)} distinct polled resources at the end")  # fmt: skip
        print(
            f"\nsubmissions: {load.submitted} sent, {len(load.to_imported)} Imported, {len(load.to_registered)} Registered "
            f"(follow-up still running at the end: {unfinished}); open-loop ticks skipped: {load.skipped}"
        )
        print(f"  202 -> Imported:   {seconds_summary(load.to_imported)}")
        print(f"  202 -> Registered: {seconds_summary(load.to_registered)}  (polled every 0.5 s)")
        print("  database at the end: " + "; ".join(f"{t} {d}" for t, d in state.items()))
        backlog = state["jobs"].get("queued", 0) + state["jobs"].get("running", 0) + state["jobs"].get("dead", 0)
        backlog += state["imports"].get("Pending", 0)
        print("\npoll p50/p99 over time (the progress lines above):")
        for line in timeline:
            print(line)

        print()
        print(f"== [{backend}] RSS of the server processes ({len(watched[0].samples)} samples every {args.sample_every:g} s; "
              f"flat = mean of the last third < {FLAT_LIMIT:.0%} above the first third) ==")  # fmt: skip
        print(f"{'process':<12} {'pid':>8} {'start MiB':>10} {'end MiB':>8} {'peak MiB':>9} {'1st third':>10} {'last third':>11} "
              f"{'growth':>7} {'CPU s':>7}  verdict")  # fmt: skip
        flat_all = True
        for w in watched:
            samples, hwm = w.samples, w.peak_kib
            if not samples:
                print(f"{w.name:<12} {w.pid:>8}  no samples")
                flat_all = flat_all and not w.verdict
                continue
            first, last, growth = rss_growth(samples)
            flat = growth < FLAT_LIMIT
            cpu_s = (w.cpu_end - w.cpu_start) if w.cpu_end is not None and w.cpu_start is not None else float("nan")
            verdict = ("flat" if flat else "NOT FLAT") if w.verdict else ("(not ours: " + ("flat" if flat else "grows") + ")")
            if w.verdict:
                flat_all = flat_all and flat
            print(
                f"{w.name:<12} {w.pid:>8} {samples[0][1] / 1024:>10.1f} {samples[-1][1] / 1024:>8.1f} {hwm / 1024:>9.1f} "
                f"{first / 1024:>10.1f} {last / 1024:>11.1f} {growth:>+7.1%} {cpu_s:>7.1f}  {verdict}"
            )
        for lost in memory.lost:
            print(f"lost during the soak: {lost}")
            flat_all = False
        cpu = {w.name: (w.cpu_end or 0.0) - (w.cpu_start or 0.0) for w in watched if w.name != "loadgen"}
        if postgres_cpu is not None:
            cpu["postgres"] = postgres_cpu
        cpu["loadgen"] = loadgen_cpu
        print(
            f"CPU seconds over the soak ({elapsed:.0f} s x {os.cpu_count()} CPUs = {elapsed * (os.cpu_count() or 1):.0f} s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
            + f"; sum {sum(cpu.values()):.1f} s"
            + (" (PostgreSQL: the backends of this database present at the end)" if postgres_cpu is not None else "")
        )

        print()
        print(f"== [{backend}] Status polls only, hws ÷ anchor ({args.poll_conns} connections over {api_procs} process(es) "
              f"each, {args.anchor_seconds:g} s per side, {args.revalidate:.0%} If-None-Match) ==")  # fmt: skip
        ratios = [h.rate / a.rate for _, _, a, h in rounds if a.rate]
        cpu_ratios = [(h.cpu / max(1, h.count)) / (a.cpu / max(1, a.count)) for _, _, a, h in rounds if a.cpu and a.count]
        for when, number, a, h in rounds:
            print(f"  round {number} ({when}): anchor {a.rate:.0f} polls/s ({a.not_modified / max(1, a.count):.0%} 304), "
                  f"hws {h.rate:.0f} ({h.not_modified / max(1, h.count):.0%} 304): {h.rate / a.rate:.2f}x")  # fmt: skip
        ratio = statistics.median(ratios)
        anchor_rate = statistics.median(a.rate for _, _, a, _ in rounds)
        print(
            f"ratio hws ÷ anchor (polls/s): median {ratio:.2f}x ({min(ratios):.2f}–{max(ratios):.2f}; rounds: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); target ≥ {target_ratio}x -> "
            f"{'meets' if ratio >= target_ratio else 'below'}"
        )
        if cpu_ratios:
            print(f"CPU per poll hws ÷ anchor: median {statistics.median(cpu_ratios):.2f}x (server processes; "
                  f"{'the PostgreSQL server not counted' if db_name else 'SQLite is in-process'})")  # fmt: skip
        if dpop_rounds:
            dpop_ratios = [h.rate / a.rate for _, _, a, h in dpop_rounds if a.rate]
            dpop_cpu = [(h.cpu / max(1, h.count)) / (a.cpu / max(1, a.count)) for _, _, a, h in dpop_rounds if a.cpu and a.count]
            print(
                f"with DPoP (each poll: Authorization: DPoP + a proof signed for it, checked, its jti single-used in the "
                f"database): hws-dpop ÷ anchor (polls/s): median {statistics.median(dpop_ratios):.2f}x "
                f"({min(dpop_ratios):.2f}–{max(dpop_ratios):.2f}; rounds: {', '.join(f'{r:.2f}' for r in dpop_ratios)})"
                + (f"; CPU per poll {statistics.median(dpop_cpu):.2f}x the anchor's" if dpop_cpu else "")
                + f"; hws-dpop ÷ hws (bearer): {statistics.median(h.rate for *_, h in dpop_rounds) / statistics.median(h.rate for *_, h in rounds):.2f}x"
            )
        before = [h.rate for when, _, _, h in rounds if when == "before"]
        after = [h.rate for when, _, _, h in rounds if when == "after"]
        print(f"status polls in the mix / anchor median = {polls.count / elapsed:.1f} / {anchor_rate:.1f} = "
              f"{polls.count / elapsed / anchor_rate:.2f}x (sharing the server with downloads, tokens and submissions)")  # fmt: skip
        print(f"hws polls only, after / before the soak = {statistics.median(after) / statistics.median(before):.2f}x")

        errors = everything.errors + len(load.pipeline_errors) + sum(a.errors + h.errors for _, _, a, h in rounds)
        print()
        print(f"== [{backend}] Errors: {errors} in the soak and the poll-only rounds (warm-up: {warm_errors}) ==")
        for e in st.values():
            for sample in e.error_samples:
                print(f"  {e.label}: {sample}")
        for problem in load.pipeline_errors[:20]:
            print(f"  pipeline: {problem}")
        if backlog:
            print(f"  backlog at the end: {backlog} jobs queued/running/dead or imports Pending")
        print(f"\n/proc/loadavg before {load_before}, after {load_after} ({os.cpu_count()} CPUs, shared)")
        print(
            f"verdict [{backend}]: errors {errors} ({'zero' if errors == 0 else 'NOT zero'}), RSS {'flat' if flat_all else 'NOT flat'}, "
            f"status polls / anchor {ratio:.2f}x ({'meets' if ratio >= target_ratio else 'below'} {target_ratio}x)",
            flush=True,
        )
        ok = errors == 0 and flat_all and backlog == 0
    finally:
        for proc in procs:  # SIGTERM to all at once, then wait for each
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            code = proc.stop()
            if proc.name.startswith("hws") and code not in (0, None, -signal.SIGTERM):
                print(f"{proc.name} exited with {code} on SIGTERM; see {proc.log}")
        if db_name and not args.keep:
            drop_database(db_name)
        if args.keep:
            print(f"work files kept in {work}" + (f"; database {db_name} kept" if db_name else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)
    return ok


if __name__ == "__main__":
    sys.exit(main())
