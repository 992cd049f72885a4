"""A scaled-out deployment on one machine, for end-to-end tests (DESIGN "Scaling out").

- :class:`Cluster` runs what docs/deployment.md describes, every part its own OS process
  over one PostgreSQL database, one S3 bucket and one data folder (the signing keys):
  ``hws serve`` API processes, each on its own port with ``HWS_WORKER_THREADS=0`` and one
  public URL (as behind a load balancer, so every one of them is the same issuer), and
  ``hws worker`` processes. Migrations run once, explicitly (``hws admin db upgrade``).
  :meth:`Cluster.scheduler_leader` names the process holding the scheduler's advisory lock.
- :class:`MotoProcess` is moto in server mode in a process of its own.
- :class:`OfficeClient` is an office uploading its packages as a well-behaved client
  does behind a load balancer: each with its own Idempotency-Key, retried with the same
  key after a connection error or a 503, on another API process when its own is gone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hws.auth.assertion import JWT_BEARER
from hws.client.assertion import sign_client_assertion
from hws.client.enrolment import generate, load_private_key
from hws.worker.scheduler import ADVISORY_KEY
from tests.support.load import read_events
from tests.support.s3 import CREDENTIALS, new_bucket, s3_client
from tests.support.servers import free_port, run_hws

#: The load balancer's address: the public URL (hence issuer and token audience) of every
#: API process. Clients reach the processes on their own ports.
PUBLIC_URL = "http://hws.test"
API_PREFIX = "/webservices/api/v1"


# --- object storage --------------------------------------------------------------------


class MotoProcess:
    """moto in server mode as a process of its own: the S3 endpoint of one test.

    (tests.support.s3 runs moto in the test process; here that process also runs ten
    clients, and S3 traffic from five processes would queue behind their GIL.)"""

    def __init__(self, log_path: Path) -> None:
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ, **CREDENTIALS}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start:\n{log_path.read_text(errors='replace')[-3000:]}") from None
                time.sleep(0.1)
        self.client = s3_client(self.endpoint)

    def new_bucket(self) -> str:
        return new_bucket(self.client)

    def env(self, bucket: str) -> dict[str, str]:
        """What an hws process needs to keep its blobs in ``bucket``."""
        return {
            **CREDENTIALS,
            "HWS_BLOB_STORE": "s3",
            "HWS_S3_BUCKET": bucket,
            "HWS_S3_ENDPOINT_URL": self.endpoint,
            "HWS_S3_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# --- processes -------------------------------------------------------------------------


@dataclass
class Node:
    """One process of the deployment."""

    name: str
    role: str  # "api" | "worker"
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str | None = None  # API processes: http://127.0.0.1:<port>
    killed_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup; the kernel closes its sockets."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.killed_at = time.monotonic()

    def wait_exit(self, timeout: float = 40) -> int:
        """The exit code; SIGKILL (code -9) if it is still running after ``timeout``."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        events = read_events(self.log_path)
        return [e for e in events if e.get("event") == name] if name else events


@dataclass(frozen=True)
class Office:
    """An enrolled client: what an office keeps."""

    client_id: str
    office: str
    examining: bool
    private_key: Path


class Cluster:
    """N API processes and M worker processes over ``database_url`` and S3 ``s3_env``."""

    def __init__(self, root: Path, database_url: str, s3_env: dict[str, str], **settings: str) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.database_url = database_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
        self.env.update(
            {
                "HWS_DATA_DIR": str(self.data_dir),
                "HWS_DATABASE_URL": database_url,
                "HWS_PUBLIC_URL": PUBLIC_URL,
                "HWS_AUTO_MIGRATE": "false",
                "HWS_LOG_FORMAT": "json",
                "HWS_CONFIG_HOME": str(root / "office-config"),
                # Many requests from one address: the limits have their own tests.
                "HWS_TOKEN_RATE_PER_MINUTE": "0",
                "HWS_RATE_LIMIT_PER_MINUTE": "0",
                "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
                "HWS_STRUCTURAL_ONLY_VERSIONS": "V6_0",  # no schema set installed
                **s3_env,
                **settings,
            }
        )
        self.nodes: list[Node] = []
        root.mkdir(parents=True, exist_ok=True)

    # Operator commands --------------------------------------------------------------------

    def hws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = run_hws(args, self.env, check=False)  # in this process: see RunningServer.hws
        if check and result.returncode != 0:
            raise AssertionError(f"hws {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def hws_json(self, *args: str) -> Any:
        return json.loads(self.hws(*args, "--json").stdout)

    def migrate(self) -> None:
        self.hws("admin", "db", "upgrade")

    def enrol(self, clients: dict[str, tuple[str, bool]]) -> list[Office]:
        """Enrol ``{client_id: (office, examining)}``: a key and certificate each, then the
        registry call ``hws admin clients add`` makes (in this process: ten CLI starts
        would cost more CPU than the rest of the set-up)."""
        from hws.domain.clock import SystemClock
        from hws.keys.certificates import read_certificate
        from hws.store.clients import ClientRegistry
        from hws.store.database import create_db_engine

        engine = create_db_engine(self.database_url, pool_size=1)
        registry = ClientRegistry(engine, SystemClock())
        offices = []
        try:
            for client_id, (office, examining) in clients.items():
                files = generate(client_id.upper(), self.root / "offices" / client_id)
                certificate = read_certificate(files.certificate.read_bytes())
                registry.add(
                    office=office, certificate=certificate, networks=["127.0.0.1/32"], examining=examining, client_id=client_id
                )
                offices.append(Office(client_id, office, examining, files.private_key))
        finally:
            engine.dispose()
        return offices

    # Processes -------------------------------------------------------------------------

    def _spawn(self, name: str, role: str, argv: list[str], env: dict[str, str], url: str | None = None) -> Node:
        log_path = self.root / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "hws", *argv], env=env, stdout=log, stderr=subprocess.STDOUT)
        node = Node(name, role, process, log_path, url)
        self.nodes.append(node)
        return node

    def start_api(self, name: str) -> Node:
        port = free_port()
        env = {**self.env, "HWS_WORKER_THREADS": "0"}
        argv = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn(name, "api", argv, env, f"http://127.0.0.1:{port}")

    def start_worker(self, name: str, threads: int = 1) -> Node:
        return self._spawn(name, "worker", ["worker", "--threads", str(threads)], dict(self.env))

    def wait_ready(self, nodes: list[Node], timeout: float = 60) -> None:
        """API processes answer /readyz with 200; workers have started their threads."""
        waiting = list(nodes)
        deadline = time.monotonic() + timeout
        while waiting:
            for node in list(waiting):
                if not node.alive():
                    raise RuntimeError(f"{node.name} exited with {node.process.returncode}:\n{node.log()[-4000:]}")
                if node.role == "api":
                    try:
                        ready = httpx.get(f"{node.url}/readyz", timeout=2).status_code == 200
                    except httpx.HTTPError:
                        ready = False
                else:
                    ready = "hws worker:" in node.log()
                if ready:
                    waiting.remove(node)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {timeout}s: {[n.name for n in waiting]}")
            time.sleep(0.1)

    @property
    def apis(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "api"]

    @property
    def workers(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "worker"]

    def stop(self) -> dict[str, int]:
        """SIGTERM every live process, once (they drain, then exit); their exit codes."""
        live = [n for n in self.nodes if n.alive()]
        for node in live:
            node.process.send_signal(signal.SIGTERM)
        return {node.name: node.wait_exit() for node in live}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each live process."""
        return {node.name: cpu for node in self.nodes if (cpu := process_cpu(node.pid)) is not None}

    # Who leads ----------------------------------------------------------------------------

    def scheduler_leader(self) -> Node | None:
        """The process whose database session holds the scheduler's advisory lock (in this
        database: advisory locks are per database): the lock's backend → its client port
        (pg_stat_activity) → the process owning that socket (/proc)."""
        import psycopg

        with psycopg.connect(self.database_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
            row = conn.execute(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1 "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                (ADVISORY_KEY >> 32, ADVISORY_KEY & 0xFFFFFFFF),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        inodes = _socket_inodes_by_local_port()
        wanted = inodes.get(int(row[0]), set())
        for node in self.nodes:
            if node.alive() and wanted & _socket_inodes_of(node.pid):
                return node
        return None


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a live process (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def _socket_inodes_by_local_port() -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            port = int(parts[1].rsplit(":", 1)[1], 16)
            out.setdefault(port, set()).add(int(parts[9]))
    return out


def _socket_inodes_of(pid: int) -> set[int]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if match := re.fullmatch(r"socket:\[(\d+)\]", target):
                found.add(int(match.group(1)))
    except OSError:
        pass
    return found


# --- offices ---------------------------------------------------------------------------


@dataclass
class Ack:
    """A package answered 202."""

    client: str
    number: int
    key: str  # the Idempotency-Key
    kind: str  # application | grant | refusal …
    import_id: str
    attempts: int  # requests it took (1: no retry)
    answered_by: str  # the API process (URL) that gave the 202
    replayed_import_id: str | None = None  # the answer to a deliberate second send with the same key
    replayed_by: str | None = None


@dataclass
class ClientStats:
    retries: Counter[str] = field(default_factory=Counter)  # reason → count
    failovers: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # unexpected statuses (never retried)


class GaveUp(RuntimeError):
    pass


#: What an office sends as package ``n``: (kind, ZIP bytes). May call the client's
#: :meth:`OfficeClient.get` first (an examining office looks up the IRN it decides on).
PackageMaker = Callable[["OfficeClient", int], tuple[str, bytes]]


class OfficeClient:
    """Sends ``count`` packages made by ``make`` one after the other from a thread.

    Starts on API process ``endpoints[first]``; after a connection error it moves to the
    next one (the load balancer taking it out). Every package has its own Idempotency-Key
    and keeps it through every retry. Every ``replay_every``-th package is sent a second
    time with the same key, to another API process, as a client does whose answer was lost.
    """

    def __init__(
        self,
        office: Office,
        endpoints: list[str],
        make: PackageMaker,
        *,
        count: int,
        first: int = 0,
        replay_every: int = 10,
        give_up_after: float = 90,
    ) -> None:
        self.office = office
        self.endpoints = endpoints
        self.make = make
        self.count = count
        self.replay_every = replay_every
        self.give_up_after = give_up_after
        self.acks: list[Ack] = []
        self.stats = ClientStats()
        self.error: BaseException | None = None
        self._current = first % len(endpoints)
        self._token: str | None = None
        self._run = secrets.token_hex(4)
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=3.0))
        self._thread = threading.Thread(target=self._main, name=f"office-{office.client_id}", daemon=True)
        self._key = load_private_key(office.private_key)

    @property
    def name(self) -> str:
        return self.office.client_id

    def start(self) -> OfficeClient:
        self._thread.start()
        return self

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"{self.name} still sending after {timeout}s ({len(self.acks)} acknowledged)")

    def _main(self) -> None:
        try:
            for n in range(self.count):
                kind, body = self.make(self, n)
                key = f"{self.name}-{self._run}-{n}"
                ack = self._submit(n, kind, key, body)
                if self.replay_every and n % self.replay_every == self.replay_every // 2:
                    self._replay(ack, body)
                self.acks.append(ack)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self._http.close()

    # Requests, with retries and failover ---------------------------------------------------

    def _failover(self, reason: str) -> None:
        self.stats.retries[reason] += 1
        self._current = (self._current + 1) % len(self.endpoints)
        self.stats.failovers += 1
        time.sleep(0.05)

    def _send(
        self, method: str, path: str, *, prefix: str = API_PREFIX, endpoint: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One logical request: retried on connection errors and 503 until an answer."""
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline:
            index = self._current if endpoint is None else endpoint
            base = self.endpoints[index]
            try:
                response = self._http.request(method, f"{base}{prefix}{path}", **kwargs)
            except httpx.TransportError as exc:
                if endpoint is not None:  # a pinned request: fall back to the client's own
                    endpoint = None
                    self.stats.retries[type(exc).__name__] += 1
                    continue
                self._failover(type(exc).__name__)
                continue
            if response.status_code in (503, 429):
                self.stats.retries[str(response.status_code)] += 1
                time.sleep(min(float(response.headers.get("retry-after", "1") or 1), 2.0))
                continue
            response.extensions["hws_endpoint"] = base
            return response
        raise GaveUp(f"{self.name}: {method} {path} unanswered for {self.give_up_after}s")

    def token(self, *, fresh: bool = False) -> str:
        if self._token is None or fresh:
            form = {
                "grant_type": "client_credentials",
                "client_assertion_type": JWT_BEARER,
                "client_assertion": sign_client_assertion(
                    self._key, client_id=self.office.client_id, audience=f"{PUBLIC_URL}/oauth2"
                ),
            }
            response = self._send("POST", "/oauth2/access_token", prefix="", data=form)
            if response.status_code != 200:
                raise GaveUp(f"{self.name}: token refused {response.status_code}: {response.text[:300]}")
            self._token = response.json()["access_token"]
        return self._token

    def _authorized(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[httpx.Response, int]:
        attempts = 0
        for _ in range(3):
            attempts += 1
            response = self._send(method, path, headers={**(headers or {}), "Authorization": f"Bearer {self.token()}"}, **kwargs)
            if response.status_code != 401:
                return response, attempts
            self.stats.retries["401"] += 1
            self.token(fresh=True)
        return response, attempts

    def get(self, path: str) -> httpx.Response:
        return self._authorized("GET", path)[0]

    def _post_package(self, key: str, body: bytes, endpoint: int | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/zip", "Idempotency-Key": key}
        before = sum(self.stats.retries.values())
        response, _ = self._authorized("POST", "/request", headers=headers, content=body, endpoint=endpoint)
        response.extensions["hws_attempts"] = 1 + sum(self.stats.retries.values()) - before
        return response

    def _submit(self, n: int, kind: str, key: str, body: bytes) -> Ack:
        response = self._post_package(key, body)
        if response.status_code != 202:
            self.stats.refused.append((response.status_code, response.text[:500]))
            raise GaveUp(f"{self.name} package {n}: {response.status_code} {response.text[:300]}")
        return Ack(
            self.name,
            n,
            key,
            kind,
            _import_id(response),
            response.extensions["hws_attempts"],
            response.extensions["hws_endpoint"],
        )

    def _replay(self, ack: Ack, body: bytes) -> None:
        other = (self.endpoints.index(ack.answered_by) + 1) % len(self.endpoints)
        response = self._post_package(ack.key, body, endpoint=other)
        if response.status_code != 202:
            self.stats.refused.append((response.status_code, response.text[:500]))
            raise GaveUp(f"{self.name} replay of {ack.number}: {response.status_code} {response.text[:300]}")
        ack.replayed_import_id = _import_id(response)
        ack.replayed_by = response.extensions["hws_endpoint"]


def _import_id(response: httpx.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[-1]


def text_of(body: bytes, element: str) -> str | None:
    """The text of the first ``<prefix:element>`` in an XML answer (no namespaces needed)."""
    match = re.search(rb"<(?:\w+:)?" + element.encode() + rb">([^<]*)<", body)
    return match.group(1).decode() if match else None
