"""Writers of one process on one SQLite file: queued on this process's lock
(``hws.store.sqlite_writers``, what ``create_db_engine`` does) against meeting in SQLite's
busy handler alone (what it did before), in alternating rounds of one run.

Each side: a fresh database file (WAL, ``synchronous=FULL``, ``busy_timeout`` 15 s: the
engine hws uses), ``--threads`` threads, each committing ``--commits`` transactions
(``BEGIN IMMEDIATE``, ``--statements`` INSERTs each after ``--work-us`` of Python work,
``COMMIT`` with its flush), as the API's receipts, the job runner's imports and the token
endpoint's commit thread do at once under load. The only difference between the sides is
the ``factory`` the engine's connections are made with: ``WriterConnection`` (the lock)
or ``sqlite3.Connection`` (none: a writer that finds the database locked sleeps 1, 2,
5 … 100 ms between tries).

Printed per side: transactions per second; the wait from asking for a transaction to its
``BEGIN IMMEDIATE`` done (pool check-out included), as p99, p99.9 and the longest — under
the GIL writers rarely meet, but a meeting in the busy handler costs hundreds of
milliseconds as its sleeps grow, while on the lock a writer waits for the transactions
ahead of it; and the process's CPU per transaction. Then locked ÷ busy per round.

    .venv/bin/python bench/sqlite_writers.py [--rounds 4] [--threads 4] [--commits 300] [--statements 8] [--work-us 100]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hws.store.database import create_db_engine
from hws.store.sqlite_writers import WriterConnection


def _python_work(microseconds: float) -> None:
    """Hold the interpreter for about ``microseconds`` (what building a row costs)."""
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        pass


def run_side(directory: Path, locked: bool, threads: int, commits: int, statements: int, work_us: float) -> dict[str, Any]:
    path = directory / f"{'locked' if locked else 'busy'}-{time.monotonic_ns()}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    if not locked:  # the same engine, its connections made without the lock
        engine.pool._creator = lambda: sqlite3.connect(  # type: ignore[attr-defined]
            str(path), check_same_thread=False, timeout=15, isolation_level=None
        )
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    waits: list[float] = []

    def work() -> None:
        for n in range(commits):
            asked = time.perf_counter()
            with engine.begin() as conn:  # pool check-out, the lock (locked side), BEGIN IMMEDIATE
                began = time.perf_counter()
                for k in range(statements):
                    _python_work(work_us)
                    conn.exec_driver_sql("INSERT INTO t (body) VALUES (?)", (f"row {n}.{k}",))
                waits.append(began - asked)  # list.append is atomic

    workers = [threading.Thread(target=work) for _ in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
    assert rows == threads * commits * statements, rows
    raw = engine.raw_connection()
    assert isinstance(raw.dbapi_connection, WriterConnection) == locked
    raw.close()
    engine.dispose()
    waits.sort()
    return {
        "rate": threads * commits / wall,
        "wait_p99": waits[int(len(waits) * 0.99)] * 1000,
        "wait_p999": waits[int(len(waits) * 0.999)] * 1000,
        "wait_max": waits[-1] * 1000,
        "cpu": cpu / (threads * commits) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--commits", type=int, default=300, help="transactions per thread")
    parser.add_argument("--statements", type=int, default=8, help="INSERTs per transaction (an import makes about 8 writes)")
    parser.add_argument(
        "--work-us", type=float, default=100.0, help="Python work before each INSERT, µs (building the row), default 100"
    )
    parser.add_argument("--dir", type=Path, help="where the database files go (default: a temporary folder in bench/.work)")
    args = parser.parse_args()
    base = args.dir or Path(__file__).resolve().parent / ".work"
    base.mkdir(parents=True, exist_ok=True)
    print(f"{args.threads} threads x {args.commits} transactions of {args.statements} INSERTs, "
          f"{args.work_us:g} µs of Python before each, a side and round; "
          "WAL, synchronous=FULL (each COMMIT flushed)")  # fmt: skip
    print("locked: this process's writers' lock, then BEGIN IMMEDIATE (hws); busy: BEGIN IMMEDIATE alone (SQLite's busy handler)")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print(f"{'round':<7}{'side':<8}{'commits/s':>10}{'wait p99 ms':>13}{'p99.9 ms':>10}{'max ms':>9}{'CPU ms/commit':>15}")
    ratios: list[float] = []
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        for n in range(args.rounds):
            results = {}
            for locked in (True, False) if n % 2 == 0 else (False, True):
                r = results[locked] = run_side(Path(tmp), locked, args.threads, args.commits, args.statements, args.work_us)
                print(f"{n + 1:<7}{'locked' if locked else 'busy':<8}{r['rate']:>10.0f}{r['wait_p99']:>13.2f}"
                      f"{r['wait_p999']:>10.2f}{r['wait_max']:>9.1f}{r['cpu']:>15.3f}")  # fmt: skip
            ratios.append(results[True]["rate"] / results[False]["rate"])
    print(f"\ncommits/s locked ÷ busy: median {statistics.median(ratios):.2f}× (rounds: {', '.join(f'{v:.2f}' for v in ratios)})")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
