"""CPU per received package inside the service, without sockets: this checkout against
another (``--baseline DIR``, e.g. ``git worktree add /tmp/old <rev>``), in alternating
rounds, each a fresh process. The companion of ``intake.py`` (over HTTP, with uvicorn and
the load generator on the same 2 cores), as ``token_cpu.py`` is of ``token_endpoint.py``.

What one package costs, on both sides, in one thread (no contention):

* **receive**: ``POST /webservices/api/v1/request`` with a bearer token, sent straight into
  the app's ASGI callable — the whole app: middleware, the token's check, the client's
  look-up, the body received, hashed and stored (fsync of the file and its folder), the
  import row, audit row and job committed to SQLite (WAL, synchronous=FULL) before 202;
* **import**: the job runner's ``run_once`` — claim the job, validate the package against
  WIPO's V6_0 XSDs and every structural rule, store its files, open the service request
  and commit (the same durability).

Packages are ``intake.py``'s (distinct office references and images of their own): *small*
(one design, one view, two PDFs: about 3 KiB), *example* (the example application: two
designs, three views, about 4 KiB) or *large* (18 designs × 4 views, about 30 KiB).
The figure is ``time.process_time`` (every thread of the process) per package, split in
its two halves. Needs WIPO's V6_0 set in ``../shared/st96/V6_0`` (installed into a
temporary data folder, never into the repository).

    .venv/bin/python bench/intake_cpu.py --baseline /tmp/old [--rounds 6] [--packages 200] [--kind small]
    .venv/bin/python bench/intake_cpu.py --profile [--kind small]   # this checkout only: the hottest functions
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCHEMAS = ROOT.parent / "shared" / "st96" / "V6_0"

# Runs in the measured checkout's process (its src on PYTHONPATH, then bench/ for the
# packages); prints one JSON line.
CHILD = r"""
import asyncio, cProfile, datetime as dt, json, pstats, sys, tempfile, time
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hws.api.app import create_app
from hws.config import Settings
from hws.domain.scopes import REQUESTS
from hws.service import build_service
from hws.st96.schemaset import install_schema_set
from hws.worker.runner import Worker
try:
    from hws.keys.certificates import read_certificate
except ImportError:  # older checkouts
    from hws.auth.certificates import read_certificate
from intake import packages

N, KIND, SCHEMAS, PROFILE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
WARM = 20
data_dir = Path(tempfile.mkdtemp(prefix="hws-intake-cpu-"))
install_schema_set(SCHEMAS, data_dir)
settings = Settings(data_dir=data_dir, public_url="http://hws.test", worker_threads=0, rate_limit_per_minute=0)
service = build_service(settings)
service.start()
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
now = dt.datetime.now(dt.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
client = service.registry.add(office="KR", certificate=read_certificate(cert.public_bytes(serialization.Encoding.PEM)),
                              networks=["127.0.0.1/32"])
token = service.authority.issue(client.client_id, [REQUESTS], time.time()).value
bodies = packages(KIND, N + WARM, f"cpu{time.time_ns()}")
app = create_app(service)
worker = Worker(service)
path = "/webservices/api/v1/request"

async def post(body):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"hws.test"), (b"content-type", b"application/zip"),
                         (b"authorization", b"Bearer " + token.encode()), (b"content-length", str(len(body)).encode())],
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
    if statuses != [202]:
        raise SystemExit(f"POST /request answered {statuses}")

def imported():
    if not worker.run_once():
        raise SystemExit("no job to run")

async def main():
    async with app.router.lifespan_context(app):
        for body in bodies[:WARM]:
            await post(body)
            imported()
        profile = cProfile.Profile() if PROFILE else None
        receive = work = 0.0
        if profile:
            profile.enable()
        for body in bodies[WARM:]:
            t0 = time.process_time()
            await post(body)
            t1 = time.process_time()
            imported()
            t2 = time.process_time()
            receive += t1 - t0
            work += t2 - t1
        if profile:
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(40)
    statuses = {}
    for row in service.engine.connect().exec_driver_sql("SELECT status, count(*) FROM imports GROUP BY status"):
        statuses[row[0]] = row[1]
    if statuses != {"Imported": N + WARM}:
        raise SystemExit(f"imports not all Imported: {statuses}")
    print(json.dumps({"receive_ms": receive / N * 1000, "import_ms": work / N * 1000}))

asyncio.run(main())
"""


def measure(src: Path, count: int, kind: str, schemas: Path, profile: bool = False) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{HERE}", "PYTHONWARNINGS": "ignore"}
    args = [sys.executable, "-c", CHILD, str(count), kind, str(schemas), "1" if profile else "0"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"measuring {src} failed:\n{done.stderr[-3000:]}")
    if profile:
        print(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="another checkout of hws (its src/ is measured)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds; the side going first alternates (default 6)")
    parser.add_argument("--packages", type=int, default=200, help="timed packages per side and round (default 200)")
    parser.add_argument("--kind", choices=("small", "example", "large"), default="small", help="package size (default small)")
    parser.add_argument("--schemas", type=Path, default=SCHEMAS, help=f"WIPO's V6_0 folder (default {SCHEMAS})")
    parser.add_argument("--profile", action="store_true", help="one cProfile'd run of this checkout, no baseline")
    args = parser.parse_args()
    if not (args.schemas / "HagueOfficeToIBTransaction_V6_0.xsd").exists():
        print(f"error: WIPO's V6_0 schema set is not at {args.schemas}; give it with --schemas DIR", file=sys.stderr)
        return 2
    if args.profile:
        got = measure(ROOT / "src", args.packages, args.kind, args.schemas, profile=True)
        print(f"under the profiler: receive {got['receive_ms']:.2f} ms, import {got['import_ms']:.2f} ms per package")
        return 0
    if args.baseline is None:
        parser.error("--baseline DIR is needed (or --profile)")
    sides = {"this": ROOT / "src", "baseline": args.baseline.resolve() / "src"}
    names = {"this": f"hws @ {revision(ROOT)}", "baseline": f"hws @ {revision(args.baseline)}"}
    print(f"{args.kind} packages; load average {os.getloadavg()[0]:.2f} before (2 CPUs here)")
    results: dict[str, list[dict[str, float]]] = {"this": [], "baseline": []}
    for round_no in range(1, args.rounds + 1):
        order = ("this", "baseline") if round_no % 2 else ("baseline", "this")
        for side in order:
            got = measure(sides[side], args.packages, args.kind, args.schemas)
            results[side].append(got)
            print(f"  round {round_no} {names[side]:<22} receive {got['receive_ms']:6.2f}  import {got['import_ms']:6.2f}  "
                  f"total {got['receive_ms'] + got['import_ms']:6.2f} ms CPU/package")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.2f} after")
    print(f"\nCPU per {args.kind} package, median of {args.rounds} rounds (receive + import = total):")
    totals = {side: [r["receive_ms"] + r["import_ms"] for r in results[side]] for side in results}
    for side in ("this", "baseline"):
        rec = statistics.median(r["receive_ms"] for r in results[side])
        imp = statistics.median(r["import_ms"] for r in results[side])
        print(f"  {names[side]:<22} {rec:.2f} + {imp:.2f} = {statistics.median(totals[side]):.2f} ms")
    ratios = [a / b for a, b in zip(totals["this"], totals["baseline"], strict=True)]
    print(
        f"  {names['this']} / {names['baseline']}: {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; below 1 is less CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
