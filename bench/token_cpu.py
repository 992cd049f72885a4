"""CPU per token request inside the ASGI app, without sockets: this checkout against
another (``--baseline DIR``, e.g. ``git worktree add /tmp/old <rev>``), in alternating
rounds, each a fresh process.

What one request is, on both sides: a form POST to ``/oauth2/access_token`` with a fresh
ES256 client assertion (signed beforehand, untimed), sent straight into the app's ASGI
callable — the whole app: routing, form parsing, the client's lookup, the assertion's
checks and signature, the single-use record and audit row committed to SQLite
(WAL, synchronous=FULL) before the answer, the access token's signature. The figure is the
process's CPU time (``time.process_time``: every thread, the commit thread included) per
request. No load generator, no uvicorn, no network: this isolates the app's own cost,
which the HTTP bench (``token_endpoint.py``) mixes with the machine's load.

    .venv/bin/python bench/token_cpu.py --baseline /tmp/old [--rounds 6] [--requests 1000] [--concurrency 8]

``--concurrency N`` keeps N requests in flight (each sent when the previous one on its
"connection" is answered), so the single uses share group commits as under load; the
event loop thread's own CPU is printed apart from the other threads' (the commit thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from harness import revision

ROOT = Path(__file__).resolve().parents[1]

# Runs in the measured checkout's process (its src on PYTHONPATH); prints one JSON line.
CHILD = r"""
import asyncio, base64, datetime as dt, json, sys, tempfile, time, uuid
from pathlib import Path
from urllib.parse import urlencode
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from hws.api.app import create_app
from hws.config import Settings
from hws.service import build_service
try:
    from hws.keys.certificates import read_certificate
except ImportError:  # older checkouts
    from hws.auth.certificates import read_certificate

N, WARM, CONCURRENCY = int(sys.argv[1]), 100, int(sys.argv[2])
extra = {"worker_threads": 0} if "worker_threads" in Settings.model_fields else {}
settings = Settings(data_dir=Path(tempfile.mkdtemp()), public_url="http://hws.test", token_rate_per_minute=0, **extra)
service = build_service(settings)
service.start()
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
now = dt.datetime.now(dt.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
info = read_certificate(cert.public_bytes(serialization.Encoding.PEM))
client = service.registry.add(office="KR", certificate=info, networks=["127.0.0.1/32"])
ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

def form():
    t = int(time.time())
    head = b64(json.dumps({"alg": "ES256", "kid": info.kid, "typ": "JWT"}).encode())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": settings.issuer, "jti": uuid.uuid4().hex,
              "iat": t, "exp": t + 120}
    body = b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    s = min(s, ORDER - s)  # low-S, as the service requires
    assertion = f"{head}.{body}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    return urlencode({"grant_type": "client_credentials", "client_assertion": assertion,
                      "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}).encode()

app = create_app(service)
forms = [form() for _ in range(N + WARM)]
COMMITS = [0]  # single-use transactions (group commits), counted where the checkout has them
try:
    from hws.store import assertion_uses as _uses
    _commit = _uses._GroupCommit._commit
    def _counted(self, engine, batch):
        COMMITS[0] += 1
        return _commit(self, engine, batch)
    _uses._GroupCommit._commit = _counted
except (ImportError, AttributeError):
    COMMITS = None

async def request(body):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/oauth2/access_token", "raw_path": b"/oauth2/access_token", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"hws.test"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    given = False
    async def receive():
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
    statuses = []
    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"token request answered {statuses}")

async def main():
    async with app.router.lifespan_context(app):
        for body in forms[:WARM]:
            await request(body)
        pending = iter(forms[WARM:])
        async def connection():  # like one keep-alive connection: one request after another
            for body in pending:
                await request(body)
        commits = COMMITS[0] if COMMITS else 0
        cpu, wall, loop_cpu = time.process_time(), time.perf_counter(), time.thread_time()
        await asyncio.gather(*(connection() for _ in range(CONCURRENCY)))
        cpu, wall, loop_cpu = time.process_time() - cpu, time.perf_counter() - wall, time.thread_time() - loop_cpu
    print(json.dumps({"cpu_ms": cpu / N * 1000, "wall_ms": wall / N * 1000, "loop_ms": loop_cpu / N * 1000,
                      "per_commit": N / (COMMITS[0] - commits) if COMMITS and COMMITS[0] > commits else None}))

asyncio.run(main())
"""


def measure(src: Path, requests: int, concurrency: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-c", CHILD, str(requests), str(concurrency)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"measuring {src} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout of hws (its src/ is measured)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds; the side going first alternates (default 6)")
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per side and round (default 1000)")
    parser.add_argument(
        "--concurrency", type=int, default=1,
        help="requests in flight at once, each sent after the previous one's answer, like keep-alive connections "
        "(default 1; with more, single uses share group commits as they do under load)",
    )  # fmt: skip
    args = parser.parse_args()
    sides = {"this": ROOT / "src", "baseline": args.baseline.resolve() / "src"}
    names = {"this": f"hws @ {revision(ROOT)}", "baseline": f"hws @ {revision(args.baseline)}"}
    print(f"load average {os.getloadavg()[0]:.2f} before (2 CPUs here; anything else running skews wall times more than CPU)")
    print(f"{args.requests} requests per side and round, {args.concurrency} in flight at once")
    results: dict[str, list[float]] = {"this": [], "baseline": []}
    loops: dict[str, list[float]] = {"this": [], "baseline": []}
    for round_no in range(1, args.rounds + 1):
        order = ("this", "baseline") if round_no % 2 else ("baseline", "this")
        for side in order:
            got = measure(sides[side], args.requests, args.concurrency)
            results[side].append(got["cpu_ms"])
            loops[side].append(got["loop_ms"])
            per_commit = f"  {got['per_commit']:.2f} tokens/commit" if got.get("per_commit") else ""
            print(
                f"  round {round_no} {names[side]:<22} CPU {got['cpu_ms']:.3f} ms/token (event loop thread "
                f"{got['loop_ms']:.3f})  wall {got['wall_ms']:.3f} ms/token{per_commit}"
            )
    ratios = [a / b for a, b in zip(results["this"], results["baseline"], strict=True)]
    print(f"load average {os.getloadavg()[0]:.2f} after")
    print(f"\nCPU per token request, median of {args.rounds} rounds:")
    for side in ("this", "baseline"):
        print(
            f"  {names[side]:<22} {statistics.median(results[side]):.3f} ms "
            f"(event loop thread {statistics.median(loops[side]):.3f} ms, other threads "
            f"{statistics.median(a - b for a, b in zip(results[side], loops[side], strict=True)):.3f} ms)"
        )
    print(
        f"  {names['this']} / {names['baseline']}: {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; below 1 is less CPU)"
    )


if __name__ == "__main__":
    main()
