"""Status polls on the embedded default (SQLite, one ``hws serve`` process), against a bare
FastAPI endpoint doing the same HTTP work — interleaved rounds in one run.

hws: ``hws serve`` on a fresh data folder with nothing but the defaults (SQLite database,
local blob folder, one process with its in-process job runner), ``HWS_SANDBOX=1
HWS_EXAMINATION=auto`` so that the seeded applications are registered without an operator,
rate limits off (one load generator, a few office clients). Seeded with ``--resources``
applications over 4 offices: each gives two distinct polled resources (its import and its
service request), so the polls spread over ``2 × --resources`` rows.

Anchor: ``bench/bare_constant_app.py``'s ``/status/{key}`` under uvicorn (one process, same
event loop and HTTP parser): a constant status document of the same size, a per-resource
ETag, 304 when ``If-None-Match`` matches. No authentication, no database: the ceiling of a
Python ASGI service answering this request.

Load (the same on both sides): ``--conns`` keep-alive connections in a closed loop, each
request for a resource drawn at random; ``--revalidate`` of them (default 0.5) carry the
ETag the client got for that resource before (answered 304 when nothing changed), the
others are plain GETs (200 with the document). hws requests carry a bearer token of the
resource's office (validated on every request: signature, expiry, client still enrolled).

Rounds alternate the order (anchor, hws / hws, anchor); each phase runs ``--seconds`` after
a short warm-up. Printed per round: polls/s, p50/p99 latency, server CPU ms per poll; then
the median ratio hws ÷ anchor and its spread. Target (issue 15): ≥ 0.5×.

    .venv/bin/python bench/status_polls.py              # 4 rounds × 2 × 10 s, 500 applications
    .venv/bin/python bench/status_polls.py --quick      # 2 rounds × 2 × 5 s, 100 applications
    .venv/bin/python bench/status_polls.py --uncached   # and hws with HWS_READ_CACHE=false (the before)
    .venv/bin/python bench/status_polls.py --postgres   # hws on PostgreSQL, 2 processes each side (target ≥ 0.6×)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness import (
    HOST,
    PollPhase,
    Resource,
    create_database,
    drop_database,
    free_port,
    fresh_service_env,
    hws_bin,
    percentile,
    poll_load,
    process_tree_cpu,
    seed_applications,
    stop,
    wait_port,
)
from hws.client import HagueClient
from hws.client.enrolment import generate

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "status_polls"
API = "/webservices/api/v1"
OFFICES = ("KR", "JP", "CN", "US")


def measured(pid: int, port: int, resources: list[Resource], args: argparse.Namespace, label: str) -> PollPhase:
    asyncio.run(poll_load([port], resources, args.conns, min(2.0, args.seconds / 3), args.revalidate, label))  # warm-up
    before = process_tree_cpu(pid) or 0.0
    phase = asyncio.run(poll_load([port], resources, args.conns, args.seconds, args.revalidate, label))
    phase.cpu = (process_tree_cpu(pid) or 0.0) - before
    return phase


def seed(base: str, data_dir: Path, env: dict[str, str], per_office: int) -> list[Resource]:
    """Enrol the offices, send ``per_office`` applications each, wait until they are
    registered; the import and the service request of each are the polled resources."""
    hws = [str(hws_bin())]
    clients: list[tuple[str, HagueClient]] = []
    for code in OFFICES:
        files = generate(code, data_dir.parent / f"keys-{code}", overwrite=True)
        out = subprocess.run(
            [*hws, "admin", "clients", "add", "--cert", str(files.certificate), "--office", code,
             "--ip", "127.0.0.1/32", "--json"], env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        client_id = json.loads(out)["client_id"]
        clients.append((code, HagueClient(issuer=f"{base}/oauth2", client_id=client_id, private_key=files.private_key)))
    seeded = seed_applications(base, clients, per_office, WORK / "packages", "POLL")
    tokens = {code: client.token() for code, client in clients}
    for _, client in clients:
        client.close()
    return [Resource(path, tokens[code]) for code, import_path, request_path in seeded for path in (import_path, request_path)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s, 100 applications")
    parser.add_argument("--rounds", type=int, help="rounds (default 4; --quick 2)")
    parser.add_argument("--seconds", type=float, help="seconds per phase (default 10; --quick 5)")
    parser.add_argument("--resources", type=int, help="applications seeded (default 500; --quick 100)")
    parser.add_argument("--conns", type=int, default=8, help="connections, default 8")
    parser.add_argument("--revalidate", type=float, default=0.5, help="share of requests with If-None-Match, default 0.5")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="hws on a fresh PostgreSQL database (HWS_SOAK_PG's server) instead of SQLite, with --workers processes",
    )
    parser.add_argument("--workers", type=int, help="processes of hws serve and of the anchor (default 1; --postgres 2)")
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="also a second hws serve on the same data with HWS_READ_CACHE=false (every poll reads the database)",
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 4)
    args.seconds = args.seconds or (5.0 if args.quick else 10.0)
    args.resources = args.resources or (100 if args.quick else 500)
    args.workers = args.workers or (2 if args.postgres else 1)

    hws_port, anchor_port = free_port(), free_port()
    base = f"http://{HOST}:{hws_port}"
    data_dir, env = fresh_service_env(WORK, base, HWS_SANDBOX="1", HWS_EXAMINATION="auto", HWS_AUTO_IRREGULARITY="never",
                                      HWS_STRUCTURAL_ONLY_VERSIONS="V6_0")  # fmt: skip
    database = None
    if args.postgres:
        database, env["HWS_DATABASE_URL"] = create_database()
        subprocess.run([str(hws_bin()), "admin", "db", "upgrade"], env=env, check=True, capture_output=True)
    workers = ["--workers", str(args.workers)] if args.workers > 1 else []
    logs = WORK / "hws.log", WORK / "anchor.log", WORK / "hws-uncached.log"
    uncached_port = free_port()
    uncached = None
    if args.uncached:  # same data and public URL (the tokens are good for both), no job runner
        uncached = subprocess.Popen(
            [str(hws_bin()), "serve", "--host", HOST, "--port", str(uncached_port)],
            env={**env, "HWS_READ_CACHE": "false", "HWS_WORKER_THREADS": "0"},
            stdout=logs[2].open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    hws = subprocess.Popen([str(hws_bin()), "serve", "--host", HOST, "--port", str(hws_port), *workers], env=env,
                           stdout=logs[0].open("wb"), stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    anchor = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_constant_app:app", "--app-dir", str(HERE), "--host", HOST,
         "--port", str(anchor_port), "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
         *workers],
        stdout=logs[1].open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(hws_port, hws, "hws serve", logs[0])
        wait_port(anchor_port, anchor, "anchor", logs[1])
        if uncached is not None:
            wait_port(uncached_port, uncached, "hws serve (uncached)", logs[2])
        for _ in range(100):
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        started = time.monotonic()
        resources = seed(base, data_dir, env, max(1, args.resources // len(OFFICES)))
        print(f"seeded {len(resources) // 2} applications ({len(resources)} polled resources) in "
              f"{time.monotonic() - started:.0f} s")  # fmt: skip
        anchor_resources = [Resource(f"/status/{i}", "x") for i in range(len(resources))]
        print(f"load: {args.conns} connections, closed loop, {args.revalidate:.0%} with If-None-Match, "
              f"{args.seconds:g} s per phase, {args.rounds} rounds; machine load {os.getloadavg()[0]:.2f}")  # fmt: skip
        where = (
            "PostgreSQL (fresh database, read cache kept by LISTEN/NOTIFY)"
            if args.postgres
            else "SQLite + local folder (the embedded default)"
        )
        print(f"hws: hws serve, {args.workers} process(es), {where}, token checked on every request")
        if uncached is not None:
            print("uncached: a second hws serve on the same data, HWS_READ_CACHE=false (each poll reads SQLite)")
        print(f"anchor: bare FastAPI /status/{{key}} under uvicorn, {args.workers} process(es), constant body, per-key ETag, "
              "304 on match, no auth, no database; connections land on worker processes as the kernel hands them out\n")  # fmt: skip
        print(f"{'round':<6}{'side':<10}{'polls/s':>10}{'304':>7}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/poll':>13}{'errors':>8}")
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        uncached_ratios: list[float] = []
        sides = [("anchor", anchor, anchor_port, anchor_resources), ("hws", hws, hws_port, resources)]
        if uncached is not None:
            sides.append(("uncached", uncached, uncached_port, resources))
        for n in range(args.rounds):
            order = sides[n % len(sides) :] + sides[: n % len(sides)]  # each side first in turn
            if n % 2:
                order.reverse()
            phases = {}
            for side, proc, port, targets in order:
                phase = phases[side] = measured(proc.pid, port, targets, args, side)
                print(f"{n + 1:<6}{side:<10}{phase.rate:>10.0f}{phase.not_modified / max(1, phase.count):>7.0%}"
                      f"{percentile(phase.latencies, 50):>9.2f}{percentile(phase.latencies, 99):>9.2f}"
                      f"{phase.cpu * 1000 / max(1, phase.count):>13.3f}{phase.errors:>8}")  # fmt: skip
            ratios.append(phases["hws"].rate / phases["anchor"].rate)
            if "uncached" in phases:
                uncached_ratios.append(phases["uncached"].rate / phases["anchor"].rate)
            cpu_ratios.append(
                (phases["hws"].cpu / max(1, phases["hws"].count)) / (phases["anchor"].cpu / max(1, phases["anchor"].count))
            )
        print(
            f"\nratio hws ÷ anchor (polls/s): median {statistics.median(ratios):.2f}× "
            f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}); target ≥ {0.6 if args.postgres else 0.5}×"
        )
        if uncached_ratios:
            print(
                f"ratio uncached ÷ anchor (polls/s): median {statistics.median(uncached_ratios):.2f}× "
                f"(rounds: {', '.join(f'{r:.2f}' for r in uncached_ratios)})"
            )
        if args.postgres:
            print("(hws's CPU is its own processes'; the PostgreSQL server's is not counted: hits do not reach it)")
        print(f"CPU per poll hws ÷ anchor: median {statistics.median(cpu_ratios):.2f}×; "
              f"machine load now {os.getloadavg()[0]:.2f}")  # fmt: skip
        return 0
    finally:
        for proc in (hws, anchor, uncached):
            stop(proc, signal.SIGTERM)
        if database is not None:
            drop_database(database)


if __name__ == "__main__":
    sys.exit(main())
