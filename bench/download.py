"""Bulletin download (``GET /webservices/api/v1/publication/bulletin/{weekId}``): throughput
of hws against nginx serving the same file, in one run, on this machine, over loopback.

Setup (the "simplest honest way"): a fresh data folder, migrated; a file of random bytes
(1 GiB by default, ``--quick`` 256 MiB) written into the filesystem blob store with
``FilesystemBlobStore.writer()`` and recorded as the bulletin of week ``BENCH_WEEK``
with ``hws.store.publications.insert`` + ``hws.store.imports.reference_blob`` in one
transaction — exactly the rows :class:`hws.usecases.publishing.Publisher` writes. The bytes
are not a real bulletin (the download path never looks inside; random bytes defeat any
compression on the way). hws serves it through the real route (bearer token checked,
publication looked up, ``blob_response``) from ``hws serve`` (``HWS_WORKER_THREADS=0``,
``HWS_SCHEDULER=false``), one process, on a free loopback port; the client is enrolled
with ``hws keygen`` + ``hws admin clients add`` and gets its token with the office kit.

nginx (``apt-get install -y nginx``) runs as the current user in a prefix under
``bench/.work/download/`` (``master_process off``, one worker, ``daemon off``) and serves
**the blob file itself** (``alias`` to its path in the store) at two URLs: ``/sendfile``
with ``sendfile on`` (nginx's zero-copy path, what a production nginx uses) and
``/read`` with ``sendfile off`` (read into user space and written, like hws; default
``output_buffers 2 32k``). Both are reported; ``hws/nginx`` uses the sendfile row.

Clients: ``curl -sS -o /dev/null -w ...`` (HTTP/1.1, one connection per download) and a
minimal Python socket client (``recv_into`` a 4 MiB buffer, bytes counted and dropped),
which costs less CPU per byte than curl and so shows whether the server or the client is
the limit. Throughput = bytes over the time from connect to the last byte; median of
``--reps`` rounds; in each round every client downloads from every server (the order of
servers rotates round by round, so drift and other load on the machine hit all alike).
The file is in the page cache for everyone (one untimed warm-up download per server,
which also checks the sha-256 of what arrives and hws's ETag/Accept-Ranges/Content-Length).
Each round also does a **resumed download**: ``Range: bytes=<middle>-`` (and
``If-Range: <ETag>`` for hws, as the office kit sends it), checked for 206 and the right
number of bytes. Server CPU seconds per GiB come from ``/proc/PID/stat``, the client's
from ``getrusage``.

For investigation: ``--profile SECONDS`` (py-spy of the hws server under back-to-back
downloads), ``--hws-chunk-kib N`` (the server with ``hws.api.downloads.CHUNK`` = N KiB),
``--hws-patch FILE`` (exec FILE in the server before it starts).

Target (reported, not asserted): hws ≥ 0.8 × nginx (sendfile on).

Run from the repository root::

    .venv/bin/python bench/download.py            # about a minute
    .venv/bin/python bench/download.py --quick    # ~20 seconds

Exit status 0 when every download was correct, 2 when a tool is missing; a server that
misbehaves or a wrong byte count stops the run with a message (status 1). Work files (the
data folder with the blob, the nginx prefix, logs) live in
``bench/.work/download/`` (git-ignored) and are deleted at the end (``--keep`` keeps them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness import free_port, hws_bin, nginx_bin, nginx_version, proc_cpu_seconds, run, stop, wait_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"  # loopback only, always
CLIENT_ID = "bench"
BENCH_WEEK = "202601"
MiB = 1024 * 1024
GiB = 1024 * MiB
TARGET_RATIO = 0.8
API = "/webservices/api/v1"
CURL_FORMAT = "%{http_code} %{time_total} %{size_download} %{speed_download}"
TIMEOUT = 600


# Small helpers ------------------------------------------------------------------------


# utime + stime


def size_label(n: int) -> str:
    return f"{n / MiB:.0f} MiB" if n < GiB else f"{n / GiB:.0f} GiB"


# The bulletin in hws's data folder ----------------------------------------------------


@dataclass(frozen=True)
class Bulletin:
    path: Path  # the blob file in the store
    size: int
    sha256: str


def record_bulletin(data_dir: Path, size: int) -> Bulletin:
    """A ``size``-byte blob recorded as the bulletin of ``BENCH_WEEK``, as the publisher records one."""
    from hws.config import Settings
    from hws.store import imports as import_store
    from hws.store import migration
    from hws.store import publications as pub_store
    from hws.store.blobs import FilesystemBlobStore
    from hws.store.database import create_db_engine

    settings = Settings(data_dir=data_dir)
    assert settings.database_url is not None
    engine = create_db_engine(settings.database_url)
    try:
        migration.upgrade(engine)
        store = FilesystemBlobStore(settings.blobs_dir)
        writer = store.writer()
        try:
            left = size
            while left:
                chunk = os.urandom(min(8 * MiB, left))
                writer.write(chunk)
                left -= len(chunk)
            ref = writer.commit()
        except BaseException:
            writer.abort()
            raise
        now = datetime.now(UTC)
        record = pub_store.Publication(pub_store.BULLETIN, BENCH_WEEK, "", ref.sha256, ref.size, 1, 0, now)
        with engine.begin() as conn:
            import_store.reference_blob(conn, ref.sha256, ref.size, now)
            if not pub_store.insert(conn, record):
                raise SystemExit(f"week {BENCH_WEEK} is already published in {data_dir}")
    finally:
        engine.dispose()
    return Bulletin(store.path_for(ref.sha256), ref.size, ref.sha256)


# Servers ------------------------------------------------------------------------------


@dataclass
class Target:
    """One URL to download, and the process whose CPU it costs."""

    name: str
    url: str
    pid: int
    headers: list[str] = field(default_factory=list)
    if_range: str | None = None  # sent with resumed downloads


class HwsServer:
    def __init__(self, work: Path, data: Path, chunk: int | None = None, patch: Path | None = None) -> None:
        self.work, self.data, self.chunk, self.patch = work, data, chunk, patch
        self.log = work / "logs" / "hws.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Target:
        from hws.client import HagueClient  # the office kit, only for the token

        keys = self.work / "client"
        run([str(hws_bin()), "keygen", "--name", "BENCH", "--out", str(keys), "--force"])
        port = free_port()
        public_url = f"http://{HOST}:{port}"
        env = {
            **os.environ,
            "HWS_DATA_DIR": str(self.data),
            "HWS_PUBLIC_URL": public_url,
            "HWS_WORKER_THREADS": "0",
            "HWS_RATE_LIMIT_PER_MINUTE": "0",
            "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
            "HWS_SCHEDULER": "false",
        }
        run([str(hws_bin()), "admin", "init"], env=env)  # operator commands never create a database unasked
        added = run(
            [str(hws_bin()), "admin", "clients", "add", "--cert", str(keys / "cert.pem"), "--office", "KR",
             "--ip", f"{HOST}/32", "--client-id", CLIENT_ID, "--json"],
            env=env,
        )  # fmt: skip
        json.loads(added.stdout)  # it is JSON, or the CLI changed
        command = [str(hws_bin()), "serve", "--host", HOST, "--port", str(port)]
        if self.chunk or self.patch:  # an experiment: the same server, patched before it starts
            code = "import sys, hws.api.downloads as d\n"
            if self.chunk:
                code += f"d.CHUNK = {self.chunk}\n"
            if self.patch:
                code += f"exec(compile(open({str(self.patch)!r}).read(), {str(self.patch)!r}, 'exec'), {{'downloads': d}})\n"
            code += "from hws.cli.main import main\nsys.argv[0] = 'hws'\nsys.exit(main())\n"
            command = [sys.executable, "-c", code, *command[1:]]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_port(port, self.proc, "hws", self.log)
        issuer = f"{public_url}/oauth2"
        deadline = time.monotonic() + 30
        while httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"hws discovery does not answer; see {self.log}")
            time.sleep(0.2)
        token = HagueClient(issuer=issuer, client_id=CLIENT_ID, private_key=keys / "private_key.pem").token()
        url = f"{public_url}{API}/publication/bulletin/{BENCH_WEEK}"
        head = httpx.head(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if head.status_code != 200:
            raise SystemExit(f"hws answers {head.status_code} to HEAD {url}; see {self.log}")
        return Target("hws", url, self.proc.pid, [f"Authorization: Bearer {token}"], head.headers["etag"])

    def stop(self) -> None:
        stop(self.proc)


NGINX_CONF = """\
# Written by bench/download.py. One process, the current user, no privilege drop.
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type application/zip;
    server {{
        listen {host}:{port};
        # The blob file of the hws store itself, two ways.
        location = /sendfile {{ sendfile on; alias {blob}; }}
        location = /read {{ sendfile off; alias {blob}; }}
    }}
}}
"""


class NginxServer:
    def __init__(self, binary: str, work: Path, blob: Path) -> None:
        self.binary, self.blob = binary, blob
        self.prefix = work / "nginx"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> list[Target]:
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=self.prefix, host=HOST, port=port, blob=self.blob))
        base = [self.binary, "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(conf)]
        check = subprocess.run([*base, "-t"], text=True, capture_output=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx rejects its configuration {conf}:\n{check.stderr}")
        log = self.prefix / "stderr.log"
        self.proc = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_port(port, self.proc, "nginx", log)
        pid = self.proc.pid
        return [
            Target("nginx sendfile on", f"http://{HOST}:{port}/sendfile", pid),
            Target("nginx sendfile off", f"http://{HOST}:{port}/read", pid),
        ]

    def stop(self) -> None:
        stop(self.proc, signal.SIGQUIT)  # graceful shutdown for nginx


# The client ---------------------------------------------------------------------------


@dataclass
class Download:
    status: int
    seconds: float
    size: int
    cpu: float  # server CPU seconds
    client_cpu: float  # client CPU seconds

    @property
    def mib_s(self) -> float:
        return self.size / MiB / self.seconds


def curl(target: Target, start: int | None = None) -> Download:
    headers = list(target.headers)
    if start is not None:
        headers.append(f"Range: bytes={start}-")
        if target.if_range:
            headers.append(f"If-Range: {target.if_range}")
    cmd = ["curl", "-sS", "--max-time", str(TIMEOUT), "-o", "/dev/null", "-w", CURL_FORMAT]
    for h in headers:
        cmd += ["-H", h]
    cpu0, child0 = proc_cpu_seconds(target.pid), children_cpu_seconds()
    result = subprocess.run([*cmd, target.url], text=True, capture_output=True, timeout=TIMEOUT + 30)
    cpu, client = proc_cpu_seconds(target.pid) - cpu0, children_cpu_seconds() - child0
    if result.returncode != 0:
        raise SystemExit(f"curl failed ({result.returncode}) on {target.url}: {result.stderr.strip()}")
    status, seconds, size, _speed = result.stdout.split()
    return Download(int(status), float(seconds), int(float(size)), cpu, client)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def socket_get(target: Target, start: int | None = None) -> Download:
    """The same GET with a minimal client: one socket, ``recv_into`` a 4 MiB buffer, the
    bytes counted and dropped. Much cheaper per byte than curl, so it shows whether a
    server (rather than the client) is the limit. Timed from connect to the last byte."""
    headers = [f"Host: {HOST}", "User-Agent: bench-download", "Accept: */*", *target.headers]
    if start is not None:
        headers.append(f"Range: bytes={start}-")
        if target.if_range:
            headers.append(f"If-Range: {target.if_range}")
    path = "/" + target.url.split("/", 3)[3]
    port = int(target.url.split("/")[2].split(":")[1])
    request = (f"GET {path} HTTP/1.1\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n").encode()
    buffer = bytearray(4 * MiB)
    view = memoryview(buffer)
    cpu0, self0 = proc_cpu_seconds(target.pid), time.process_time()
    started = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=60) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n\r\n" not in head:
            n = sock.recv_into(view)
            if not n:
                raise SystemExit(f"{target.name}: connection closed in the headers")
            head += bytes(view[:n])
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(fields["content-length"])
        got = len(rest)
        while got < length:
            n = sock.recv_into(view)
            if not n:
                break
            got += n
    seconds = time.perf_counter() - started
    return Download(status, seconds, got, proc_cpu_seconds(target.pid) - cpu0, time.process_time() - self0)


def verify(target: Target, bulletin: Bulletin) -> dict[str, str]:
    """An untimed download whose bytes are hashed (it also warms the page cache); returns
    the response headers of a HEAD request."""
    cmd = ["curl", "-sS", "--max-time", str(TIMEOUT)]
    for h in target.headers:
        cmd += ["-H", h]
    digest = hashlib.sha256()
    size = 0
    with subprocess.Popen([*cmd, target.url], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(4 * MiB):
            digest.update(chunk)
            size += len(chunk)
    if proc.returncode != 0 or size != bulletin.size or digest.hexdigest() != bulletin.sha256:
        raise SystemExit(
            f"{target.name}: the downloaded bytes differ from the bulletin ({size} bytes, sha-256 {digest.hexdigest()})"
        )
    head = httpx.head(target.url, headers=dict(h.split(": ", 1) for h in target.headers), timeout=10)
    return dict(head.headers)


# Measuring and reporting --------------------------------------------------------------


CLIENTS = {"curl": curl, "socket": socket_get}
Results = dict[str, dict[str, dict[str, list[Download]]]]  # client → kind (full/resumed) → server → downloads


def measure(targets: list[Target], bulletin: Bulletin, reps: int, clients: list[str]) -> Results:
    """``reps`` rounds; in each, every client downloads from every server (the server order
    rotates round by round), the whole file and then the second half (Range)."""
    middle = bulletin.size // 2
    results: Results = {c: {"full": {t.name: [] for t in targets}, "resumed": {t.name: [] for t in targets}} for c in clients}
    for rep in range(reps):
        order = targets[rep % len(targets) :] + targets[: rep % len(targets)]
        for client in clients:
            get = CLIENTS[client]
            for target in order:
                d = get(target)
                if d.status != 200 or d.size != bulletin.size:
                    raise SystemExit(f"{target.name} ({client}): full download answered {d.status} with {d.size} bytes")
                results[client]["full"][target.name].append(d)
                r = get(target, start=middle)
                if r.status != 206 or r.size != bulletin.size - middle:
                    raise SystemExit(f"{target.name} ({client}): resumed download answered {r.status} with {r.size} bytes")
                results[client]["resumed"][target.name].append(r)
    return results


def median_rate(ds: list[Download]) -> float:
    return statistics.median(d.mib_s for d in ds)


def cpu_per_gib(ds: list[Download], client: bool = False) -> float:
    return statistics.median((d.client_cpu if client else d.cpu) * GiB / d.size for d in ds)


def _cell(ds: list[Download]) -> str:
    rates = [d.mib_s for d in ds]
    return f"{statistics.median(rates):>6.0f} ({min(rates):>5.0f}-{max(rates):<5.0f})"


def report(results: Results, bulletin: Bulletin, meta: dict[str, Any]) -> None:
    ratios: dict[str, dict[str, float]] = {}
    for client, kinds in results.items():
        full, resumed = kinds["full"], kinds["resumed"]
        print()
        print(f"== client {client}: {size_label(bulletin.size)} bulletin, MiB/s (median of {meta['reps']}; min-max) ==")
        print(f"{'server':<20}{'full (200)':>22}{'resumed (206, 2nd half)':>26}{'server CPU s/GiB':>18}{'client CPU s/GiB':>18}")
        for name in full:
            print(
                f"{name:<20}{_cell(full[name]):>22}{_cell(resumed[name]):>26}{cpu_per_gib(full[name]):>18.2f}{cpu_per_gib(full[name], True):>18.2f}"
            )
        if "hws" not in full or len(full) == 1:
            continue
        hws = median_rate(full["hws"])
        ratios[client] = {}
        for name in full:
            if name == "hws":
                continue
            ratio = ratios[client][name] = hws / median_rate(full[name])
            line = f"  hws / {name:<19} = {ratio:.2f}x"
            if name == "nginx sendfile on":
                line += f"  ({'meets' if ratio >= TARGET_RATIO else 'below'} the {TARGET_RATIO}x target)"
            print(line)
        print(f"  hws resumed / hws full      = {median_rate(resumed['hws']) / hws:.2f}x")
    print()
    print("JSON " + json.dumps({
        "size": bulletin.size,
        "mib_s": {c: {k: {n: [round(d.mib_s, 1) for d in ds] for n, ds in by.items()} for k, by in kinds.items()} for c, kinds in results.items()},
        "server_cpu_s_per_gib": {c: {n: round(cpu_per_gib(ds), 3) for n, ds in kinds["full"].items()} for c, kinds in results.items()},
        "client_cpu_s_per_gib": {c: {n: round(cpu_per_gib(ds, True), 3) for n, ds in kinds["full"].items()} for c, kinds in results.items()},
        "ratios": ratios,
        **meta,
    }))  # fmt: skip


def profile(target: Target, bulletin: Bulletin, seconds: float, work: Path) -> None:
    """py-spy the hws server (GIL-holding and idle samples, native frames off) while the
    socket client downloads the bulletin back to back; print the hottest frames."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(spy, os.X_OK):
        print("--profile needs py-spy (pip install py-spy)", file=sys.stderr)
        return
    out = work / "profile.txt"
    proc = subprocess.Popen(
        [spy, "record", "-p", str(target.pid), "-d", str(int(seconds)), "-r", "250", "--format", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)
    downloads = 0
    deadline = time.monotonic() + seconds - 1.5
    while time.monotonic() < deadline:
        socket_get(target)
        downloads += 1
    _, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0 or not out.exists():
        print(f"py-spy failed: {err.decode(errors='replace').strip()[-500:]}", file=sys.stderr)
        return
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    print(f"\n== py-spy of hws while it served {downloads} full downloads ({total} samples, all threads, idle included) ==")
    print("self %   frame")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{100 * n / total:6.1f}   {frame}")
    print("incl %   frame (hws and starlette/uvicorn frames only)")
    interesting = [(f, n) for f, n in inclusive.items() if any(k in f for k in ("hws/", "starlette/", "uvicorn/", "anyio/"))]
    for frame, n in sorted(interesting, key=lambda kv: -kv[1])[:15]:
        print(f"{100 * n / total:6.1f}   {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 256 MiB bulletin, 3 rounds")
    parser.add_argument("--size-mib", type=int, help="bulletin size in MiB (default 1024; --quick 256)")
    parser.add_argument("--reps", type=int, help="rounds: each server once per round (default 5; --quick 3)")
    parser.add_argument("--clients", default="curl,socket", help="download clients, comma-separated: curl, socket (default both)")
    parser.add_argument("--hws-chunk-kib", type=int, help="experiment: serve with hws.api.downloads.CHUNK set to this many KiB")
    parser.add_argument(
        "--hws-patch",
        type=Path,
        metavar="FILE",
        help="experiment: exec FILE (with `downloads` = hws.api.downloads) in the server before it starts",
    )
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="after the runs, py-spy the hws server for SECONDS of socket-client downloads and print its hottest frames",
    )
    parser.add_argument("--skip-nginx", action="store_true", help="only hws (no ratio)")
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/download")
    args = parser.parse_args()
    size = (args.size_mib or (256 if args.quick else 1024)) * MiB
    reps = args.reps or (3 if args.quick else 5)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if not clients or any(c not in CLIENTS for c in clients):
        parser.error(f"--clients: choose from {', '.join(CLIENTS)}")

    if shutil.which("curl") is None:
        print("curl is needed as the download client: apt-get install -y curl", file=sys.stderr)
        return 2
    nginx = None if args.skip_nginx else nginx_bin()
    if not args.skip_nginx and nginx is None:
        print(
            "nginx is needed for the throughput anchor and is not installed.\n"
            "  Debian/Ubuntu: apt-get install -y nginx   (the script runs it itself; no service is needed)\n"
            "  or run with --skip-nginx for hws alone.",
            file=sys.stderr,
        )
        return 2

    work = HERE / ".work" / "download"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    free = shutil.disk_usage(work).free
    if free < size + 512 * MiB:
        print(
            f"not enough disk space in {work}: {free / MiB:.0f} MiB free, {(size + 512 * MiB) / MiB:.0f} MiB needed",
            file=sys.stderr,
        )
        return 2
    hws = nginx_server = None
    try:
        data = work / "hws-data"
        print(f"recording a {size_label(size)} blob as the bulletin of week {BENCH_WEEK} in {data} ...", flush=True)
        bulletin = record_bulletin(data, size)
        meta: dict[str, Any] = {
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
            "python": platform.python_version(),
            "curl": subprocess.run(["curl", "--version"], text=True, capture_output=True).stdout.split()[1],
            "reps": reps,
        }
        hws = HwsServer(
            work,
            data,
            args.hws_chunk_kib * 1024 if args.hws_chunk_kib else None,
            args.hws_patch.resolve() if args.hws_patch else None,
        )
        if args.hws_patch:
            meta["hws_patch"] = str(args.hws_patch)
        if args.hws_chunk_kib:
            meta["hws_chunk_kib"] = args.hws_chunk_kib
        targets = [hws.start()]
        if nginx:
            meta["nginx"] = nginx_version(nginx)
            nginx_server = NginxServer(nginx, work, bulletin.path)
            targets += nginx_server.start()
        meta["load_before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print("warming the page cache and checking the bytes (one untimed download per server) ...", flush=True)
        for target in targets:
            headers = verify(target, bulletin)
            if target.name == "hws":
                expect = {"etag": f'"{bulletin.sha256}"', "accept-ranges": "bytes", "content-length": str(bulletin.size)}
                wrong = {k: headers.get(k) for k, v in expect.items() if headers.get(k) != v}
                if wrong:
                    raise SystemExit(f"hws's headers are not as expected: {wrong}")
        print(
            f"downloading: {reps} rounds x {len(targets)} servers x clients {', '.join(clients)}, full + resumed from the middle ...",
            flush=True,
        )
        results = measure(targets, bulletin, reps, clients)
        meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"\nmachine: {meta['machine']}; python {meta['python']}; curl {meta['curl']}"
            + (f"; nginx {meta['nginx']}" if nginx else "")
            + f"\nload average (1/5/15 min) before {meta['load_before']}, after {meta['load_after']}"
        )
        report(results, bulletin, meta)
        if args.profile:
            profile(targets[0], bulletin, args.profile, work)
    finally:
        if hws is not None:
            hws.stop()
        if nginx_server is not None:
            nginx_server.stop()
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
