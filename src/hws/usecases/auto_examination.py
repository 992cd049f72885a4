"""Automatic examination for sandboxes (``HWS_EXAMINATION=auto``).

Lets an office walk the whole life cycle without an operator:

- every imported request is taken up (Undefined → Processing);
- an application is registered, unless an irregularity is due: ``HWS_AUTO_IRREGULARITY``
  ``always`` (the first time), ``formal`` (no fee payment in the package: a fee
  shortfall, two-month deadline) or ``never``;
- a decision is recorded against the registration its IRN names, or gets an
  irregularity when there is no such registration, or is cancelled when that
  registration does not designate the sending office (``decision-office-not-designated``);
- a ``HagueGenericOfficeCommunication`` whose office reference is that of one of the
  office's requests waiting for regularization cures it: the request goes back to
  Processing and is examined again, and the communication is recorded against it.

Each step is idempotent on the request's status, so a retaken job resumes safely.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from hws.domain.lifecycle import Status
from hws.store import service_requests as sr_store
from hws.store.jobs import Job, JobKind
from hws.store.service_requests import ServiceRequest
from hws.usecases.examination import APPLICATION, Examiner
from hws.usecases.ports import AutoExamining

log = logging.getLogger("hws.worker.examination")

ACTOR = "auto-examination"
GENERIC = "HagueGenericOfficeCommunication"


def enqueue_examination(conn: Connection, service: AutoExamining, srn: str) -> None:
    service.jobs.enqueue(conn, JobKind.EXAMINE, srn)


def _was_regularized(service: AutoExamining, srn: str) -> bool:
    return any(
        e["from"] == Status.PENDING_REGULARIZATION.value and e["to"] == Status.PROCESSING.value
        for e in sr_store.history(service.engine, srn)
    )


def _cure_target(service: AutoExamining, sr: ServiceRequest) -> ServiceRequest | None:
    if sr.transaction != GENERIC or not sr.office_reference:
        return None
    waiting = sr_store.find(
        service.engine, status=Status.PENDING_REGULARIZATION.value, office=sr.office, office_reference=sr.office_reference
    )
    return next((w for w in waiting if w.srn != sr.srn), None)


def examine(service: AutoExamining, job: Job) -> str:
    examiner = Examiner(service)
    sr = sr_store.get(service.engine, job.ref)
    if sr is None:
        raise RuntimeError(f"service request {job.ref} does not exist")
    if sr.status == Status.UNDEFINED.value:
        sr = examiner.take_up(sr.srn, actor=ACTOR)
    if sr.status == Status.PROCESSING.value:
        sr = _decide(service, examiner, sr)
    with service.engine.begin() as conn:
        service.jobs.complete(conn, job)
    return sr.status


def _decide(service: AutoExamining, examiner: Examiner, sr: ServiceRequest) -> ServiceRequest:
    policy = service.settings.auto_irregularity
    target = _cure_target(service, sr)
    if target is not None:
        examiner.regularize(
            target.srn,
            actor=ACTOR,
            reason=f"cured by the office's communication {sr.srn}",
            after=lambda conn, _sr: enqueue_examination(conn, service, target.srn),
        )
        return examiner.register(sr.srn, actor=ACTOR, reason=f"communication curing {target.srn}", recorded_against=target.srn)
    if sr.transaction == APPLICATION:
        if policy != "never" and not _was_regularized(service, sr.srn):
            if policy == "always":
                return examiner.notify_irregularity(
                    sr.srn,
                    actor=ACTOR,
                    reason="sandbox: every application is first found irregular; cure it with a "
                    "HagueGenericOfficeCommunication carrying the same office reference",
                )
            if not sr.content.payments:
                return examiner.notify_irregularity(
                    sr.srn,
                    actor=ACTOR,
                    reason="no payment of the fees is indicated (less than the basic fee paid)",
                    fee_shortfall=True,
                )
        return examiner.register(sr.srn, actor=ACTOR)
    if sr.target_irn and not examiner.registration_exists(sr.target_irn):
        return examiner.notify_irregularity(
            sr.srn, actor=ACTOR, reason=f"no international registration {sr.target_irn} is recorded"
        )
    refused = examiner.decision_refused(sr)
    if refused is not None:  # no cure can make the office designated: the decision is not recorded
        return examiner.cancel(sr.srn, actor=ACTOR, reason=f"{refused.code}: {refused.message}")
    return examiner.register(sr.srn, actor=ACTOR)
