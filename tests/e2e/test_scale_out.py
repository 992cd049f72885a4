"""Scale-out on one machine (DESIGN "Scaling out", docs/deployment.md): two API
processes and three worker processes over PostgreSQL and S3 (moto in server mode), ten
office clients pushing 500 packages, one worker and one API process SIGKILLed mid-run.

The API processes are two ``hws serve`` on two ports, one public URL (as behind a load
balancer), not ``hws serve --workers 2``: uvicorn's supervisor respawns a killed child
on the same socket, so a client would only see its request in flight cut. Two processes
on two ports make the client fail over: its token, signed by the dead process, and its
retried Idempotency-Key, bound by the dead process, must be honoured by the other one —
the statelessness the design claims. The dead API process stays dead.

Shown: every package answered 202 is processed exactly once (one import, one done job,
one service request, one ``import.imported`` audit event); no retry or deliberate
second send with the same Idempotency-Key makes a second import; SRNs and IRNs are
unique and gap-free; the killed worker's jobs are retaken after their lease; its
scheduler leadership passes to another process; and, after the sandbox clock passes the
next publication moment, each week's bulletin and confidential copies are built exactly
once among the five competing schedulers and are in the bucket.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from hws.store.database import create_db_engine
from hws.store.jobs import JobKind
from hws.store.tables import audit_events, idempotency_keys, imports, jobs, publications, service_requests, sr_events
from tests.support.cluster import Ack, Cluster, MotoProcess, Node, OfficeClient, process_cpu, text_of
from tests.support.databases import fresh_postgres_database
from tests.support.load import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SETTINGS = {
    "HWS_SANDBOX": "1",
    "HWS_EXAMINATION": "auto",
    "HWS_AUTO_IRREGULARITY": "never",  # every application is registered
    "HWS_JOB_LEASE_SECONDS": "3",  # a killed worker's job is retaken 3 s later
    "HWS_SCHEDULER_INTERVAL": "0.3",
    "HWS_WORKER_POLL_INTERVAL": "0.1",
}
#: client ID → (office, examining); ten clients, several per office.
CLIENTS = {
    "kr-1": ("KR", False), "kr-2": ("KR", False), "kr-3": ("KR", False),
    "us-1": ("US", True), "us-2": ("US", True),
    "jp-1": ("JP", True), "jp-2": ("JP", True),
    "em-1": ("EM", False), "em-2": ("EM", False),
    "ch-1": ("CH", False),
}  # fmt: skip
EXAMINING = sorted({office for office, examining in CLIENTS.values() if examining})
PER_CLIENT = 50
DECISIONS_PER_EXAMINING_CLIENT = 5  # the last packages: a grant or refusal on one of its own registrations
TOTAL = PER_CLIENT * len(CLIENTS)
KILL_AFTER = 150  # acknowledged packages before the kills
WORKERS, WORKER_THREADS = 3, 2


#: A small application (one design, one view, one document: few blobs per import),
#: published at once so the next weekly issue carries it; it designates EM, US and JP.
APPLICATION = {
    "deferment": None,
    "immediate_publication": True,
    "designs": [{"id": "1", "product": "Chair", "locarno": "06-01", "views": [{"file": "images/1.1.jpg"}]}],
    "documents": [{"file": "docs/dm1.pdf", "kind": "INTERNATIONAL_DESIGN_APPLICATION"}],
}


def make_package(run: str) -> Any:
    def make(client: OfficeClient, n: int) -> tuple[str, bytes]:
        office = client.office.office
        reference = f"{client.name.upper()}-{run}-{n}"
        first_decision = PER_CLIENT - DECISIONS_PER_EXAMINING_CLIENT
        if client.office.examining and n >= first_decision:
            k = n - first_decision
            irn = registered_irn(client, client.acks[k])
            if k % 2:
                return "refusal", example_package(
                    "refusal", office=office, office_reference=reference, irn=irn, affected_designs=["1"]
                )
            return "grant", example_package("grant", office=office, office_reference=reference, irn=irn)
        return "application", example_package("application", office=office, office_reference=reference, **APPLICATION)

    return make


def registered_irn(client: OfficeClient, ack: Ack, timeout: float = 90) -> str:
    """The IRN of one of the office's applications, once registered (over the API)."""

    def srn() -> str | None:
        body = client.get(f"/request/import/{ack.import_id}").content
        return text_of(body, "RecordIdentifier") if text_of(body, "ImportStatusCategory") == "Imported" else None

    found = wait_for(srn, timeout, interval=0.2, what=f"import {ack.import_id}")
    return wait_for(  # type: ignore[no-any-return]
        lambda: text_of(client.get(f"/request/{found}").content, "InternationalRegistrationNumber"),
        timeout,
        interval=0.2,
        what=f"registration of {found}",
    )


def rows(engine: Any, query: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def test_two_api_and_three_worker_processes_lose_nothing_and_do_nothing_twice(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    began = time.monotonic()
    moto = MotoProcess(tmp_path / "moto.log")
    s3, bucket = moto.client, moto.new_bucket()
    with fresh_postgres_database() as url:
        cluster = Cluster(tmp_path / "cluster", url, moto.env(bucket), **SETTINGS)
        engine = create_db_engine(url, pool_size=2)
        clients: list[OfficeClient] = []
        try:
            # --- the deployment: migrate once; one worker first (it takes the scheduler
            # lead) while the offices are enrolled, then the other workers and the APIs.
            cluster.migrate()
            leader = cluster.start_worker("worker-0", WORKER_THREADS)
            offices = cluster.enrol(CLIENTS)
            cluster.wait_ready([leader])
            wait_for(lambda: cluster.scheduler_leader() is leader, 20, interval=0.1, what="worker-0 to lead")
            others = [cluster.start_worker(f"worker-{i}", WORKER_THREADS) for i in range(1, WORKERS)]
            apis = [cluster.start_api("api-0"), cluster.start_api("api-1")]
            cluster.wait_ready([*others, *apis])
            timings["start"] = time.monotonic() - began

            # --- ten offices, half starting on each API process.
            endpoints = [api.url for api in apis if api.url]
            run = secrets.token_hex(3)
            clients = [
                OfficeClient(office, endpoints, make_package(run), count=PER_CLIENT, first=i) for i, office in enumerate(offices)
            ]
            upload_began = time.monotonic()
            for client in clients:
                client.start()

            # --- mid-run: SIGKILL the worker leading the scheduler while it runs a job,
            # then an API process while uploads are in flight on it.
            victim, dead_api = leader, apis[1]

            def running_on(node: Node) -> list[int]:
                owned = jobs.c.lease_owner.like(f"%:{node.pid}:%")
                return [r.id for r in rows(engine, select(jobs.c.id).where(jobs.c.status == "running", owned))]

            def kill_moment() -> bool:
                return sum(len(c.acks) for c in clients) >= KILL_AFTER and bool(running_on(victim))

            wait_for(kill_moment, 60, interval=0.01, what=f"{KILL_AFTER} acknowledged and a job running on worker-0")
            assert cluster.scheduler_leader() is victim
            victim.kill()
            dead_api.kill()
            killed_at = datetime.now(UTC)
            acknowledged_at_kill = sum(len(c.acks) for c in clients)
            orphaned = running_on(victim)  # left running by the dead worker: retaken after the lease
            timings["kill"] = time.monotonic() - upload_began
            new_leader = wait_for(cluster.scheduler_leader, 15, interval=0.1, what="a new scheduler leader")
            timings["leader_takeover"] = time.monotonic() - (victim.killed_at or 0)

            for client in clients:
                client.join(180)
            timings["uploads"] = time.monotonic() - upload_began
            problems = {c.name: repr(c.error) for c in clients if c.error}
            assert not problems, problems
            assert not [r for c in clients for r in c.stats.refused]

            # --- every import finished: imports, import jobs and examinations.
            def settled() -> bool:
                statuses = Counter(r.status for r in rows(engine, select(imports.c.status)))
                job_statuses = Counter(r.status for r in rows(engine, select(jobs.c.status)))
                srs = Counter(r.status for r in rows(engine, select(service_requests.c.status)))
                return statuses == {"Imported": TOTAL} and job_statuses == {"done": 2 * TOTAL} and srs == {"Registered": TOTAL}

            wait_for(settled, 120, interval=0.5, what="every import processed and examined")
            timings["processed"] = time.monotonic() - upload_began

            # --- the answers: 500 distinct packages, 500 import IDs; replays answered alike.
            acks = [a for c in clients for a in c.acks]
            assert len(acks) == TOTAL
            assert len({a.key for a in acks}) == TOTAL
            by_id = {a.import_id: a for a in acks}
            assert len(by_id) == TOTAL
            replays = [a for a in acks if a.replayed_import_id is not None]
            assert len(replays) == TOTAL // 10
            assert all(a.replayed_import_id == a.import_id for a in replays), [
                (a.key, a.import_id, a.replayed_import_id) for a in replays if a.replayed_import_id != a.import_id
            ]
            cross_process = sum(1 for a in replays if a.replayed_by != a.answered_by)
            assert cross_process >= 5  # (before the kill) answered by the other API process
            failovers = sum(c.stats.failovers for c in clients)
            assert failovers >= 1, "no client noticed the dead API process"
            answered_by = Counter(a.answered_by for a in acks)

            # --- the database: each import once, each job once and done, no extra import.
            import_rows = {r.import_id: r for r in rows(engine, select(imports))}
            assert set(import_rows) == set(by_id), "imports without a 202, or 202s without an import"
            assert {r.status for r in import_rows.values()} == {"Imported"}
            # A package cut off by the kill after its import was committed, sent again
            # with its key to the other process: the import from before the kill.
            replayed_across_kill = [
                a
                for a in acks
                if a.attempts > 1 and a.answered_by != dead_api.url and import_rows[a.import_id].received_at < killed_at
            ]
            bound = {(r.client_id, r.key): r.import_id for r in rows(engine, select(idempotency_keys))}
            assert bound == {(a.client, a.key): a.import_id for a in acks}
            audit = rows(
                engine, select(audit_events.c.action, audit_events.c.target, audit_events.c.detail, audit_events.c.office)
            )
            submitted = [e for e in audit if e.action == "request.submitted"]
            assert Counter(e.target for e in submitted) == Counter(by_id.keys())  # one per import, none for retries
            assert sorted(json.loads(e.detail)["idempotency_key"] for e in submitted) == sorted(a.key for a in acks)
            imported_events = Counter(e.target for e in audit if e.action == "import.imported")
            assert imported_events == Counter(by_id.keys()), imported_events.most_common(3)

            job_rows = rows(engine, select(jobs))
            import_jobs = Counter(j.ref for j in job_rows if j.kind == JobKind.IMPORT)
            assert import_jobs == Counter(by_id.keys())
            assert {j.status for j in job_rows} == {"done"}
            assert orphaned, "worker-0 was killed with no job running"
            retaken = {j.id for j in job_rows if j.attempts > 1}
            assert set(orphaned) <= retaken, (orphaned, retaken)

            sr_rows = {r.srn: r for r in rows(engine, select(service_requests))}
            srns = [r.srn for r in import_rows.values()]
            assert len(set(srns)) == TOTAL and None not in srns
            assert set(srns) == set(sr_rows)
            assert sorted(srns) == [str(970000001 + i) for i in range(TOTAL)]  # gap-free: no SRN taken twice
            assert all(sr_rows[r.srn].import_id == r.import_id for r in import_rows.values())
            examine_jobs = Counter(j.ref for j in job_rows if j.kind == JobKind.EXAMINE)
            assert examine_jobs == Counter(sr_rows.keys())
            registered = Counter(
                e.srn for e in rows(engine, select(sr_events.c.srn).where(sr_events.c.to_status == "Registered"))
            )
            assert registered == Counter(sr_rows.keys())  # each registered once, by one examination

            applications = [r for r in sr_rows.values() if r.transaction == "HagueApplication"]
            decisions = [r for r in sr_rows.values() if r.transaction != "HagueApplication"]
            expected_decisions = DECISIONS_PER_EXAMINING_CLIENT * sum(1 for _, e in CLIENTS.values() if e)
            assert len(decisions) == expected_decisions == sum(1 for a in acks if a.kind != "application")
            irns = sorted(r.irn for r in applications)
            assert irns == [f"DM/{200001 + i}" for i in range(len(applications))]  # unique, gap-free
            by_irn = {r.irn: r for r in applications}
            for decision in decisions:
                target = by_irn[decision.target_irn]
                assert decision.recorded_against == target.srn and target.office == decision.office

            # --- the week: the sandbox clock passes the next publication moment (every
            # registration's expected week), and the five schedulers compete to publish it.
            schedule = Schedule()
            last = max(Week.of(r.expected_publication) for r in applications)
            now = datetime.fromisoformat(cluster.hws_json("admin", "clock", "show")["now"])
            already = {(r.kind, r.week, r.office) for r in rows(engine, select(publications))}
            cluster.hws("admin", "clock", "advance", f"{int((schedule.moment(last) - now).total_seconds()) + 60}s")
            advanced = time.monotonic()
            wanted = {("bulletin", last.id, "")} | {("confidential", last.id, office) for office in EXAMINING}

            def published() -> bool:
                return wanted <= {(r.kind, r.week, r.office) for r in rows(engine, select(publications))}

            wait_for(published, 180, interval=0.2, what=f"week {last.id} published")  # slow shared machines
            timings["publish"] = time.monotonic() - advanced
            time.sleep(2)  # several more scheduler rounds in every live process: nothing more happens

            pubs = rows(engine, select(publications))
            keys = [(p.kind, p.week, p.office) for p in pubs]
            weeks_after = sorted({p.week for p in pubs if (p.kind, p.week, p.office) not in already})
            assert last.id in weeks_after
            audit = rows(engine, select(audit_events.c.action, audit_events.c.target, audit_events.c.office))
            events = Counter(
                (e.target.split("/")[0], e.target.split("/")[1], e.office or "")
                for e in audit
                if e.action == "publication.published"
            )
            assert events == Counter(keys), events  # one audit event per file, and per file one event
            logged = Counter(
                (e["kind"], e["week"], e["office"]) for node in cluster.nodes for e in node.events("publication.published")
            )
            assert logged == Counter(keys), logged  # built once, by one process, in all the logs
            publishers = sorted(
                {node.name for node in cluster.nodes if any(e["week"] == last.id for e in node.events("publication.published"))}
            )
            assert len(publishers) == 1 and publishers[0] != victim.name

            bulletins = [p for p in pubs if p.kind == "bulletin"]
            assert sum(p.registrations for p in bulletins) == len(applications)
            assert sum(p.decisions for p in bulletins) == len(decisions)
            for office in EXAMINING:
                copies = [p for p in pubs if p.kind == "confidential" and p.office == office]
                assert sum(p.registrations for p in copies) == len(applications)  # all designate US and JP
            stored = [p for p in pubs if p.sha256]
            assert ("bulletin", last.id, "") in {(p.kind, p.week, p.office) for p in stored}
            for p in stored:
                head = s3.head_object(Bucket=bucket, Key=f"hws/sha256/{p.sha256[:2]}/{p.sha256[2:4]}/{p.sha256}")
                assert head["ContentLength"] == p.size, p

            # --- the survivors stop cleanly (SIGTERM drains).
            cpu = {**cluster.cpu_seconds(), "moto": process_cpu(moto.process.pid), "test": round(sum(os.times()[:2]), 1)}
            codes = cluster.stop()
            assert codes == {n.name: 0 for n in cluster.nodes if n not in (victim, dead_api)}, {
                n.name: (codes.get(n.name), n.log()[-3000:]) for n in cluster.nodes if codes.get(n.name)
            }
            timings["total"] = time.monotonic() - began

            retries = Counter[str]()
            for client in clients:
                retries.update(client.stats.retries)
            facts = {
                "acknowledged": len(acks),
                "applications": len(applications),
                "decisions": len(decisions),
                "acknowledged_at_kill": acknowledged_at_kill,
                "answered_by": {("api-0" if u == apis[0].url else "api-1"): n for u, n in answered_by.items()},
                "retries": dict(retries),  # ConnectError: failovers, and second sends pinned to the dead process
                "failovers": failovers,
                "replays": len(replays),
                "committed_before_kill_answered_after": len(replayed_across_kill),
                "replays_to_other_process": cross_process,
                "orphaned_jobs": len(orphaned),
                "retaken_jobs": len(retaken),
                "new_leader": new_leader.name,
                "publisher": publishers[0],
                "weeks_published_after_advance": weeks_after,
                "publications": len(pubs),
                "cpu_seconds": cpu,
                "timings": {k: round(v, 1) for k, v in timings.items()},
            }
            sys.stderr.write(f"\nscale-out: {json.dumps(facts)}\n")
        finally:
            sys.stderr.write(f"\nscale-out timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}\n")
            cpu = {**cluster.cpu_seconds(), "moto": process_cpu(moto.process.pid), "test": round(sum(os.times()[:2]), 1)}
            sys.stderr.write(f"scale-out cpu: {json.dumps(cpu)}\n")
            cluster.stop()
            engine.dispose()
            moto.stop()
