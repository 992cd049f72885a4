"""What the use cases count for operators (Prometheus): imports by outcome and rejection
code, service request transitions, publication build time and size.

Counted in the process that runs the use case, after its transaction committed (a
rolled-back attempt counts nothing). ``hws serve`` runs the workers and the scheduler in
its API processes, so ``/metrics`` shows them (summed over ``--workers N`` processes in
multiprocess mode). Every label value comes from a closed set: outcomes, the problem
codes of :data:`hws.st96.problems.CODES`, the life-cycle statuses, publication kinds.
docs/metrics.md lists every metric.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

IMPORTED, REJECTED = "imported", "rejected"
#: the ``from`` label of a service request's first status (``Undefined``, when it is opened)
OPENED = "none"

IMPORTS = Counter("hws_imports_total", "Imports finished, by outcome (imported or rejected)", ["outcome"])
IMPORT_REJECTIONS = Counter(
    "hws_import_rejections_total", "Rejected imports by problem code (each code counted once per import)", ["code"]
)
TRANSITIONS = Counter(
    "hws_service_request_transitions_total",
    "Service request status changes (from none: a request opened by an import)",
    ["from", "to"],
)
PUBLICATION_BUILD = Histogram(
    "hws_publication_build_seconds",
    "Time to build one publication of a week (bulletin, or one office's confidential copy)",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
PUBLICATION_SIZE = Histogram(
    "hws_publication_size_bytes",
    "Size of each publication built (empty weeks, which publish no file, are not observed)",
    ["kind"],
    buckets=tuple(float(2**n) for n in range(10, 36, 2)),  # 1 KiB … 16 GiB, ×4
)

for _outcome in (IMPORTED, REJECTED):
    IMPORTS.labels(_outcome)  # both series exist (at 0) from the start


def import_finished(outcome: str, codes: Iterable[str] = ()) -> None:
    IMPORTS.labels(outcome).inc()
    for code in sorted(set(codes)):
        IMPORT_REJECTIONS.labels(code).inc()


def status_changed(from_status: str | None, to_status: str) -> None:
    TRANSITIONS.labels(from_status or OPENED, to_status).inc()


def publication_built(kind: str, seconds: float, size: int | None) -> None:
    PUBLICATION_BUILD.labels(kind).observe(seconds)
    if size is not None:
        PUBLICATION_SIZE.labels(kind).observe(size)
