"""What the benchmarks share: starting and stopping servers on loopback, finding the
binaries, reading a process's CPU time; the load generator's keep-alive HTTP/1.1 client,
the status-poll load (connections round-robin over one port per server process), seeding
applications through the API, and fresh PostgreSQL databases. Imported by the bench
scripts, which run from this folder (``.venv/bin/python bench/<name>.py``)."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, text=True, capture_output=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return result


def revision(checkout: Path) -> str:
    """The short commit id of ``checkout`` (its folder's name when git cannot say)."""
    found = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip() or checkout.name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], label: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{label} exited with {proc.returncode}; see {log}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{label} did not listen on {HOST}:{port} within {timeout:.0f}s; see {log}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop a server this script started (its own process group), politely first."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def hws_bin() -> Path:
    candidate = Path(sys.executable).parent / "hws"
    if candidate.exists():
        return candidate
    found = shutil.which("hws")
    if not found:
        raise SystemExit("the hws command is not found (run with the project's venv: .venv/bin/python)")
    return Path(found)


def nginx_bin() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_version(binary: str) -> str:
    result = subprocess.run([binary, "-v"], text=True, capture_output=True)
    return (result.stderr or result.stdout).strip().split("/")[-1]


def fresh_service_env(work: Path, base: str, **settings: str) -> tuple[Path, dict[str, str]]:
    """A fresh ``work`` folder with an empty data folder in it, and the environment of an
    ``hws`` serving it at ``base``: the caller's variables without any ``HWS_*``, rate
    limits off (one load generator, a few office clients), warnings only in the log, and
    ``settings`` (``HWS_*`` names)."""
    shutil.rmtree(work, ignore_errors=True)
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update({"HWS_DATA_DIR": str(data_dir), "HWS_PUBLIC_URL": base, "HWS_LOG_LEVEL": "WARNING",
                "HWS_RATE_LIMIT_PER_MINUTE": "0", "HWS_TOKEN_RATE_PER_MINUTE": "0", "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
                **settings})  # fmt: skip
    return data_dir, env


def process_tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by ``pid`` and its live children (Linux)."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime, stime
        todo.extend(children.get(current, []))
    return total / tick


# The load generator's HTTP client and status-poll load, shared by soak.py and status_polls.py


class Connection:
    """One keep-alive HTTP/1.1 connection (asyncio, TCP_NODELAY); answers are read whole."""

    timeout = 30.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.last_used = 0.0  # perf_counter() at the end of the last answer
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def open(self) -> None:
        """Connect now (a request connects when it finds no connection)."""
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def _request(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            data = bytes(body)
        elif "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif status in (204, 304):
            data = b""
        else:
            data = await self.reader.read()
            headers["connection"] = "close"
        if "close" in headers.get("connection", "").lower():
            self.close()
        return status, headers, data

    async def request(self, raw: bytes) -> tuple[int, dict[str, str], bytes, str | None]:
        """(status, headers, body, problem); status 0 when there was no answer."""
        try:
            status, headers, body = await asyncio.wait_for(self._request(raw), self.timeout)
            self.last_used = time.perf_counter()
            return status, headers, body, None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            return 0, {}, b"", f"{type(exc).__name__}: {exc}"


def get(path: str, token: str, extra: str = "", scheme: str = "Bearer") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {scheme} {token}\r\nAccept: */*\r\n{extra}\r\n").encode(
        "latin-1"
    )


def post(path: str, body: bytes, content_type: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def percentile(values: Any, p: float) -> float:
    if not len(values):
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # nearest rank
    return ordered[int(rank) - 1]


PG_ADMIN = os.environ.get("HWS_SOAK_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def create_database(prefix: str = "hws_soak") -> tuple[str, str]:
    """A fresh PostgreSQL database on ``PG_ADMIN``'s server: (name, SQLAlchemy URL)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with pg_connect(PG_ADMIN) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise SystemExit(f"PostgreSQL is needed at {PG_ADMIN} (set HWS_SOAK_PG): {type(exc).__name__}: {exc}") from None
    base = PG_ADMIN.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


def drop_database(name: str) -> None:
    with pg_connect(PG_ADMIN) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Resource:
    """A polled resource: its path, the bearer token to send, the ETag last seen."""

    path: str
    token: str
    etag: str | None = None


@dataclass
class PollPhase:
    label: str
    count: int = 0
    errors: int = 0
    not_modified: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    per_port: dict[int, int] = field(default_factory=dict)  # requests answered by each port

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


async def poll_load(
    ports: list[int],
    resources: list[Resource],
    conns: int,
    seconds: float,
    revalidate: float,
    label: str,
    seed: int = 0,
    prove: Any = None,
) -> PollPhase:
    """``conns`` keep-alive connections in a closed loop for ``seconds``, connection ``i`` to
    ``ports[i % len(ports)]`` (a deterministic plan: one port per server process, no shared
    listening socket), each request for a resource drawn at random; a share ``revalidate``
    of them carry the ETag got before (``If-None-Match``: 304 expected when unchanged).
    ``prove(resource)``: a DPoP proof for each request (the token then goes with the DPoP
    scheme), signed when the request is made."""
    phase = PollPhase(label, per_port={p: 0 for p in ports})
    rng = random.Random(seed or len(resources))
    stop_at = time.perf_counter() + seconds

    async def one(port: int) -> None:
        connection = Connection(port)
        try:
            while time.perf_counter() < stop_at:
                resource = resources[rng.randrange(len(resources))]
                extra = f"If-None-Match: {resource.etag}\r\n" if resource.etag and rng.random() < revalidate else ""
                started = time.perf_counter()
                if prove is None:
                    raw = get(resource.path, resource.token, extra)
                else:
                    raw = get(resource.path, resource.token, f"{extra}DPoP: {prove(resource)}\r\n", "DPoP")
                status, headers, _body, problem = await connection.request(raw)
                phase.latencies.append((time.perf_counter() - started) * 1000)
                phase.count += 1
                phase.per_port[port] += 1
                if status == 304:
                    phase.not_modified += 1
                elif status == 200:
                    resource.etag = headers.get("etag", resource.etag)
                else:
                    phase.errors += 1
                    if phase.errors <= 3:
                        print(f"  {label}: {status} {problem or ''}", file=sys.stderr)
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(ports[i % len(ports)]) for i in range(conns)))
    phase.seconds = time.perf_counter() - began
    return phase


def seed_applications(base: str, clients: list[tuple[str, Any]], per_office: int, folder: Path, tag: str,
                      threads: int = 8) -> list[tuple[str, str, str]]:  # fmt: skip
    """Send ``per_office`` applications for each ``(office, HagueClient)`` through the real API
    and wait until each is imported: ``(office, import path, service request path)`` each."""
    from concurrent.futures import ThreadPoolExecutor

    from hws.st96.examples import example_package

    api = "/webservices/api/v1"
    folder.mkdir(parents=True, exist_ok=True)

    def send(job: tuple[str, Any, int]) -> tuple[str, Any, str, str]:
        code, client, n = job
        path = folder / f"{code}-{tag}-{n}.zip"
        path.write_bytes(example_package("application", office=code, office_reference=f"{code}-{tag}-{n}", deferment=None))
        import_id = client.submit(path).import_id
        path.unlink()
        return code, client, import_id, path.name

    def wait(sent: tuple[str, Any, str, str]) -> tuple[str, str, str]:
        code, client, import_id, name = sent
        status = client.wait_for_import(import_id, timeout=600)
        if not status.imported or not status.srn:
            raise SystemExit(f"seeding: {name} was {status.status}: {status.problems}")
        return code, f"{api}/request/import/{status.import_id}", f"{api}/request/{status.srn}"

    jobs = [(code, client, n) for n in range(per_office) for code, client in clients]
    with ThreadPoolExecutor(threads) as pool:  # every package sent first, then each import awaited
        return list(pool.map(wait, list(pool.map(send, jobs))))
