"""Token endpoint throughput and latency: hws against node-oidc-provider, in one run.

Every server gets the same work: ``grant_type=client_credentials`` authenticated by a
fresh ES256 ``private_key_jwt`` assertion (new ``jti`` each, single use enforced by both
servers), answered with an ES256-signed JWT access token (``typ: at+jwt``).

Servers (all started first; each is measured alone while the others sit idle, in an
order that rotates from round to round, ``--rounds`` rounds, so that a drift of the
machine's load moves every side alike; the tables give each server's median round and
the per-round ratios):

* ``oidc-provider`` — node-oidc-provider (npm ``oidc-provider``), one node process,
  configured by ``bench/oidc-provider/server.mjs``, replay detection in its default
  development-only memory adapter; the anchor as its quick start runs it.
* ``oidc-provider-sqlite`` — the same server with ``--replay-store``: its adapter
  interface backed by SQLite (``bench/oidc-provider/sqlite_adapter.mjs``, npm
  ``better-sqlite3``): WAL, ``synchronous=FULL``, the writes grouped into one transaction
  by a worker thread, each ``upsert`` answered after its own commit. The like-for-like
  anchor: the same durability as hws.
* ``hws``           — ``hws serve``: the embedded default, SQLite, one process.
* ``hws-w2``        — ``hws serve --workers 2``: two processes, same SQLite data folder.
* ``ceiling``       — not a contender: the ceiling of this Python stack on this machine.
  A minimal raw ASGI app under the same uvicorn (httptools, uvloop) in the same Python,
  one process, doing only the unavoidable work of a token request: read the form, verify
  the assertion's ES256 signature with the one client key (parsed once), sign an ES256
  ``at+jwt`` access token. No client look-up, no claim checks, no single-use record, no
  database, no framework. Reported with its ratio like the others, labelled as a ceiling.
* ``ceiling-w2``    — the same with two uvicorn worker processes.
* ``oidc-provider-sqlite-dpop`` and ``hws-dpop`` — the same work with DPoP (RFC 9449): each
  token request also carries a DPoP proof (a new ``jti``, ``htm``/``htu`` of the token
  endpoint, signed by the client's P-256 DPoP key before the clock runs, like the
  assertions), and the answer must be a ``token_type: DPoP`` token bound to that key
  (``cnf.jkt``). Both single-use the proof's ``jti`` too, durably (oidc-provider's
  SQLite replay store; hws in the same transaction as the assertion's), and neither
  asks for a server nonce (a pre-signed proof cannot carry one): hws with
  ``HWS_DPOP_NONCES=false``, oidc-provider as its default DPoP configuration has it.
  DPoP sides are compared with DPoP sides only.

Durability (printed at the start of each run, and checked at the end by counting the rows
each durable side left on disk): hws records each assertion's ``jti`` (single use) and an
audit row in SQLite (WAL, ``synchronous=FULL``, group commit) before it answers;
``oidc-provider`` keeps its replay detection in the process's memory (an LRU of about
1,000-2,000 entries in its memory adapter): nothing of it survives a restart;
``oidc-provider-sqlite`` commits the replay record (one row per assertion; no audit row)
to SQLite with the same settings before it answers. The ceiling records nothing.

For each server and each concurrency level (default 1, 8, 32) the load generator first
signs every assertion it may need (so signing costs nothing while the clock runs), then
keeps exactly ``concurrency`` keep-alive HTTP/1.1 connections busy over loopback until
the request count or the time budget is used up. It is a minimal asyncio HTTP client
(uvloop when available), so the load generator's own CPU cost per request is small and
identical for every server. Every answer is checked after the timed window: status 200,
JSON with ``token_type`` Bearer and an ``access_token`` that is a compact JWS with
``alg: ES256`` and ``typ: at+jwt``; a sample of tokens is verified against the server's
JWKS. Anything else counts as an error.

Run from the repository root::

    .venv/bin/python bench/token_endpoint.py            # a few minutes
    .venv/bin/python bench/token_endpoint.py --quick    # well under a minute

Needs ``node`` (>= 20.19) and ``npm``: the script runs ``npm install`` for the anchor
(``oidc-provider`` and ``better-sqlite3``, whose native module npm fetches prebuilt or
compiles) into ``bench/.work/oidc-provider`` when its ``node_modules`` is missing or stale. Work files
(keys, data folders, logs) live in ``bench/.work/`` (git-ignored) and are made fresh
each run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from harness import Connection, hws_bin, process_tree_cpu, run
from hws.auth import jws_checks as jws
from hws.client.assertion import sign_client_assertion
from hws.client.dpop import DPoPKey
from hws.client.enrolment import load_private_key
from hws.keys.public_keys import key_from_jwk, public_jwk, thumbprint

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHOR_SRC = HERE / "oidc-provider"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HOST = "127.0.0.1"  # loopback only, always
CLIENT_ID = "bench"
REQUEST_TIMEOUT = 30.0
TARGET_RATIO = 1.0  # issue 15: >= 1.0x oidc-provider's req/s at 8 connections, same durability
TARGET_CPU_OVER_CEILING = 1.3  # issue 15: hws CPU per token within 1.3x of the ceiling server's
TARGET_CONCURRENCY = 8
SERVERS = (
    "oidc-provider", "oidc-provider-sqlite", "hws", "hws-w2", "ceiling", "ceiling-w2", "oidc-provider-sqlite-dpop", "hws-dpop",
)  # fmt: skip
ANCHORS = ("oidc-provider", "oidc-provider-sqlite", "oidc-provider-sqlite-dpop")
DURABLE_ANCHOR = "oidc-provider-sqlite"
DPOP_ANCHOR = "oidc-provider-sqlite-dpop"
CEILINGS = ("ceiling", "ceiling-w2")


# Results ------------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    concurrency: int
    round: int = 1
    requests: int = 0
    errors: int = 0
    elapsed: float = 0.0
    server_cpu: float | None = None  # CPU seconds the server used during the timed window
    loadgen_cpu: float = 0.0  # CPU seconds the load generator used during the timed window
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.requests - self.errors

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def cpu_ms_per_request(self, seconds: float | None) -> float:
        return seconds * 1000.0 / self.requests if seconds is not None and self.requests else float("nan")

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, -(-len(ordered) * p // 100))  # nearest rank
        return ordered[int(rank) - 1]

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "concurrency": self.concurrency,
            "round": self.round,
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "server_cpu_ms_per_request": round(self.cpu_ms_per_request(self.server_cpu), 3),
            "loadgen_cpu_ms_per_request": round(self.cpu_ms_per_request(self.loadgen_cpu), 3),
            "error_samples": self.error_samples,
        }


# The load generator: the harness's keep-alive HTTP/1.1 client over asyncio ----------


def token_request(host: str, port: int, path: str, form: dict[str, str], proof: str | None = None) -> bytes:
    body = urlencode(form).encode("ascii")
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Accept: application/json\r\n"
        + (f"DPoP: {proof}\r\n" if proof else "")
        + "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def drive(
    port: int, requests: list[bytes], concurrency: int, duration: float
) -> tuple[list[float], list[tuple[int, bytes]], float]:
    """Keep ``concurrency`` connections busy until the requests or the time run out."""
    latencies: list[float] = []
    answers: list[tuple[int, bytes]] = []
    next_index = 0
    total = len(requests)
    clock = time.perf_counter
    deadline = 0.0

    async def worker() -> None:
        nonlocal next_index
        conn = Connection(port)
        conn.timeout = REQUEST_TIMEOUT
        try:
            await conn.open()
            await ready.wait()
            while next_index < total and clock() < deadline:
                raw = requests[next_index]
                next_index += 1
                start = clock()
                status, _, body, problem = await conn.request(raw)
                answer = (status, body) if problem is None else (0, problem.encode())
                latencies.append((clock() - start) * 1000.0)
                answers.append(answer)
        finally:
            conn.close()

    ready = asyncio.Event()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(0.05)  # let every connection open before the clock starts
    started = clock()
    deadline = started + duration
    ready.set()
    await asyncio.gather(*tasks)
    return latencies, answers, clock() - started


def run_load(
    port: int, requests: list[bytes], concurrency: int, duration: float
) -> tuple[list[float], list[tuple[int, bytes]], float]:
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(drive(port, requests, concurrency, duration))
    finally:
        gc.enable()


# Checking answers ---------------------------------------------------------------------


def _b64json(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def check_answer(status: int, body: bytes, jkt: str | None = None) -> str | None:
    """None when the answer is a 200 with an ES256 at+jwt access token: Bearer, or DPoP
    bound to the key of thumbprint ``jkt`` (``cnf.jkt``) when one is given."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    try:
        doc = json.loads(body)
        token = doc["access_token"]
        if str(doc.get("token_type", "")).lower() != ("dpop" if jkt else "bearer"):
            return f"token_type {doc.get('token_type')!r}"
        parts = token.split(".")
        if len(parts) != 3:
            return "access_token is not a compact JWS"
        header = _b64json(parts[0])
        if jkt and _b64json(parts[1]).get("cnf") != {"jkt": jkt}:
            return f"access token not bound to the proof key: cnf {_b64json(parts[1]).get('cnf')!r}"
    except (ValueError, KeyError, TypeError) as exc:
        return f"bad token response: {exc}: {body[:200]!r}"
    if header.get("alg") != "ES256" or str(header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
        return f"access token header {header}"
    return None


def verify_sample(tokens: list[str], jwks: dict[str, Any], issuer: str) -> str | None:
    """Verify signatures (and iss) of ``tokens`` with the server's published JWKS."""
    keys = {k.get("kid"): k for k in jwks.get("keys", [])}
    for value in tokens:
        token = jws.parse_compact(value, max_bytes=16384)
        jwk = keys.get(token.header.get("kid"))
        if jwk is None:
            return f"access token kid {token.header.get('kid')!r} not in the JWKS"
        # high-S accepted: a token's signer need not normalise s (RFC 7518 does not ask it to)
        if not jws.verify(token, "ES256", key_from_jwk(jwk), accept_high_s=True):
            return "access token signature does not verify with the server's JWKS"
        if token.claims().get("iss") != issuer:
            return f"access token iss {token.claims().get('iss')!r} is not {issuer}"
    return None


# Servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    key: str  # short name in tables
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    issuer: str
    audience: str  # what the assertions' aud says
    scope: str
    log: Path
    durability: str = ""
    store: Path | None = None  # the SQLite file whose rows are counted at the end
    proc: subprocess.Popen[bytes] | None = None
    token_path: str = ""
    token_endpoint: str = ""
    issued: int = 0  # tokens answered with 200 (warm-up included)
    jwks: dict[str, Any] = field(default_factory=dict)
    #: the DPoP key every request of this server proves (None: bearer requests)
    dpop: DPoPKey | None = None

    @property
    def jkt(self) -> str | None:
        return self.dpop.jkt if self.dpop else None

    def start(self, timeout: float = 60.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        self.proc = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.label} exited with {self.proc.returncode}; see {self.log}")
            try:
                response = httpx.get(discovery_url, timeout=2)
                if response.status_code == 200:
                    doc = response.json()
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{self.label} did not answer {discovery_url} within {timeout:.0f}s; see {self.log}")
            time.sleep(0.2)
        if doc.get("issuer") != self.issuer:
            raise SystemExit(f"{self.label}: discovery issuer {doc.get('issuer')!r} != {self.issuer!r}")
        endpoint = urlsplit(doc["token_endpoint"])
        if endpoint.hostname != HOST or endpoint.port != self.port:
            raise SystemExit(f"{self.label}: token endpoint {doc['token_endpoint']} is not on {HOST}:{self.port}")
        self.token_path = endpoint.path
        self.token_endpoint = doc["token_endpoint"]
        self.jwks = httpx.get(doc["jwks_uri"], timeout=5).json()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this script started
            self.proc.wait(timeout=10)

    def requests(self, key: Any, count: int, lifetime: int) -> list[bytes]:
        """``count`` token requests, each with a freshly signed assertion (new jti) and, for a
        DPoP server, a freshly signed proof (new jti, iat now, htu the token endpoint)."""
        out = []
        for _ in range(count):
            assertion = sign_client_assertion(key, client_id=CLIENT_ID, audience=self.audience, lifetime=lifetime)
            proof = self.dpop.proof("POST", self.token_endpoint) if self.dpop else None
            out.append(
                token_request(
                    HOST,
                    self.port,
                    self.token_path,
                    {
                        "grant_type": "client_credentials",
                        "scope": self.scope,
                        "client_assertion_type": JWT_BEARER,
                        "client_assertion": assertion,
                    },
                    proof,
                )
            )
        return out


# The ceiling: the unavoidable crypto under the same uvicorn, nothing else ------------------


def ceiling_app() -> Any:
    """The ceiling server's ASGI app (a factory for uvicorn; configured by environment)."""
    from urllib.parse import parse_qs

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    from hws.keys.public_keys import b64url_decode, b64url_encode

    issuer = os.environ["CEILING_ISSUER"]
    client_key = key_from_jwk(json.loads(Path(os.environ["CEILING_CLIENT_JWK"]).read_text()))
    from cryptography.hazmat.primitives import serialization

    signing_key = serialization.load_pem_private_key(Path(os.environ["CEILING_SIGNING_KEY"]).read_bytes(), None)
    assert isinstance(signing_key, ec.EllipticCurvePrivateKey)  # one key for every worker process
    jwk = public_jwk(signing_key.public_key())
    kid = thumbprint(jwk)
    token_path = f"{urlsplit(issuer).path}/token"
    discovery = json.dumps({"issuer": issuer, "token_endpoint": f"{issuer}/token", "jwks_uri": f"{issuer}/jwks"}).encode()
    jwks = json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "ES256"}]}).encode()
    header_b64 = b64url_encode(json.dumps({"alg": "ES256", "typ": "at+jwt", "kid": kid}).encode())
    ecdsa = ec.ECDSA(hashes.SHA256())

    async def answer(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.endswith("/.well-known/openid-configuration"):
            await answer(send, 200, discovery)
            return
        if path.endswith("/jwks"):
            await answer(send, 200, jwks)
            return
        if path != token_path or scope["method"] != "POST":
            await answer(send, 404, b"{}")
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            form = parse_qs(body.decode("ascii"))
            h, p, sig = form["client_assertion"][0].split(".")
            raw = b64url_decode(sig)
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            client_key.verify(der, f"{h}.{p}".encode("ascii"), ecdsa)  # type: ignore[call-arg, union-attr]
            claims = json.loads(b64url_decode(p))
        except Exception:  # any failure: refused
            await answer(send, 401, b'{"error":"invalid_client"}')
            return
        now = int(time.time())
        payload = {"iss": issuer, "sub": claims["sub"], "aud": "api", "client_id": claims["sub"], "scope": "api",
                   "iat": now, "exp": now + 600, "jti": base64.urlsafe_b64encode(os.urandom(18)).decode()}  # fmt: skip
        signing_input = f"{header_b64}.{b64url_encode(json.dumps(payload, separators=(',', ':')).encode())}"
        r, s_ = decode_dss_signature(signing_key.sign(signing_input.encode("ascii"), ecdsa))
        token = f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))}"
        await answer(send, 200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 600}).encode())

    return app


def ceiling_server(key: str, label: str, work: Path, jwk_file: Path, workers: int) -> Server:
    port = free_port()
    issuer = f"http://{HOST}:{port}/ceiling"
    signing_key = work / "ceiling-signing-key.pem"
    if not signing_key.exists():
        run([str(hws_bin()), "keygen", "--name", "CEILING", "--out", str(work / "ceiling"), "--force"])
        shutil.copyfile(work / "ceiling" / "private_key.pem", signing_key)
    env = {**os.environ, "CEILING_ISSUER": issuer, "CEILING_CLIENT_JWK": str(jwk_file), "CEILING_SIGNING_KEY": str(signing_key)}
    command = [
        sys.executable, "-m", "uvicorn", "token_endpoint:ceiling_app", "--factory", "--app-dir", str(HERE),
        "--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning",
        "--loop", "uvloop", "--http", "httptools", "--workers", str(workers),
    ]  # fmt: skip
    return Server(key, label, command, env, ROOT, port, issuer, issuer, "api", work / "logs" / f"{key}.log",
                  durability="nothing (no single-use record, no database)")  # fmt: skip


# Setup --------------------------------------------------------------------------------


def prepare_anchor(work: Path) -> tuple[Path, str]:
    """Copy package.json + server.mjs into the work folder and npm install when needed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("node and npm are needed for the oidc-provider anchor (or use --servers hws,hws-w2)")
    folder = work / "oidc-provider"
    folder.mkdir(parents=True, exist_ok=True)
    for source in [ANCHOR_SRC / "package.json", *sorted(ANCHOR_SRC.glob("*.mjs"))]:
        shutil.copyfile(source, folder / source.name)
    stamp = folder / "node_modules" / ".bench-stamp"
    digest = hashlib.sha256((ANCHOR_SRC / "package.json").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"npm install into {folder} ...", flush=True)
        run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder)
        stamp.write_text(digest)
    version = json.loads((folder / "node_modules" / "oidc-provider" / "package.json").read_text())["version"]
    return folder, version


def prepare_client(work: Path) -> tuple[Any, Path, Path]:
    """One ES256 client key for every server: (private key, cert.pem, client.jwk.json)."""
    folder = work / "client"
    run([str(hws_bin()), "keygen", "--name", "BENCH", "--out", str(folder), "--force"])
    key = load_private_key(folder / "private_key.pem")
    jwk = public_jwk(key.public_key())
    jwk["kid"] = thumbprint(jwk)  # the kid sign_client_assertion puts in the header
    jwk_file = folder / "client.jwk.json"
    jwk_file.write_text(json.dumps(jwk))
    return key, folder / "cert.pem", jwk_file


def hws_server(
    key: str, label: str, work: Path, cert: Path, workers: int, dpop: bool = False, source: Path | None = None
) -> Server:
    """``hws serve``; from ``source`` (another checkout's ``src``, e.g. an older commit's)
    instead of this one's when given."""
    data = work / f"data-{key}"
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    public_url = f"http://{HOST}:{port}"
    # The bench measures issuance, not the per-address token rate limit: turn it off.
    env = {**os.environ, "HWS_DATA_DIR": str(data), "HWS_PUBLIC_URL": public_url, "HWS_TOKEN_RATE_PER_MINUTE": "0"}
    hws = [str(hws_bin())]
    if source is not None:  # its code first on the path, ahead of this checkout's editable install
        env["PYTHONPATH"] = str(source)
        hws = [sys.executable, "-m", "hws"]
    if dpop:  # like the anchor: DPoP proofs without server nonces (pre-signed proofs cannot carry one)
        env["HWS_DPOP_NONCES"] = "false"
    # operator commands never create a database unasked (an older hws without `admin init` created it itself)
    init = subprocess.run([*hws, "admin", "init"], env=env, text=True, capture_output=True)
    if init.returncode != 0 and "No such command" not in init.stderr:
        raise SystemExit(f"hws admin init failed: {init.stderr}")
    run(
        [
            *hws,
            "admin",
            "clients",
            "add",
            "--cert",
            str(cert),
            "--office",
            "KR",
            "--ip",
            f"{HOST}/32",
            "--client-id",
            CLIENT_ID,
            *(["--token-binding", "dpop-required"] if dpop else []),
            "--json",
        ],
        env=env,
    )
    command = [*hws, "serve", "--host", HOST, "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    issuer = f"{public_url}/oauth2"
    processes = "1 process" if workers == 1 else f"{workers} processes"
    what = "the assertion's and the DPoP proof's jti + audit row, in one transaction," if dpop else "jti + audit row"
    return Server(
        key, label, command, env, ROOT, port, issuer, issuer, "hws/requests hws/publications", work / "logs" / f"{key}.log",
        durability=f"{what} committed to SQLite (WAL, synchronous=FULL, group commit; {processes}) before the answer",
        store=data / "hws.sqlite3", dpop=DPoPKey.generate() if dpop else None,
    )  # fmt: skip


def anchor_server(work: Path, folder: Path, version: str, jwk_file: Path, durable: bool, dpop: bool = False) -> Server:
    port = free_port()
    issuer = f"http://{HOST}:{port}"
    env = {**os.environ, "NODE_ENV": "production"}
    command = ["node", "server.mjs", "--host", HOST, "--port", str(port), "--client-id", CLIENT_ID, "--client-jwk", str(jwk_file)]
    key, label, store = "oidc-provider", f"oidc-provider {version}", None
    durability = "replay detection in memory (its memory adapter: an LRU of ~1,000-2,000 entries, lost on restart)"
    if durable:
        key, label, store = DURABLE_ANCHOR, f"oidc-provider {version} + SQLite", work / "oidc-provider-replay.sqlite3"
        if dpop:
            key, label, store = DPOP_ANCHOR, f"{label} + DPoP", work / "oidc-provider-dpop-replay.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        command += ["--replay-store", str(store)]
        durability = (
            "replay record (jti) committed to SQLite (better-sqlite3: WAL, synchronous=FULL, group commit "
            "in a worker thread) before the answer; no audit row"
        )
        if dpop:  # DPoP is on by default in oidc-provider 9; no nonces, as on the hws side
            durability = durability.replace("replay record (jti)", "replay records (the assertion's and the DPoP proof's jti)")
    return Server(
        key, label, command, env, folder, port, issuer, issuer, "api", work / "logs" / f"{key}.log",
        durability=durability, store=store, dpop=DPoPKey.generate() if dpop else None,
    )  # fmt: skip


# Measuring ----------------------------------------------------------------------------


def measure(server: Server, key: Any, concurrency: int, args: argparse.Namespace) -> Phase:
    lifetime = min(300, int(args.duration) + 90)
    requests = server.requests(key, args.max_requests, lifetime)
    assert server.proc is not None
    cpu_before, own_before = process_tree_cpu(server.proc.pid), time.process_time()
    latencies, answers, elapsed = run_load(server.port, requests, concurrency, args.duration)
    cpu_after, own_after = process_tree_cpu(server.proc.pid), time.process_time()
    phase = Phase(server.key, concurrency, requests=len(answers), elapsed=elapsed, latencies_ms=latencies)
    if cpu_before is not None and cpu_after is not None:
        phase.server_cpu = cpu_after - cpu_before
    phase.loadgen_cpu = own_after - own_before
    tokens: list[str] = []
    for status, body in answers:
        problem = check_answer(status, body, server.jkt)
        if problem is None:
            tokens.append(json.loads(body)["access_token"])
            continue
        phase.errors += 1
        if len(phase.error_samples) < 3:
            phase.error_samples.append(problem)
    server.issued += len(tokens)
    if tokens:
        sample = tokens[:3] + random.sample(tokens, min(17, len(tokens)))
        problem = verify_sample(sample, server.jwks, server.issuer)
        if problem:
            phase.errors = phase.requests  # a wrong signature makes every answer suspect
            phase.error_samples.append(problem)
    return phase


def warm_up(server: Server, key: Any, count: int) -> None:
    if count <= 0:
        return
    requests = server.requests(key, count, 120)
    _, answers, _ = run_load(server.port, requests, min(8, count), 60.0)
    bad = [p for p in (check_answer(s, b, server.jkt) for s, b in answers) if p]
    server.issued += len(answers) - len(bad)
    if len(bad) == len(answers):
        raise SystemExit(f"{server.label}: every warm-up request failed, e.g. {bad[0]}; see {server.log}")


# Report -------------------------------------------------------------------------------


def durability_check(servers: list[Server]) -> list[str]:
    """After the servers stopped: what each durable side left on disk, against the tokens it
    issued (every issued token must have its durable record). oidc-provider's SQLite adapter
    keeps every replay row; hws deletes single-use rows once their assertion has expired
    (they are needed only until then), so for hws the check counts the issuance audit rows
    committed in the same transaction as the jti (never purged) and shows the jti rows
    still on disk."""
    replay_rows = "SELECT count(*) FROM oidc_models WHERE model = 'ReplayDetection'"
    queries = {DURABLE_ANCHOR: replay_rows, DPOP_ANCHOR: replay_rows}
    hws_issued = "SELECT count(*) FROM audit_events WHERE action = 'auth.token' AND outcome = 'issued'"
    lines = []
    for server in servers:
        if server.store is None:
            continue
        with sqlite3.connect(f"file:{server.store}?mode=ro", uri=True) as db:
            if server.key in queries:
                rows = db.execute(queries[server.key]).fetchone()[0]
                what = "replay rows"
            else:
                rows = db.execute(hws_issued).fetchone()[0]
                left = db.execute("SELECT count(*) FROM assertion_uses").fetchone()[0]
                what = f"issuance audit rows (committed with each jti; {left} jti rows not yet expired and purged)"
        verdict = "ok" if rows >= server.issued else "MISSING ROWS"
        lines.append(
            f"durable records on disk after the run: {server.label}: {rows} {what} for {server.issued} tokens issued ({verdict})"
        )
        groups = [line for line in server.log.read_text(errors="replace").splitlines() if line.startswith("replay store:")]
        lines += [f"  {line}" for line in groups]
    return lines


def is_dpop(name: str) -> bool:
    return name.endswith("-dpop")


def same_work(contender: str, anchor: str) -> bool:
    """Ratios compare like with like: DPoP requests with DPoP requests, bearer with bearer."""
    return is_dpop(contender) == is_dpop(anchor)


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value == value else "-"


def median_rounds(phases: list[Phase]) -> list[Phase]:
    """Per server and level, the round with the median req/s (the lower middle one of an even count)."""
    groups: dict[tuple[str, int], list[Phase]] = {}
    for phase in phases:
        groups.setdefault((phase.server, phase.concurrency), []).append(phase)
    return [sorted(group, key=lambda p: p.rps)[(len(group) - 1) // 2] for group in groups.values()]


def round_ratios(phases: list[Phase], labels: dict[str, str], levels: list[int]) -> list[str]:
    """req/s ÷ each anchor's in the same round, for each round: how much the ratio moves."""
    by = {(p.server, p.concurrency, p.round): p for p in phases}
    rounds = sorted({p.round for p in phases})
    if len(rounds) < 2:
        return []
    lines: list[str] = []
    for anchor in (a for a in ANCHORS if a in labels):
        lines += ["", f"req/s ratio against {labels[anchor]}, round by round (median; min–max)"]
        for name in (k for k in labels if k not in ANCHORS and same_work(k, anchor)):
            for level in levels:
                ratios = [
                    by[(name, level, r)].rps / by[(anchor, level, r)].rps
                    for r in rounds
                    if (name, level, r) in by and (anchor, level, r) in by and by[(anchor, level, r)].rps
                ]
                if ratios:
                    ordered = sorted(ratios)
                    lines.append(
                        f"  {labels[name]:<32} c={level:<3} {ordered[(len(ordered) - 1) // 2]:.2f}x "
                        f"({ordered[0]:.2f}–{ordered[-1]:.2f}; rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
                    )
    return lines


def baseline_ratios(phases: list[Phase], labels: dict[str, str], levels: list[int]) -> list[str]:
    """hws against the baseline checkout (--baseline), round by round: req/s and CPU per token."""
    if "hws-baseline" not in labels or "hws" not in labels:
        return []
    by = {(p.server, p.concurrency, p.round): p for p in phases}
    lines = ["", f"{labels['hws']} against {labels['hws-baseline']}, round by round"]
    for level in levels:
        pairs = [(by[("hws", level, r)], by[("hws-baseline", level, r)]) for r in sorted({p.round for p in phases})
                 if ("hws", level, r) in by and ("hws-baseline", level, r) in by]  # fmt: skip
        rps = [ours.rps / base.rps for ours, base in pairs if base.rps]
        cpu = [
            ours.cpu_ms_per_request(ours.server_cpu) / base.cpu_ms_per_request(base.server_cpu)
            for ours, base in pairs
            if ours.server_cpu and base.server_cpu
        ]
        if rps:
            lines.append(
                f"  c={level:<3} req/s {sorted(rps)[(len(rps) - 1) // 2]:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in rps)})"
                + (
                    f";  server CPU per token {sorted(cpu)[(len(cpu) - 1) // 2]:.2f}x (rounds: {', '.join(f'{c:.2f}' for c in cpu)})"
                    if cpu
                    else ""
                )
            )
    return lines


def report(phases: list[Phase], labels: dict[str, str], levels: list[int]) -> list[str]:
    lines: list[str] = []
    width = max(len(v) for v in labels.values())
    head = (
        f"{'server':<{width}}  {'conc':>4}  {'requests':>8}  {'errors':>6}  {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}"
        f"  {'srv CPU ms/req':>14}  {'gen CPU ms/req':>14}"
    )
    lines += [head, "-" * len(head)]
    for phase in phases:
        lines.append(
            f"{labels[phase.server]:<{width}}  {phase.concurrency:>4}  {phase.requests:>8}  {phase.errors:>6}  "
            f"{phase.rps:>8.1f}  {fmt_ms(phase.percentile(50)):>7}  {fmt_ms(phase.percentile(99)):>7}"
            f"  {fmt_ms(phase.cpu_ms_per_request(phase.server_cpu)):>14}  {fmt_ms(phase.cpu_ms_per_request(phase.loadgen_cpu)):>14}"
        )
    by = {(p.server, p.concurrency): p for p in phases}
    contenders = [k for k in labels if k not in ANCHORS and any(p.server == k for p in phases)]
    for anchor_key in (a for a in ANCHORS if a in labels):
        if not contenders:
            break
        lines.append("")
        lines.append(f"ratio against {labels[anchor_key]} (median rounds; req/s ratio: >1 is faster; p99 ratio: <1 is better)")
        head = f"{'server':<{width}}  {'conc':>4}  {'req/s ratio':>11}  {'p99 ratio':>9}  {'p99 ms':>7}"
        lines += [head, "-" * len(head)]
        for name in (c for c in contenders if same_work(c, anchor_key)):
            for level in levels:
                ours, anchor = by.get((name, level)), by.get((anchor_key, level))
                if not ours or not anchor:
                    continue
                rps_ratio = ours.rps / anchor.rps if anchor.rps else float("nan")
                p99_ratio = ours.percentile(99) / anchor.percentile(99)
                lines.append(
                    f"{labels[name]:<{width}}  {level:>4}  {rps_ratio:>10.2f}x  {p99_ratio:>8.2f}x  {fmt_ms(ours.percentile(99)):>7}"
                )
    hws_sides = [k for k in contenders if k not in CEILINGS]
    if hws_sides:
        lines.append("")
        lines.append(
            f"targets (issue 15; reported, not asserted): >= {TARGET_RATIO:.1f}x the req/s of oidc-provider with the same "
            f"durability ({DURABLE_ANCHOR}) at concurrency {TARGET_CONCURRENCY}; server CPU per token <= "
            f"{TARGET_CPU_OVER_CEILING}x the ceiling's (same process count)"
        )
        for name in hws_sides:
            ours = by.get((name, TARGET_CONCURRENCY))
            if not ours:
                continue
            anchor_key = DPOP_ANCHOR if is_dpop(name) else DURABLE_ANCHOR
            anchor = by.get((anchor_key, TARGET_CONCURRENCY))
            parts = [f"  {labels[name]:<{width}}"]
            if anchor and anchor.rps:
                ratio = ours.rps / anchor.rps
                met = ratio >= TARGET_RATIO and ours.errors == 0
                parts.append(f"{ratio:.2f}x {labels[anchor_key]} -> {'MET' if met else 'NOT MET'}")
            # the ceiling does bearer work only: no CPU comparison for a DPoP side
            ceiling = None if is_dpop(name) else by.get(("ceiling-w2" if name.endswith("-w2") else "ceiling", TARGET_CONCURRENCY))
            if ceiling and ceiling.server_cpu and ours.server_cpu:
                cpu_ratio = ours.cpu_ms_per_request(ours.server_cpu) / ceiling.cpu_ms_per_request(ceiling.server_cpu)
                parts.append(
                    f"CPU/token {cpu_ratio:.2f}x the ceiling's -> {'MET' if cpu_ratio <= TARGET_CPU_OVER_CEILING else 'NOT MET'}"
                )
            lines.append(parts[0] + "  " + ";  ".join(parts[1:]))
    for phase in phases:
        for sample in phase.error_samples:
            lines.append(f"error sample [{labels[phase.server]} c={phase.concurrency}]: {sample}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: 3 s / 3000 requests per level, small warm-up")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated (default 1,8,32)")
    parser.add_argument("--duration", type=float, help="seconds per level (default 12; --quick 3)")
    parser.add_argument("--max-requests", type=int, help="requests per level at most (default 15000; --quick 3000)")
    parser.add_argument("--warmup", type=int, help="untimed requests per server first (default 500; --quick 150)")
    parser.add_argument("--rounds", type=int, help="rounds over every server and level, order rotating (default 3; --quick 1)")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"which servers, comma-separated: {','.join(SERVERS)} (the ceiling ones are not contenders)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of hws (e.g. `git worktree add /tmp/old <rev>`): its hws is measured too, as "
        "hws-baseline, interleaved with the rest (before/after a change in one run)",
    )
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="work folder (default bench/.work)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 12.0)
    args.max_requests = args.max_requests or (3000 if args.quick else 15000)
    args.warmup = args.warmup if args.warmup is not None else (150 if args.quick else 500)
    args.rounds = args.rounds or (1 if args.quick else 3)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(wanted) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")

    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"

    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    key, cert, jwk_file = prepare_client(work)
    servers: list[Server] = []
    node_version = "-"
    for name in wanted:
        if name in ANCHORS:
            folder, version = prepare_anchor(work)
            node_version = run(["node", "--version"]).stdout.strip()
            servers.append(anchor_server(work, folder, version, jwk_file, durable=name != "oidc-provider", dpop=is_dpop(name)))
        elif name == "hws-dpop":
            servers.append(hws_server("hws-dpop", "hws + DPoP (1 process, SQLite)", work, cert, 1, dpop=True))
        elif name == "hws":
            servers.append(hws_server("hws", "hws (1 process, SQLite)", work, cert, 1))
        elif name == "hws-w2":
            servers.append(hws_server("hws-w2", "hws --workers 2 (SQLite)", work, cert, 2))
        elif name == "ceiling":
            servers.append(ceiling_server("ceiling", "ceiling: raw ASGI, crypto only", work, jwk_file, 1))
        else:
            servers.append(ceiling_server("ceiling-w2", "ceiling --workers 2", work, jwk_file, 2))
    if args.baseline is not None:
        source = args.baseline.resolve() / "src"
        if not (source / "hws").is_dir():
            parser.error(f"--baseline {args.baseline}: no src/hws there")
        revision = subprocess.run(
            ["git", "-C", str(args.baseline), "log", "-1", "--format=%h"], text=True, capture_output=True
        ).stdout.strip()
        servers.append(
            hws_server(
                "hws-baseline", f"hws @ {revision or args.baseline.name} (1 process, SQLite)", work, cert, 1, source=source
            )
        )
    labels = {s.key: s.label for s in servers}

    print(
        f"token endpoint benchmark: {os.cpu_count()} CPUs, Python {platform.python_version()} ({loop_name} load generator), "
        f"node {node_version}; levels {levels}; per level <= {args.duration:g} s and <= {args.max_requests} requests; "
        f"warm-up {args.warmup} per server; load average {os.getloadavg()[0]:.2f} before",
        flush=True,
    )
    print("what each side keeps durably before it answers a token request:")
    for server in servers:
        print(f"  {server.label}: {server.durability}", flush=True)
    phases: list[Phase] = []
    started: list[Server] = []
    try:
        for server in servers:
            print(f"== starting {server.label} on {HOST}:{server.port}", flush=True)
            server.start()
            started.append(server)
            warm_up(server, key, args.warmup)
        for round_no in range(1, args.rounds + 1):
            shift = (round_no - 1) % len(servers)
            order = servers[shift:] + servers[:shift]
            for level in levels:
                for server in order:
                    phase = measure(server, key, level, args)
                    phase.round = round_no
                    phases.append(phase)
                    print(
                        f"   round {round_no} {server.key:<13} c={level:<3} {phase.requests:>6} requests  {phase.errors} errors  "
                        f"{phase.rps:8.1f} req/s  p50 {fmt_ms(phase.percentile(50))} ms  p99 {fmt_ms(phase.percentile(99))} ms  "
                        f"server CPU {fmt_ms(phase.cpu_ms_per_request(phase.server_cpu))} ms/req"
                        + (f"  first error: {phase.error_samples[0]}" if phase.error_samples else ""),
                        flush=True,
                    )
    finally:
        for server in started:
            server.stop()

    print(
        f"load average {os.getloadavg()[0]:.2f} after (this machine has {os.cpu_count()} CPUs; anything else running skews the numbers)"
    )
    for line in durability_check(started):
        print(line)
    print()
    for line in report(median_rounds(phases), labels, levels):
        print(line)
    for line in round_ratios(phases, labels, levels):
        print(line)
    for line in baseline_ratios(phases, labels, levels):
        print(line)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "labels": labels,
                    "levels": levels,
                    "duration": args.duration,
                    "max_requests": args.max_requests,
                    "phases": [p.as_dict() for p in phases],
                },
                indent=2,
            )
        )
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
