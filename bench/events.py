"""Webhook delivery: events per second and latency from the state change to the
receiver, hws against posting the same bodies directly with httpx — in one run, in
rounds whose order alternates (after the first).

hws: ``hws serve`` on the embedded default (SQLite, one process, two job runners, one
webhook sender thread), sandbox with automatic examination, so every package an office
sends becomes three changes, each writing its event in its own transaction: import
accepted, taken up (Processing), registered. One office (KR), one webhook endpoint (the
receiver, over http on loopback, allowed by the operator). For each event the sender
leases the endpoint, reads its oldest pending delivery, signs it (Standard Webhooks,
HMAC-SHA-256), POSTs it on a new connection (hws keeps none open: each delivery goes to
the address it checked just before), waits for the 2xx and records it delivered (a
SQLite commit, ``synchronous=FULL``) before the next: one at a time per endpoint, in order.
Latency: the receiver's clock when the request arrives minus the event's ``time`` (the
calendar reading the change took, before its commit; milliseconds).

anchor: the bench process posts the same bodies, signed afresh the same way, with one
``httpx.Client`` (keep-alive), one after the other, each at the moment its event happened
in the previous hws phase (the same timeline, the same order); latency: arrival minus
that moment. No database, no outbox, no lease: the least a service can do to tell an
office in order.

The receiver is a separate process (``http.server``, threaded) that notes each arrival's
time and answers 204. Steady load: ``--rate`` packages per second (3 events each) for
``--seconds``; events/s = events ÷ (last arrival − first event's time).

    .venv/bin/python bench/events.py            # 3 rounds; about 2 minutes
    .venv/bin/python bench/events.py --quick    # 1 round
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from harness import HOST, free_port, fresh_service_env, hws_bin, percentile, stop, wait_port
from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.keys import webhook_signatures
from hws.st96.examples import example_package

WORK = Path(__file__).resolve().parent / ".work" / "events"


# The receiver (its own process) ---------------------------------------------------------


def receive(port: int, out: Path) -> None:
    lock = threading.Lock()
    sink = open(out, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            arrived = time.time()
            event = json.loads(body)
            line = {"t": arrived, "path": self.path, "id": self.headers.get("webhook-id"), "seq": event["hwssequence"],
                    "time": event["time"], "type": event["type"], "body": body.decode()}  # fmt: skip
            with lock:
                sink.write(json.dumps(line) + "\n")
                sink.flush()
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    ThreadingHTTPServer((HOST, port), Handler).serve_forever()


def arrivals(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# The phases -----------------------------------------------------------------------------


@dataclass
class Result:
    side: str
    events: int
    per_second: float
    p50_ms: float
    p99_ms: float


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def hws_phase(client: HagueClient, package: Path, log: Path, rate: float, seconds: float) -> tuple[Result, list[dict[str, Any]]]:
    before = len([a for a in arrivals(log) if a["path"] == "/hws"])
    count = int(rate * seconds)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = []
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(client.submit, package))
        for future in futures:
            future.result()
    expected = before + 3 * count
    deadline = time.monotonic() + 120
    while len(hws := [a for a in arrivals(log) if a["path"] == "/hws"]) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"hws delivered {len(hws) - before} of {3 * count} events in time")
        time.sleep(0.1)
    mine = hws[before:expected]
    latencies = [(a["t"] - _epoch(a["time"])) * 1000 for a in mine]
    kinds: dict[str, list[float]] = {}
    for a, ms in zip(mine, latencies, strict=True):
        kinds.setdefault(a["type"].removeprefix("int.wipo.hws."), []).append(ms)
    if seconds > 2:
        print("      hws p50 by event: " + ", ".join(f"{k} {statistics.median(v):.1f} ms" for k, v in sorted(kinds.items())))
    span = max(a["t"] for a in mine) - min(_epoch(a["time"]) for a in mine)
    return Result("hws", len(mine), len(mine) / span, percentile(latencies, 50), percentile(latencies, 99)), mine


def anchor_phase(url: str, secret: str, timeline: list[dict[str, Any]], log: Path) -> Result:
    before = len([a for a in arrivals(log) if a["path"] == "/anchor"])
    first = min(_epoch(a["time"]) for a in timeline)
    ordered = sorted(timeline, key=lambda a: a["seq"])
    scheduled: dict[str, float] = {}
    start = time.time() + 0.5
    with httpx.Client(timeout=10) as http:
        for item in ordered:
            at = start + _epoch(item["time"]) - first
            if (delay := at - time.time()) > 0:
                time.sleep(delay)
            body = item["body"].encode()
            headers = webhook_signatures.headers(secret, item["id"], int(time.time()), body)
            scheduled[item["id"]] = at
            http.post(f"{url}/anchor", content=body, headers={**headers, "content-type": "application/cloudevents+json"})
    deadline = time.monotonic() + 30
    while len(got := [a for a in arrivals(log) if a["path"] == "/anchor"]) < before + len(ordered):
        if time.monotonic() > deadline:
            raise SystemExit("the anchor's posts did not all arrive")
        time.sleep(0.05)
    mine = got[before:]
    latencies = [(a["t"] - scheduled[a["id"]]) * 1000 for a in mine]
    span = max(a["t"] for a in mine) - start
    return Result("anchor", len(mine), len(mine) / span, percentile(latencies, 50), percentile(latencies, 99))


# The run --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round of 8 s")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; --quick 1)")
    parser.add_argument("--rate", type=float, default=4.0, help="packages per second (3 events each), default 4")
    parser.add_argument("--seconds", type=float, help="seconds of steady load per round (default 15; --quick 8)")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receive(int(args.receiver[0]), Path(args.receiver[1]))
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (8.0 if args.quick else 15.0)

    port, receiver_port = free_port(), free_port()
    base = f"http://{HOST}:{port}"
    receiver_url = f"http://{HOST}:{receiver_port}"
    _data_dir, env = fresh_service_env(
        WORK, base, HWS_SANDBOX="1", HWS_EXAMINATION="auto", HWS_AUTO_IRREGULARITY="never", HWS_WORKER_THREADS="2",
        HWS_STRUCTURAL_ONLY_VERSIONS="V6_0", HWS_WEBHOOK_ALLOWED_NETWORKS="127.0.0.1/32", HWS_WEBHOOK_ALLOW_HTTP="1",
        HWS_SCHEDULER="0",
    )  # fmt: skip
    log = WORK / "arrivals.jsonl"
    hws = [str(hws_bin())]
    server = receiver = None
    try:
        subprocess.run([*hws, "admin", "--create", "init"], env=env, check=True, capture_output=True)
        with open(WORK / "receiver.log", "wb") as out:
            receiver = subprocess.Popen([sys.executable, __file__, "--receiver", str(receiver_port), str(log)],
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_port(receiver_port, receiver, "receiver", WORK / "receiver.log")
        with open(WORK / "hws.log", "wb") as out:
            server = subprocess.Popen([*hws, "serve", "--host", HOST, "--port", str(port)], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_port(port, server, "hws", WORK / "hws.log")
        files = generate("KR", WORK / "keys")
        created = json.loads(subprocess.run(
            [*hws, "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32",
             "--json"], env=env, check=True, capture_output=True, text=True).stdout)  # fmt: skip
        endpoint = json.loads(subprocess.run(
            [*hws, "admin", "clients", "webhooks", "add", "--office", "KR", "--url", f"{receiver_url}/hws", "--json"],
            env=env, check=True, capture_output=True, text=True).stdout)  # fmt: skip
        package = WORK / "application.zip"
        package.write_bytes(example_package("application", office="KR", deferment=None))
        client = HagueClient(issuer=f"{base}/oauth2", client_id=created["client_id"], private_key=files.private_key)
        print(f"hws {base} (SQLite, 2 job runners, 1 webhook sender), receiver {receiver_url} (own process)")
        print(f"steady load: {args.rate:g} packages/s × {seconds:g} s = {int(args.rate * seconds) * 3} events per round; "
              f"{rounds} round(s)")  # fmt: skip
        print(f"machine load before: {os.getloadavg()[0]:.2f}\n")
        hws_phase(client, package, log, args.rate, 2)  # warm-up: token, schema of the example, first connections
        print(f"{'round':<6}{'side':<8}{'events':>8}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        results: list[tuple[Result, Result]] = []
        timeline: list[dict[str, Any]] = []
        for n in range(rounds):
            anchor_first = n % 2 == 1  # round 1: hws first (the anchor replays hws's timeline)
            if anchor_first:
                anchor = anchor_phase(receiver_url, endpoint["secret"], timeline, log)
            ours, timeline = hws_phase(client, package, log, args.rate, seconds)
            if not anchor_first:
                anchor = anchor_phase(receiver_url, endpoint["secret"], timeline, log)
            for result in (anchor, ours) if anchor_first else (ours, anchor):
                print(f"{n + 1:<6}{result.side:<8}{result.events:>8}{result.per_second:>10.1f}{result.p50_ms:>9.1f}"
                      f"{result.p99_ms:>9.1f}")  # fmt: skip
            results.append((ours, anchor))
        client.close()
        print()
        for label, pick in (("events/s", lambda r: r.per_second), ("p50 latency", lambda r: r.p50_ms),
                            ("p99 latency", lambda r: r.p99_ms)):  # fmt: skip
            ratios = [pick(ours) / pick(anchor) for ours, anchor in results]
            print(f"hws ÷ anchor {label}: median {statistics.median(ratios):.2f}× "
                  f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
        print(f"machine load after: {os.getloadavg()[0]:.2f}")
        return 0
    finally:
        stop(server)
        stop(receiver)


if __name__ == "__main__":
    sys.exit(main())
