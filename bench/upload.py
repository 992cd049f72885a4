"""Package upload (``POST /webservices/api/v1/request``): server memory and throughput, in one run.

What it shows, on this machine:

1. **Peak RSS of the hws server stays under 150 MiB and does not grow with the package.**
   hws streams the body into the blob store (temp file, sha-256 while streaming, fsync,
   rename, then the database transaction, then 202). The script uploads a 100 MiB and a
   1 GiB body (``--quick``: 16 MiB and 128 MiB) and reads the server's peak resident set
   size from ``/proc/PID/status`` (``VmHWM``), reset before each size through
   ``/proc/PID/clear_refs`` (``5``), with a 20 ms ``VmRSS`` sampler as a cross-check.
2. **Throughput as a ratio against nginx** receiving the same bodies to disk: nginx
   (``apt-get install -y nginx``), configured by this script in a temporary prefix on a
   free loopback port, one process running as the current user (``master_process off``,
   ``daemon off``). Its location ``/upload`` has ``client_body_in_file_only on`` and
   ``proxy_pass`` to a second, local nginx server that answers 202 at once;
   ``proxy_pass_request_body off`` keeps nginx from re-sending the body upstream, but
   the proxy module still reads the whole body into a temp file under
   ``client_body_temp_path`` before it contacts the upstream (request buffering). That
   path is on the same filesystem as the hws data folder. The script checks, for every
   nginx upload, that the file named by ``$request_body_file`` exists with the right size
   (and the right sha-256 for the first upload of each size), then deletes it.

   nginx never fsyncs a body file; hws fsyncs every blob before it answers. So the report
   also has an **nginx+fsync** line: the same upload, plus an ``fsync`` of nginx's body
   file by this script right after the answer, timed together. ``hws/nginx`` is the
   headline ratio (target ≥ 0.5×, reported, not asserted); ``hws/nginx+fsync`` compares
   like with like on durability.

One client for both servers: ``curl -T file -X POST`` (streams the file from disk; curl
holds one buffer, never the body), ``Expect:`` disabled so neither server pays a
100-continue round trip, ``Content-Type: application/zip``. Throughput is the body size
over curl's ``time_total`` (connect to last response byte), median of ``--reps`` uploads
per size; ``sync`` runs between uploads (outside the timed window) so no upload pays for
the previous one's dirty pages. hws runs with ``HWS_WORKER_THREADS=0`` so no validation
runs during the bench (the bodies are random bytes, not ZIPs: the upload does not care).
The servers run one at a time.

Run from the repository root::

    .venv/bin/python bench/upload.py            # about 2-4 minutes
    .venv/bin/python bench/upload.py --quick    # well under a minute

Exit status: 0 when the memory claim holds (peak RSS < 150 MiB for every size and
growth from the smallest to the largest size < 16 MiB), 1 when it does not, 2 when a
tool is missing or a server misbehaves. Work files (bodies, data folders, nginx prefix)
live in ``bench/.work/upload/`` (git-ignored) and are deleted at the end (``--keep`` to
keep them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import free_port, hws_bin, nginx_bin, nginx_version, proc_cpu_seconds, run, stop, wait_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = "127.0.0.1"  # loopback only, always
CLIENT_ID = "bench"
MiB = 1024 * 1024
RSS_LIMIT_MIB = 150.0
RSS_GROWTH_LIMIT_MIB = 16.0
TARGET_RATIO = 0.5
API_PATH = "/webservices/api/v1/request"
CURL_FORMAT = "%{http_code} %{time_total} %{size_upload}"
UPLOAD_TIMEOUT = 600


# Small helpers ------------------------------------------------------------------------


def sync() -> None:
    os.sync()


def mib(n: float) -> str:
    return f"{n / MiB:.0f} MiB" if n < 1024 * MiB else f"{n / (1024 * MiB):.0f} GiB"


# Memory of a process, from /proc ------------------------------------------------------


def proc_status_kib(pid: int, field_name: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


# utime + stime


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, ``echo 5 > /proc/PID/clear_refs``)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Largest VmRSS seen every ``interval`` seconds, a cross-check for VmHWM."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.max_kib = max(self.max_kib, proc_status_kib(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# Bodies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    path: Path
    size: int
    sha256: str


def make_body(path: Path, size: int) -> Body:
    """A file of random bytes, written in 8 MiB blocks (never whole in memory)."""
    digest = hashlib.sha256()
    block = 8 * MiB
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(block, left))
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return Body(path, size, digest.hexdigest())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


# The client: curl, streaming the file ------------------------------------------------


@dataclass
class Upload:
    status: int
    seconds: float
    uploaded: int
    response: bytes


def curl_upload(url: str, body: Body, out: Path, headers: list[str]) -> Upload:
    header_file = out.with_suffix(".headers")
    header_file.write_text("\n".join(["Content-Type: application/zip", "Expect:", *headers]) + "\n")
    cmd = [
        "curl", "-sS", "--max-time", str(UPLOAD_TIMEOUT), "-X", "POST", "-T", str(body.path),
        "-H", f"@{header_file}", "-o", str(out), "-w", CURL_FORMAT, url,
    ]  # fmt: skip
    result = subprocess.run(cmd, text=True, capture_output=True, timeout=UPLOAD_TIMEOUT + 30)
    header_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise SystemExit(f"curl failed ({result.returncode}) on {url}: {result.stderr.strip()}")
    status, seconds, uploaded = result.stdout.split()
    response = out.read_bytes() if out.exists() else b""
    out.unlink(missing_ok=True)
    return Upload(int(status), float(seconds), int(float(uploaded)), response)


# Results -------------------------------------------------------------------------------


@dataclass
class Series:
    server: str
    size: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # server CPU per upload

    def rates(self) -> list[float]:
        return [self.size / MiB / s for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.rates())

    def cpu_per_gib(self) -> float:
        if not self.cpu_seconds:
            return float("nan")
        return statistics.median(self.cpu_seconds) * (1024 * MiB) / self.size


@dataclass
class Memory:
    size: int
    baseline_kib: int
    peak_kib: int  # VmHWM after the uploads of this size
    sampled_kib: int  # largest VmRSS seen by the sampler
    hwm_reset: bool


# hws ----------------------------------------------------------------------------------


class HwsServer:
    """``hws serve``, one process, SQLite and a data folder under ``work``."""

    name = "hws"

    def __init__(self, work: Path, largest: int, log_dir: Path) -> None:
        self.work, self.largest, self.log = work, largest, log_dir / "hws.log"
        self.data = work / "hws-data"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.headers: list[str] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        from hws.client import HagueClient  # the office kit, only for the token

        keys = self.work / "client"
        run([str(hws_bin()), "keygen", "--name", "BENCH", "--out", str(keys), "--force"])
        port = free_port()
        public_url = f"http://{HOST}:{port}"
        env = {
            **os.environ,
            "HWS_DATA_DIR": str(self.data),
            "HWS_PUBLIC_URL": public_url,
            "HWS_MAX_PACKAGE_BYTES": str(self.largest + 64 * MiB),
            # a package may not be larger than the ZIP limits let it be read (hws refuses to start otherwise)
            "HWS_ZIP_MAX_TOTAL_BYTES": str(self.largest + 64 * MiB),
            "HWS_WORKER_THREADS": "0",
            "HWS_RATE_LIMIT_PER_MINUTE": "0",
            "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
        }
        run([str(hws_bin()), "admin", "init"], env=env)  # operator commands never create a database unasked
        run(
            [str(hws_bin()), "admin", "clients", "add", "--cert", str(keys / "cert.pem"), "--office", "KR",
             "--ip", f"{HOST}/32", "--client-id", CLIENT_ID, "--json"],
            env=env,
        )  # fmt: skip
        self.proc = subprocess.Popen(
            [str(hws_bin()), "serve", "--host", HOST, "--port", str(port)],
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
        self.url = public_url + API_PATH
        self.headers = [f"Authorization: Bearer {token}"]

    def upload(self, body: Body, check_bytes: bool = False) -> Upload:
        result = curl_upload(self.url, body, self.work / "hws-response.xml", self.headers)
        text = result.response.decode("utf-8", "replace")
        if result.status != 202:
            raise SystemExit(f"hws answered {result.status} to a {mib(body.size)} upload: {text[:500]}; see {self.log}")
        if f"sha-256:{body.sha256}" not in text or f">{body.size}<" not in text:
            raise SystemExit(f"hws's import status does not carry the body's size and sha-256: {text[:500]}")
        if check_bytes:
            blob = self.data / "blobs" / "sha256" / body.sha256[:2] / body.sha256[2:4] / body.sha256
            if not blob.is_file() or blob.stat().st_size != body.size or sha256_file(blob) != body.sha256:
                raise SystemExit(f"hws answered 202 but its blob {blob} does not hold the body")
        return result

    def stop(self) -> None:
        stop(self.proc)


# nginx ---------------------------------------------------------------------------------


NGINX_CONF = """\
# Written by bench/upload.py. One process, the current user, no privilege drop.
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    log_format body '$request_body_file $request_length $status';
    client_body_temp_path {body_dir};
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    client_max_body_size 0;
    client_body_buffer_size {buffer};
    sendfile on;
    server {{
        listen {host}:{port};
        location = /upload {{
            access_log {prefix}/body.log body;
            # Read the whole body into a file under client_body_temp_path and keep it.
            client_body_in_file_only on;
            # The proxy reads the body (request buffering) before it contacts the
            # upstream; it does not forward it.
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Content-Type "";
            proxy_pass http://{host}:{upstream}/received;
        }}
    }}
    server {{
        listen {host}:{upstream};
        location = /received {{ return 202; }}
    }}
}}
"""


class NginxServer:
    """nginx in its own prefix under ``work``; bodies land next to hws's blobs."""

    name = "nginx"

    def __init__(self, binary: str, work: Path, buffer: str, data_dir: Path) -> None:
        self.binary, self.work, self.buffer = binary, work, buffer
        self.prefix = work / "nginx"
        self.body_dir = data_dir / "nginx-body"  # next to hws's blobs: the same filesystem
        self.blobs_dir = data_dir / "blobs"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.count = 0  # uploads so far = lines in the body log

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        for sub in ("proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.body_dir.mkdir(parents=True, exist_ok=True)
        if os.stat(self.body_dir).st_dev != os.stat(self.blobs_dir).st_dev:
            raise SystemExit(f"{self.body_dir} and {self.blobs_dir} are not on the same filesystem")
        port, upstream = free_port(), free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                prefix=self.prefix, body_dir=self.body_dir, buffer=self.buffer, host=HOST, port=port, upstream=upstream
            )
        )
        base = [self.binary, "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(conf)]
        check = subprocess.run([*base, "-t"], text=True, capture_output=True)
        if check.returncode != 0:
            raise SystemExit(f"nginx rejects its configuration {conf}:\n{check.stderr}")
        log = self.prefix / "stderr.log"
        self.proc = subprocess.Popen(
            [*base, "-g", "daemon off;"], stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_port(port, self.proc, "nginx", log)
        wait_port(upstream, self.proc, "nginx", log)
        self.url = f"http://{HOST}:{port}/upload"

    def _body_file(self, timeout: float = 5.0) -> tuple[Path, int]:
        """The body file and status of the latest upload, from nginx's body log."""
        log = self.prefix / "body.log"
        deadline = time.monotonic() + timeout
        while True:
            lines = log.read_text().splitlines() if log.exists() else []
            if len(lines) >= self.count:
                path, _, status = lines[self.count - 1].split()
                return Path(path), int(status)
            if time.monotonic() > deadline:
                raise SystemExit(f"nginx did not log upload #{self.count} in {log}")
            time.sleep(0.01)

    def upload(self, body: Body, check_bytes: bool = False) -> tuple[Upload, float]:
        """Upload, check the bytes landed in a file, time an fsync of it, delete it."""
        result = curl_upload(self.url, body, self.work / "nginx-response", [])
        self.count += 1
        if result.status != 202:
            raise SystemExit(f"nginx answered {result.status}; see {self.prefix / 'error.log'}")
        path, status = self._body_file()
        if status != 202 or not path.is_file() or path.stat().st_size != body.size:
            raise SystemExit(f"nginx did not write the {body.size}-byte body to disk: {path}")
        if self.body_dir not in path.parents:
            raise SystemExit(f"nginx wrote the body outside {self.body_dir}: {path}")
        started = time.perf_counter()
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        flushed = time.perf_counter() - started
        if check_bytes and sha256_file(path) != body.sha256:  # outside the timed window
            raise SystemExit(f"nginx's body file {path} differs from the uploaded body")
        path.unlink()
        return result, flushed

    def stop(self) -> None:
        stop(self.proc, signal.SIGQUIT)  # graceful shutdown for nginx


def measure(
    hws: HwsServer, nginx: NginxServer | None, bodies: list[Body], reps: int
) -> tuple[list[Memory], dict[str, dict[int, Series]]]:
    """Per size: reset hws's peak RSS, then ``reps`` uploads to each server, alternating
    which goes first (ABBA), so drift and other load on the machine hit both alike."""
    series: dict[str, dict[int, Series]] = {"hws": {}, "nginx": {}, "nginx+fsync": {}}
    memory: list[Memory] = []
    for body in bodies:
        for name in series:
            series[name][body.size] = Series(name, body.size)
        sync()
        baseline = proc_status_kib(hws.pid, "VmRSS")
        reset = reset_peak_rss(hws.pid)
        with RssSampler(hws.pid) as sampler:
            for rep in range(reps):
                order: list[Any] = [hws, nginx] if rep % 2 == 0 else [nginx, hws]
                for server in order:
                    if server is None:
                        continue
                    sync()
                    cpu0 = proc_cpu_seconds(server.pid)
                    if server is hws:
                        result = hws.upload(body, check_bytes=rep == 0)
                        flushed = None
                    else:
                        result, flushed = server.upload(body, check_bytes=rep == 0)
                    cpu = proc_cpu_seconds(server.pid) - cpu0
                    s = series[server.name][body.size]
                    s.seconds.append(result.seconds)
                    s.cpu_seconds.append(cpu)
                    if flushed is not None:
                        d = series["nginx+fsync"][body.size]
                        d.seconds.append(result.seconds + flushed)
                        d.cpu_seconds.append(cpu)
        memory.append(Memory(body.size, baseline, proc_status_kib(hws.pid, "VmHWM"), sampler.max_kib, reset))
    if nginx is None:
        del series["nginx"], series["nginx+fsync"]
    return memory, series


# Report ------------------------------------------------------------------------------


def report(bodies: list[Body], memory: list[Memory], series: dict[str, dict[int, Series]], meta: dict[str, Any]) -> bool:
    print()
    print("== Server memory while uploading (hws serve, one process) ==")
    print(
        f"{'package':>10} {'RSS before':>11} {'peak RSS (VmHWM)':>17} {'max sampled VmRSS':>18}   limit {RSS_LIMIT_MIB:.0f} MiB"
    )
    for m in memory:
        print(
            f"{mib(m.size):>10} {m.baseline_kib / 1024:>7.1f} MiB {m.peak_kib / 1024:>13.1f} MiB {m.sampled_kib / 1024:>14.1f} MiB"
        )
    peaks = [m.peak_kib / 1024 for m in memory]
    growth = peaks[-1] - peaks[0]
    under = all(p < RSS_LIMIT_MIB for p in peaks)
    flat = growth < RSS_GROWTH_LIMIT_MIB
    if not all(m.hwm_reset for m in memory):
        print("note: /proc/PID/clear_refs was not writable, so VmHWM is the peak since the server started")
    print(
        f"peak RSS {' / '.join(f'{p:.1f}' for p in peaks)} MiB for "
        f"{' / '.join(mib(m.size) for m in memory)}: growth {growth:+.1f} MiB for "
        f"{(memory[-1].size - memory[0].size) / MiB:.0f} MiB more body"
    )
    print(
        f"  under {RSS_LIMIT_MIB:.0f} MiB: {'PASS' if under else 'FAIL'};  independent of size (growth < {RSS_GROWTH_LIMIT_MIB:.0f} MiB): {'PASS' if flat else 'FAIL'}"
    )

    print()
    print(f"== Throughput, MiB/s (median of {meta['reps']} uploads; min-max) ==")
    rows = list(series.items())
    hws, nginx, nginx_fsync = series["hws"], series.get("nginx"), series.get("nginx+fsync")
    header = f"{'server':<13}" + "".join(f"{mib(b.size):>24}" for b in bodies) + f"{'server CPU s/GiB (largest)':>28}"
    print(header)
    for name, row in rows:
        cells = ""
        for b in bodies:
            rates = row[b.size].rates()
            cells += f"{statistics.median(rates):>9.0f} ({min(rates):>5.0f}-{max(rates):<5.0f})  "
        cpu = row[bodies[-1].size].cpu_per_gib()
        print(f"{name:<13}{cells:>{24 * len(bodies)}}{cpu:>22.2f}")
    if nginx and nginx_fsync:
        print()
        for b in bodies:
            ratio = hws[b.size].median / nginx[b.size].median
            ratio_durable = hws[b.size].median / nginx_fsync[b.size].median
            verdict = "meets" if ratio >= TARGET_RATIO else "below"
            nginx_cpu = nginx[b.size].cpu_per_gib()
            cpu_ratio = hws[b.size].cpu_per_gib() / nginx_cpu if nginx_cpu > 0 else float("nan")
            print(
                f"{mib(b.size):>8}: hws/nginx = {ratio:.2f}x ({verdict} the {TARGET_RATIO}x target);  "
                f"hws/nginx+fsync = {ratio_durable:.2f}x;  server CPU per byte hws/nginx = {cpu_ratio:.1f}x"
            )
        print("hws fsyncs the blob (and its folder) before answering 202; nginx never fsyncs its body file.")
    print()
    print("JSON " + json.dumps({
        "memory": [
            {"size": m.size, "baseline_rss_mib": round(m.baseline_kib / 1024, 1), "peak_rss_mib": round(m.peak_kib / 1024, 1),
             "sampled_max_rss_mib": round(m.sampled_kib / 1024, 1)} for m in memory
        ],
        "throughput_mib_s": {
            name: {str(b.size): [round(r, 1) for r in row[b.size].rates()] for b in bodies} for name, row in rows
        },
        **{k: v for k, v in meta.items() if k != "bodies"},
    }))  # fmt: skip
    return under and flat


# Main -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="16 MiB and 128 MiB bodies, 3 uploads each")
    parser.add_argument("--sizes", help="body sizes in MiB, comma-separated (default 100,1024; --quick 16,128)")
    parser.add_argument("--reps", type=int, help="uploads per size and server (default 5; --quick 3)")
    parser.add_argument("--nginx-buffer", default="1m", help="nginx client_body_buffer_size (default 1m)")
    parser.add_argument("--skip-nginx", action="store_true", help="only hws (no ratio)")
    parser.add_argument("--keep", action="store_true", help="keep bench/.work/upload (bodies, data, logs)")
    args = parser.parse_args()
    sizes = [int(s) * MiB for s in (args.sizes or ("16,128" if args.quick else "100,1024")).split(",")]
    reps = args.reps or (3 if args.quick else 5)

    if shutil.which("curl") is None:
        print("curl is needed as the upload client: apt-get install -y curl", file=sys.stderr)
        return 2
    nginx = None if args.skip_nginx else nginx_bin()
    if not args.skip_nginx and nginx is None:
        print(
            "nginx is needed for the throughput anchor and is not installed.\n"
            "  Debian/Ubuntu: apt-get install -y nginx   (the script runs it itself; no service is needed)\n"
            "  or run with --skip-nginx for the memory part only.",
            file=sys.stderr,
        )
        return 2
    if not Path("/proc/self/status").exists():
        print("this bench reads /proc (Linux only)", file=sys.stderr)
        return 2

    work = HERE / ".work" / "upload"
    shutil.rmtree(work, ignore_errors=True)
    (work / "bodies").mkdir(parents=True)
    log_dir = work / "logs"
    log_dir.mkdir()
    free = shutil.disk_usage(work).free
    needed = sum(sizes) * 3 + 256 * MiB  # bodies + hws blobs/temp + one nginx file
    if free < needed:
        print(f"not enough disk space in {work}: {free / MiB:.0f} MiB free, {needed / MiB:.0f} MiB needed", file=sys.stderr)
        return 2
    ok = False
    try:
        print(f"generating random bodies {', '.join(mib(s) for s in sizes)} in {work / 'bodies'} ...", flush=True)
        bodies = [make_body(work / "bodies" / f"body-{s // MiB}MiB.bin", s) for s in sizes]
        meta: dict[str, Any] = {
            "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
            "python": platform.python_version(),
            "curl": subprocess.run(["curl", "--version"], text=True, capture_output=True).stdout.split()[1],
            "reps": reps,
            "sizes": sizes,
        }
        hws = HwsServer(work, max(sizes), log_dir)
        server: NginxServer | None = None
        if nginx:
            meta["nginx"] = f"{nginx_version(nginx)} (client_body_buffer_size {args.nginx_buffer})"
            server = NginxServer(nginx, work, args.nginx_buffer, hws.data)
        meta["load_before"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        try:
            hws.start()
            if server is not None:
                server.start()
            warm = make_body(work / "bodies" / "warm-up.bin", MiB)
            for _ in range(3):
                hws.upload(warm)
                if server is not None:
                    server.upload(warm, check_bytes=True)
            print(
                f"uploading {', '.join(mib(s) for s in sizes)} x {reps} to hws"
                + (" and nginx, alternating" if server else "") + " ...", flush=True,
            )  # fmt: skip
            memory, series = measure(hws, server, bodies, reps)
        finally:
            hws.stop()
            if server is not None:
                server.stop()
        meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"\nmachine: {meta['machine']}; python {meta['python']}; curl {meta['curl']}"
            + (f"; nginx {meta['nginx']}" if nginx else "")
            + f"\nload average (1/5/15 min) before {meta['load_before']}, after {meta['load_after']}"
        )
        ok = report(bodies, memory, series, meta)
    finally:
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
