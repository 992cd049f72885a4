"""Housekeeping: orphan blobs and temporary uploads, expired idempotency keys and
assertion uses, events past their retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from hws.service import Service
from hws.store import assertion_uses
from hws.store import events as event_store
from hws.store import imports as import_store

log = logging.getLogger("hws.worker.maintenance")


def sweep_orphans(service: Service, grace: float | None = None) -> dict[str, int]:
    """Delete temporary uploads and blob files no row references, once older than ``grace``.

    A blob is written and fsynced before the transaction that references it; a crash
    between the two leaves a file nobody points to. The grace period keeps blobs of
    uploads still in flight in other processes.
    """
    grace = service.settings.blob_orphan_grace if grace is None else grace
    cutoff = service.clock.timestamp() - grace
    removed_tmp = service.blobs.sweep_temporary(cutoff)
    removed = 0
    with service.blobs.sweeping() as exclusive:
        if not exclusive:  # rows are being committed right now: next round
            return {"blobs": 0, "temporary": removed_tmp}
        candidates = [sha for sha, mtime in service.blobs.list_blobs() if mtime < cutoff]
        with service.engine.connect() as conn:
            for start in range(0, len(candidates), 500):
                chunk = candidates[start : start + 500]
                known = import_store.referenced_blobs(conn, chunk)
                for sha in chunk:
                    if sha not in known:
                        service.blobs.delete(sha, older_than=cutoff)
                        removed += 1
    if removed or removed_tmp:
        log.info("orphans swept", extra={"event": "blobs.swept", "blobs": removed, "temporary": removed_tmp})
    return {"blobs": removed, "temporary": removed_tmp}


def purge_expired(service: Service) -> None:
    now = int(service.clock.timestamp())
    import_store.purge_idempotency_keys(service.engine, now)
    assertion_uses.purge_expired(service.engine, now)
    event_store.prune(service.engine, service.clock.now() - timedelta(days=service.settings.event_retention_days))
