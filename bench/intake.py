"""Intake on the embedded default: from ``POST /request`` to ``Imported``, against the
least a service can do with the same package (``bench/intake_anchor.py``) — in one run,
in rounds whose order alternates.

hws: ``hws serve`` with the defaults (SQLite + local folder, one process, the job runner
in-process), WIPO's V6_0 schema set installed (``hws admin schemas install``), so every
package is validated against the official XSDs; one office client (KR), rate limits off.
A package counts as done when its import status says ``Imported``: in the steady phase the
client polls each pending import every ``--poll-ms`` (5); in a burst one poller follows the
accepted packages in the order they were answered, polling the oldest not yet seen
imported every ``--burst-poll-ms`` (10), then the next at once (those polls cost hws CPU
too: about 0.15 ms each, answered from the read cache).

anchor: a bare ASGI app under uvicorn (one process): stores the body fsync-ed, reads and
CRC-checks every ZIP entry, parses the XML (lxml, hardened) and validates it against the
same XSD set compiled once; all inside the request, so its 202 means done.

Packages (built by ``hws.st96.builder`` before the timing, distinct office references):
``small`` — the issue's small package: the example application cut to one design with one
view (about 3 KiB: one image, the XML, two PDF documents); ``example`` — the example
application as it is (about 4 KiB: two designs, three views, two PDFs);
``large`` — 18 designs of 4 views each (about 30 KiB). Every view has an image of its own
(distinct bytes, as in real applications: nothing is stored once for several views). Phases:

* **burst**: ``--burst`` packages sent on 8 connections as fast as answered (a sender
  never waits for an import: until 2026-12-04 each connection waited for its package to
  be seen imported before sending the next, polling every 100 ms, which capped a burst
  near 8 connections ÷ 0.1 s = 80 packages/s whatever the server did); packages/s from
  the first send to the last done, server CPU per package;
* **steady**: one package every 1/``--rate`` s for ``--steady-seconds``; POST → done
  latency (median, p99).

Targets (issue 15): small ≤ 10 ms CPU, large ≤ 40 ms; steady 8/s median < 100 ms, p99 <
250 ms; burst ≥ 80 packages/s; hws ≥ 0.5× the anchor's packages/s.

    .venv/bin/python bench/intake.py            # 3 rounds; about 3 minutes
    .venv/bin/python bench/intake.py --quick    # 1 round
    .venv/bin/python bench/intake.py --baseline /tmp/old   # and another checkout's hws as "before"

With ``--baseline DIR`` a second ``hws serve`` runs that checkout's code (its ``src`` first on
``PYTHONPATH``) on its own data folder; it is measured in the same rounds, the order of
all sides rotating, and hws ÷ before is printed per phase.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from soak import Connection, get, percentile, post

from harness import HOST, free_port, fresh_service_env, hws_bin, proc_cpu_seconds, revision, stop, wait_port
from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.st96.builder import build_package
from hws.st96.examples import example_spec

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work" / "intake"
SCHEMAS = ROOT.parent / "shared" / "st96" / "V6_0"
API = "/webservices/api/v1"
_STATE = re.compile(rb"ImportStatusCategory>(\w+)<")
_VIEWS = (("jpg", "Perspective"), ("png", "Front"), ("jpg", "Back"), ("png", "Top"))
#: designs of the large package (4 views each): about 30 KiB with an image of its own per view
DESIGNS = 18
KINDS = ("small", "example", "large")


_serial = itertools.count(1)


def _image(ext: str) -> bytes:
    """A small image of its own (as every view of a real application is): distinct bytes."""
    n = next(_serial)
    out = io.BytesIO()
    Image.new("RGB", (24, 24), ((n * 37) % 256, (n * 91) % 256, (n // 256) % 256)).save(
        out, "JPEG" if ext == "jpg" else "PNG", **({"quality": 80} if ext == "jpg" else {})
    )
    return out.getvalue()


def _with_own_images(spec: dict[str, Any]) -> bytes:
    files = {view["file"]: _image(view["file"].rsplit(".", 1)[1]) for design in spec["designs"] for view in design["views"]}
    return build_package(spec, files, fill_missing=True)  # the documents (PDF) from the specimen


def packages(kind: str, count: int, tag: str) -> list[bytes]:
    if kind == "small":
        one = [{"id": "1", "product": "Chair", "locarno": "06-01", "description": "A chair with four legs",
                "views": [{"file": "images/1.1.jpg", "type": "Perspective"}]}]  # fmt: skip
        return [
            _with_own_images(example_spec("application", designs=one, office_reference=f"KR-{tag}-{n}")) for n in range(count)
        ]
    if kind == "example":
        return [_with_own_images(example_spec("application", office_reference=f"KR-{tag}-{n}")) for n in range(count)]
    designs = [
        {"id": str(i), "product": f"Chair model {i}", "locarno": "06-01", "description": f"A chair with {i} legs " * 3,
         "views": [{"file": f"images/{i}.{v}.{ext}", "type": t} for v, (ext, t) in enumerate(_VIEWS, 1)]}
        for i in range(1, DESIGNS + 1)
    ]  # fmt: skip
    return [
        _with_own_images(example_spec("application", designs=designs, office_reference=f"KR-{tag}-{n}")) for n in range(count)
    ]


@dataclass
class Result:
    side: str
    kind: str
    count: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


class Side:
    def __init__(self, name: str, pid: int, port: int, path: str, token: str | None) -> None:
        self.name, self.pid, self.port, self.path, self.token = name, pid, port, path, token

    async def send(self, connection: Connection, body: bytes) -> tuple[str | None, str | None]:
        """POST one package: (its import status path, None), or for the anchor (None, None)
        when the answer says valid; (None, the problem) otherwise."""
        status, headers, answer, problem = await connection.request(post(self.path, body, "application/zip", self.token))
        if status != 202:
            return None, f"POST {status} {problem or answer[:200]!r}"
        if self.name == "anchor":
            return None, None if json.loads(answer)["valid"] else "anchor: not valid"
        location = headers["location"].split("://", 1)[-1]
        return location[location.index("/") :], None

    async def imported(self, poller: Connection, location: str) -> tuple[bool, str | None]:
        """One poll of an import: (True, None) once ``Imported``, (False, None) while
        ``Pending``, (False, the problem) otherwise."""
        assert self.token is not None
        status, _, answer, problem = await poller.request(get(location, self.token))
        state = _STATE.search(answer)
        if status != 200 or state is None:
            return False, f"GET {status} {problem or ''}"
        if state.group(1) in (b"Imported", b"Pending"):
            return state.group(1) == b"Imported", None
        return False, f"import {state.group(1).decode()}: {answer[:600]!r}"

    async def one(
        self, connection: Connection, poller: Connection | None, body: bytes, poll_s: float
    ) -> tuple[float, str | None]:
        """Send one package; seconds until it is done, or the problem."""
        started = time.perf_counter()
        location, problem = await self.send(connection, body)
        if problem or location is None:
            return time.perf_counter() - started, problem
        assert poller is not None
        while True:
            done, problem = await self.imported(poller, location)
            if problem:
                return 0.0, problem
            if done:
                return time.perf_counter() - started, None
            await asyncio.sleep(poll_s)

    async def burst(self, kind: str, bodies: list[bytes], conns: int, poll_s: float) -> Result:
        """``bodies`` sent on ``conns`` connections, each sending its next package as soon
        as the last one is answered. The anchor is done at its answer. hws answers 202 when
        the package is stored and imports it afterwards, in the order received: one poller,
        on a connection of its own, follows the accepted packages in that order — the
        oldest not yet seen ``Imported`` is polled every ``poll_s`` until it is, then the
        next at once — so the senders never wait for imports and a package's done time is
        when the poller sees it ``Imported``."""
        result = Result(self.name, kind)
        queue = list(reversed(bodies))
        accepted: list[tuple[float, str]] = []  # (sent at, import status path), in answer order
        senders_left = conns

        async def sender() -> None:
            nonlocal senders_left
            connection = Connection(self.port)
            try:
                while queue:
                    started = time.perf_counter()
                    location, problem = await self.send(connection, queue.pop())
                    if problem:
                        result.failures.append(problem)
                    elif location is None:  # the anchor: done when answered
                        result.latencies.append((time.perf_counter() - started) * 1000)
                    else:
                        accepted.append((started, location))
            finally:
                connection.close()
                senders_left -= 1

        async def poller() -> None:
            connection, seen = Connection(self.port), 0
            try:
                while seen < len(accepted) or senders_left:
                    if seen == len(accepted):
                        await asyncio.sleep(poll_s)
                        continue
                    started, location = accepted[seen]
                    done, problem = await self.imported(connection, location)
                    if problem:
                        result.failures.append(problem)
                    elif done:
                        result.latencies.append((time.perf_counter() - started) * 1000)
                    else:
                        await asyncio.sleep(poll_s)
                        continue
                    seen += 1
            finally:
                connection.close()

        before, began = proc_cpu_seconds(self.pid), time.perf_counter()
        tasks = [sender() for _ in range(conns)] + ([poller()] if self.name != "anchor" else [])
        await asyncio.gather(*tasks)
        result.seconds, result.cpu = time.perf_counter() - began, proc_cpu_seconds(self.pid) - before
        result.count = len(result.latencies)
        return result

    async def steady(self, kind: str, bodies: list[bytes], rate: float, poll_s: float) -> Result:
        result = Result(self.name, f"{kind} {rate:g}/s")

        async def send(body: bytes) -> None:
            connection, poller = Connection(self.port), Connection(self.port)
            try:
                seconds, problem = await self.one(connection, poller, body, poll_s)
            finally:
                connection.close()
                poller.close()
            if problem:
                result.failures.append(problem)
            else:
                result.latencies.append(seconds * 1000)

        before, began = proc_cpu_seconds(self.pid), time.perf_counter()
        tasks = []
        for n, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(send(body)))
        await asyncio.gather(*tasks)
        result.seconds, result.cpu = time.perf_counter() - began, proc_cpu_seconds(self.pid) - before
        result.count = len(result.latencies)
        return result


def line(round_no: int, r: Result) -> str:
    cpu = r.cpu * 1000 / max(1, r.count)
    return (f"{round_no:<6}{r.kind:<12}{r.side:<8}{r.count:>6}{r.rate:>12.1f}{cpu:>12.2f}"
            f"{percentile(r.latencies, 50):>10.1f}{percentile(r.latencies, 99):>10.1f}{len(r.failures):>9}")  # fmt: skip


def start_hws(name: str, work: Path, schemas: Path, source: Path | None = None) -> tuple[Side, subprocess.Popen[bytes], Path]:
    """A fresh ``hws serve`` (this checkout's, or ``source``'s code first on PYTHONPATH) with
    V6_0 installed and one KR client; its side with a token."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    data_dir, env = fresh_service_env(work, base)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    hws = [str(hws_bin())]
    subprocess.run([*hws, "admin", "init"], env=env, check=True, capture_output=True)
    subprocess.run([*hws, "admin", "schemas", "install", str(schemas)], env=env, check=True, capture_output=True)
    files = generate("KR", work / "keys")
    created = json.loads(subprocess.run(
        [*hws, "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32", "--json"],
        env=env, check=True, capture_output=True, text=True).stdout)  # fmt: skip
    log = work / "hws.log"
    server = subprocess.Popen([*hws, "serve", "--host", HOST, "--port", str(port)], env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    wait_port(port, server, f"hws serve ({name})", log)
    for _ in range(100):
        if httpx.get(f"{base}/readyz").status_code == 200:
            break
        time.sleep(0.1)
    with HagueClient(issuer=f"{base}/oauth2", client_id=created["client_id"], private_key=files.private_key) as client:
        token = client.token()
    return Side(name, server.pid, port, f"{API}/request", token), server, data_dir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; --quick 1)")
    parser.add_argument(
        "--burst", type=int, default=120, help="packages per burst (small and example; large: a third), default 120"
    )
    parser.add_argument("--conns", type=int, default=8, help="connections of a burst, default 8")
    parser.add_argument("--rate", type=float, default=8.0, help="packages per second of the steady phase, default 8")
    parser.add_argument("--steady-seconds", type=float, default=10.0, help="seconds of the steady phase, default 10")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="ms between import-status polls, steady phase, default 5")
    parser.add_argument(
        "--burst-poll-ms",
        type=float,
        default=10.0,
        help="ms between a burst's polls of the oldest package not yet seen imported, default 10",
    )
    parser.add_argument("--schemas", type=Path, default=SCHEMAS, help=f"WIPO's V6_0 folder (default {SCHEMAS})")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of hws (e.g. git worktree add /tmp/old REV): its hws serve is measured as 'before', "
        "interleaved with the rest, and hws ÷ before printed per phase (a change's before/after in one run)",
    )
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    if not (args.schemas / "HagueOfficeToIBTransaction_V6_0.xsd").exists():
        print(f"error: WIPO's V6_0 schema set is not at {args.schemas}; give it with --schemas DIR", file=sys.stderr)
        return 2
    if args.baseline is not None and not (args.baseline / "src" / "hws").is_dir():
        parser.error(f"--baseline {args.baseline}: no src/hws there")

    shutil.rmtree(WORK, ignore_errors=True)
    servers: list[subprocess.Popen[bytes]] = []
    anchor: subprocess.Popen[bytes] | None = None
    try:
        hws_side, server, data_dir = start_hws("hws", WORK / "hws", args.schemas)
        servers.append(server)
        sides = [hws_side]
        if args.baseline is not None:
            before, server, _ = start_hws("before", WORK / "before", args.schemas, args.baseline.resolve() / "src")
            servers.append(server)
            sides.append(before)
        anchor_port = free_port()
        anchor_log = WORK / "anchor.log"
        anchor_env = {**os.environ, "INTAKE_ANCHOR_DIR": str(WORK / "anchor-store"),
                      "INTAKE_ANCHOR_XSD": str(data_dir / "schemas" / "V6_0" / "HagueOfficeToIBTransaction_V6_0.xsd")}  # fmt: skip
        anchor = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "intake_anchor:app", "--app-dir", str(HERE), "--host", HOST, "--port",
             str(anchor_port), "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
            env=anchor_env, stdout=anchor_log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_port(anchor_port, anchor, "anchor", anchor_log)
        sides.insert(0, Side("anchor", anchor.pid, anchor_port, "/request", None))
        sizes = {kind: len(packages(kind, 1, "size")[0]) for kind in KINDS}
        print(f"packages: small {sizes['small']:,} bytes (1 design, 1 view), example {sizes['example']:,} bytes "
              f"(2 designs, 3 views), large {sizes['large']:,} bytes "
              f"({DESIGNS} designs × 4 views), an image of its own per view")  # fmt: skip
        print(
            "hws: hws serve, SQLite + local folder (the embedded default), V6_0 XSDs installed; done = Imported, "
            f"seen by polling every {args.poll_ms:g} ms (steady), {args.burst_poll_ms:g} ms (burst)"
        )
        if args.baseline is not None:
            print(f"before: the same, with the code of {args.baseline} (hws @ {revision(args.baseline)}); "
                  f"hws is this checkout (hws @ {revision(ROOT)})")  # fmt: skip
        print(
            "anchor: bare ASGI + uvicorn: body fsync-ed (file and folder), every ZIP entry CRC-checked, XML parsed "
            "(lxml) and XSD-validated, inside the request"
        )
        print(f"machine load before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
        # Untimed warm-up: hws compiles the XSD set in a thread after it starts and imports
        # the PDF reader at its first PDF; neither belongs in the first round's figures.
        for side in sides:
            warm = packages("small", 3, f"{side.name}warm") + packages("large", 1, f"{side.name}warm")
            result = asyncio.run(side.burst("warm-up", warm, 2, 0.05))
            if result.failures:
                print(f"warm-up of {side.name} failed: {result.failures[0]}", file=sys.stderr)
                return 1
        print(f"warm-up done: {len(warm)} packages a side, untimed\n")
        print(f"{'round':<6}{'phase':<12}{'side':<8}{'done':>6}{'packages/s':>12}{'CPU ms/pkg':>12}"
              f"{'p50 ms':>10}{'p99 ms':>10}{'failures':>9}")  # fmt: skip
        all_results: list[tuple[int, Result]] = []
        poll_s = args.poll_ms / 1000
        for n in range(rounds):
            order = sides[n % len(sides) :] + sides[: n % len(sides)]  # who goes first rotates
            for kind, count in ((k, args.burst if k != "large" else max(1, args.burst // 3)) for k in KINDS):
                for side in order:
                    bodies = packages(kind, count, f"{side.name}{n}{kind}")
                    result = asyncio.run(side.burst(kind, bodies, args.conns, args.burst_poll_ms / 1000))
                    all_results.append((n, result))
                    print(line(n + 1, result))
                    for failure in result.failures[:3]:
                        print(f"    failure: {failure}")
            for side in order:
                bodies = packages("small", int(args.rate * args.steady_seconds), f"{side.name}{n}steady")
                result = asyncio.run(side.steady("small", bodies, args.rate, poll_s))
                all_results.append((n, result))
                print(line(n + 1, result))
                for failure in result.failures[:3]:
                    print(f"    failure: {failure}")
        print()
        for line_ in summary(all_results, [side.name for side in sides], args.rate):
            print(line_)
        print(f"machine load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        return 1 if any(r.failures for _, r in all_results) else 0
    finally:
        for proc in (*servers, anchor):
            stop(proc, signal.SIGTERM)


def summary(results: list[tuple[int, Result]], names: list[str], rate: float) -> list[str]:
    """Ratios round by round (median; rounds) and the targets, per hws side."""
    by = {(n, r.side, r.kind): r for n, r in results}
    rounds = sorted({n for n, _ in results})
    out = []

    def ratios(kind: str, a: str, b: str, value: Any) -> str:
        pairs = [value(by[(n, a, kind)]) / value(by[(n, b, kind)]) for n in rounds if value(by[(n, b, kind)])]
        return f"median {statistics.median(pairs):.2f}× (rounds: {', '.join(f'{v:.2f}' for v in pairs)})" if pairs else "-"

    def rate_of(r: Result) -> float:
        return r.rate

    def cpu_of(r: Result) -> float:
        return r.cpu / max(1, r.count)

    for kind in KINDS:
        for side in (s for s in names if s != "anchor"):
            out.append(f"burst {kind}: {side} ÷ anchor packages/s {ratios(kind, side, 'anchor', rate_of)}; target ≥ 0.5×")
        if "before" in names:
            out.append(f"burst {kind}: hws ÷ before packages/s {ratios(kind, 'hws', 'before', rate_of)}, "
                       f"CPU per package {ratios(kind, 'hws', 'before', cpu_of)}")  # fmt: skip
    steady_kind = f"small {rate:g}/s"
    if "before" in names:
        out.append(f"steady {rate:g}/s: hws ÷ before CPU per package {ratios(steady_kind, 'hws', 'before', cpu_of)}")
    for side in (s for s in names if s != "anchor"):
        steady = [by[(n, side, steady_kind)] for n in rounds]
        latencies = [ms for r in steady for ms in r.latencies]
        cpu = statistics.median(cpu_of(r) * 1000 for r in steady)
        out.append(f"steady {rate:g}/s, {side} POST → Imported: median {percentile(latencies, 50):.1f} ms, "
                   f"p99 {percentile(latencies, 99):.1f} ms (targets < 100, < 250); CPU {cpu:.1f} ms per package")  # fmt: skip
        for kind, target in (("small", 10), ("example", 10), ("large", 40)):
            runs = [by[(n, side, kind)] for n in rounds]
            cpu = statistics.median(cpu_of(r) * 1000 for r in runs)
            best = max(r.rate for r in runs)
            out.append(f"{side} {kind} burst: CPU {cpu:.1f} ms per package (target ≤ {target}), up to {best:.0f} packages/s"
                       + ("; target ≥ 80/s" if kind == "small" else ""))  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
