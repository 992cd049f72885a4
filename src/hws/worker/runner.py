"""The job runner: claim, run, complete or fail, with a heartbeat that keeps the lease.

Runs as threads inside ``hws serve`` (embedded default) or as ``hws worker`` processes.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable

from hws.service import Service
from hws.st96 import media
from hws.store.database import unavailable
from hws.store.job_signal import JobListener
from hws.store.jobs import Job, JobKind, JobQueue, LeaseLost, worker_identity
from hws.usecases.auto_examination import examine
from hws.usecases.import_processing import process_import
from hws.worker import maintenance

log = logging.getLogger("hws.worker")

Handler = Callable[..., object]
HANDLERS: dict[str, Handler] = {JobKind.IMPORT: process_import, JobKind.EXAMINE: examine}
MAINTENANCE_INTERVAL = 60.0
#: While the database is unreachable the loop retries after 0.5 s, 1 s, 2 s … up to this.
OUTAGE_BACKOFF_MAX = 5.0


class LeaseKeeper:
    """Renews the lease of the job a runner is on, every ``interval`` seconds, from one
    thread that serves job after job (a thread per job cost about 0.1 ms of CPU each). The
    thread ends after ``interval`` seconds without a job and starts again with the next."""

    def __init__(self, jobs: JobQueue, interval: float) -> None:
        self._jobs = jobs
        self.interval = interval
        self._changed = threading.Condition()
        self._job: Job | None = None
        self._thread: threading.Thread | None = None

    def hold(self, job: Job) -> None:
        with self._changed:
            self._job = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hws-lease", daemon=True)
                self._thread.start()
            self._changed.notify()

    def release(self, job: Job) -> None:
        with self._changed:
            if self._job is job:
                self._job = None
                self._changed.notify()

    def _due(self) -> Job | None:
        """Under the lock: wait until the held job's renewal is due (that job), or until
        no job came for ``interval`` seconds (``None``: the thread ends)."""
        deadline = time.monotonic() + self.interval
        held = self._job
        while True:
            left = deadline - time.monotonic()
            if held is not None and self._job is held and left <= 0:
                return held
            if self._job is not held:  # a new job, or none: its own full interval
                held, deadline = self._job, time.monotonic() + self.interval
                continue
            if held is None and left <= 0:
                self._thread = None
                return None
            self._changed.wait(left)

    def _run(self) -> None:
        while True:
            with self._changed:
                job = self._due()
            if job is None:
                return
            try:
                self._jobs.extend(job)
            except LeaseLost:
                with self._changed:  # another worker may have it: stop renewing it
                    if self._job is job:
                        self._job = None
            except Exception:  # a missed heartbeat only risks a retake
                log.warning("lease heartbeat failed", exc_info=True)


class Worker:
    def __init__(self, service: Service, *, name: str | None = None) -> None:
        self.service = service
        self.owner = name or worker_identity()
        self.processed = 0
        self._lease = LeaseKeeper(service.jobs, max(service.settings.job_lease_seconds / 3, 0.2))

    def run_once(self) -> bool:
        """Claim and run one job; ``False`` when there was nothing to do."""
        job = self.service.jobs.claim(self.owner, tuple(HANDLERS))
        if job is None:
            return False
        self._run(job)
        return True

    def _run(self, job: Job) -> None:
        self._lease.hold(job)
        started = time.perf_counter()
        try:
            outcome = HANDLERS[job.kind](self.service, job)
            self.processed += 1
            log.info(
                "job done",
                extra={"event": "job.done", "job": job.id, "kind": job.kind, "ref": job.ref, "outcome": str(outcome),
                       "seconds": round(time.perf_counter() - started, 3)},
            )  # fmt: skip
        except LeaseLost:
            log.warning("job lease lost", extra={"event": "job.lease_lost", "job": job.id, "ref": job.ref})
        except Exception as exc:  # an outage is re-raised, anything else recorded
            if unavailable(exc):
                # Not the job's fault, and fail() could not be recorded anyway: its
                # transaction was rolled back; the lease expires and the job is retaken.
                log.warning(
                    "job interrupted: database unavailable",
                    extra={"event": "job.interrupted", "job": job.id, "kind": job.kind, "ref": job.ref,
                           "error": f"{type(exc).__name__}: {str(exc)[:300]}"},
                )  # fmt: skip
                raise
            # Recorded on the job, retried with backoff.
            state = self.service.jobs.fail(job, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
            log.error(
                "job failed",
                extra={"event": "job.failed", "job": job.id, "kind": job.kind, "ref": job.ref, "state": state,
                       "error": f"{type(exc).__name__}: {exc}"},
            )  # fmt: skip
        finally:
            self._lease.release(job)

    def run_until(self, stop: threading.Event) -> None:
        poll = self.service.settings.worker_poll_interval
        next_maintenance = 0.0
        outage_since: float | None = None
        backoff = 0.0
        signal = self.service.jobs.signal
        while not stop.is_set():
            seen = signal.generation  # a job queued from here on wakes the wait below
            try:
                if time.monotonic() >= next_maintenance:
                    next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL
                    maintenance.purge_expired(self.service)
                    maintenance.sweep_orphans(self.service)
                worked = self.run_once()
                if outage_since is not None:
                    log.info(
                        "database available again",
                        extra={"event": "worker.recovered", "seconds": round(time.monotonic() - outage_since, 1)},
                    )
                    outage_since, backoff = None, 0.0
                if not worked:
                    signal.wait(seen, poll)  # rung when a job is queued; polling is the fallback
            except Exception as exc:  # keep going whatever happens
                if not unavailable(exc):
                    log.exception("worker loop error", extra={"event": "worker.error"})
                    stop.wait(min(poll * 4, 5))
                    continue
                if outage_since is None:  # once per outage, not once per retry
                    outage_since = time.monotonic()
                    log.warning(
                        "database unavailable: worker waiting",
                        extra={"event": "worker.unavailable", "error": f"{type(exc).__name__}: {str(exc)[:300]}"},
                    )
                backoff = min(max(backoff * 2, 0.5), OUTAGE_BACKOFF_MAX)
                stop.wait(backoff)


class WorkerPool:
    """Worker threads for one process; :meth:`stop` lets running jobs finish. On
    PostgreSQL a :class:`~hws.store.job_signal.JobListener` wakes them for jobs other
    processes queue."""

    def __init__(self, service: Service, count: int) -> None:
        self._stop = threading.Event()
        self._signal = service.jobs.signal
        self._threads = [
            threading.Thread(target=Worker(service).run_until, args=(self._stop,), name=f"hws-worker-{i}", daemon=True)
            for i in range(count)
        ]
        engine = service.engine
        self._listener = JobListener(engine, self._signal) if count and engine.dialect.name == "postgresql" else None
        self._schemas = service.schema_set

    def start(self) -> None:
        if self._listener is not None:
            self._listener.start()
        for thread in self._threads:
            thread.start()
        if self._threads:
            threading.Thread(target=self._warm_up, name="hws-schema-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        """Compile the installed schema sets and load the PDF reader now, not when the
        first package arrives."""
        started = time.perf_counter()
        media.load_pdf_reader()
        try:
            outcome = self._schemas.warm()
        except Exception:  # the first validation will say what is wrong
            log.warning("schema sets could not be compiled ahead", exc_info=True, extra={"event": "schemas.warm_failed"})
            return
        for version, problem in outcome.items():
            if problem is not None:
                log.warning("schema set %s does not compile: %s", version, problem,
                            extra={"event": "schemas.broken", "version": version})  # fmt: skip
        if outcome:
            log.info(
                "schema sets compiled ahead",
                extra={"event": "schemas.compiled", "versions": sorted(v for v, p in outcome.items() if p is None),
                       "seconds": round(time.perf_counter() - started, 3)},
            )  # fmt: skip

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        self._signal.ring()  # idle runners see the stop at once
        if self._listener is not None:
            self._listener.stop()
        for thread in self._threads:
            thread.join(timeout)
