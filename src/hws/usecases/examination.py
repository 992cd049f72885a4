"""Examination: the operator's actions on service requests, and the deadline sweeper.

Every action checks the life cycle (:mod:`hws.domain.lifecycle`), writes the new status
with its event (time, actor, reason) in one transaction guarded by the request's
version, and uses the service's calendar clock (movable in sandbox mode).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Connection

from hws.domain import lifecycle
from hws.domain.calendar_rules import expected_publication, regularization_deadline
from hws.domain.designations import SenderRefused, check_decision_sender
from hws.domain.identifiers import format_irn
from hws.domain.lifecycle import Status
from hws.store import audit
from hws.store import service_requests as sr_store
from hws.store.counters import next_value
from hws.store.service_requests import ServiceRequest
from hws.usecases import metrics, notifications
from hws.usecases.ports import Examining

log = logging.getLogger("hws.examination")

APPLICATION = "HagueApplication"


class ExaminationError(ValueError):
    """The action cannot be carried out; the message says why (shown to the operator)."""


def publication_inputs(sr: ServiceRequest, registration_date: date) -> dict[str, Any]:
    """What Rule 16/17 needs from the application: immediate publication, or when its
    deferment ends (the same rule the bulletin prints: ``PackageContent.deferment_until``)."""
    content = sr.content
    return {
        "immediate": bool(content.immediate_publication),
        "deferment_until": content.deferment_until(registration_date),
    }


class Examiner:
    def __init__(self, service: Examining) -> None:
        self.service = service

    # Helpers ------------------------------------------------------------------------

    def _act(
        self,
        srn: str,
        target: Status,
        *,
        actor: str,
        reason: str,
        sources: frozenset[Status] | None = None,
        fields: Callable[[Connection, ServiceRequest], dict[str, Any]] | None = None,
        after: Callable[[Connection, ServiceRequest], None] | None = None,
        source: str | None = None,
    ) -> ServiceRequest:
        now = self.service.calendar.now()
        with self.service.engine.begin() as conn:
            sr = sr_store.get_in(conn, srn)
            if sr is None:
                raise ExaminationError(f"no service request {srn}")
            try:
                lifecycle.check(sr.status, target)
                if sources is not None and Status(sr.status) not in sources:
                    raise lifecycle.TransitionRefused(Status(sr.status), target)
            except lifecycle.TransitionRefused as exc:
                expected = f" (this action applies to {', '.join(sorted(sources))} requests)" if sources else ""
                raise ExaminationError(f"{srn}: {exc}{expected}") from None
            values = fields(conn, sr) if fields else {}
            try:
                sr_store.transition(conn, sr, to_status=target.value, actor=actor, reason=reason, now=now, **values)
            except sr_store.StaleRequest:
                raise ExaminationError(f"{srn} changed meanwhile; look at it again") from None
            audit.record(conn, audit.AuditEvent(
                at=now, actor=actor, office=sr.office, action="sr.transition", target=srn, source=source,
                detail={"from": sr.status, "to": target.value, "reason": reason},
            ))  # fmt: skip
            notifications.status_changed(conn, self.service, sr, reason, now)
            if after:
                after(conn, sr)
        metrics.status_changed(sr.status, target.value)
        log.info(
            "service request moved",
            extra={"event": "sr.transition", "srn": srn, "from": sr.status, "to": target.value, "actor": actor, "reason": reason},
        )
        fresh = sr_store.get(self.service.engine, srn)
        assert fresh is not None
        return fresh

    # Actions -----------------------------------------------------------------------

    def take_up(
        self, srn: str, *, actor: str, reason: str = "taken up for examination", source: str | None = None
    ) -> ServiceRequest:
        return self._act(srn, Status.PROCESSING, actor=actor, reason=reason, sources=frozenset({Status.UNDEFINED}), source=source)

    def notify_irregularity(
        self, srn: str, *, actor: str, reason: str, fee_shortfall: bool = False, source: str | None = None
    ) -> ServiceRequest:
        if not reason.strip():
            raise ExaminationError("say what the irregularity is (the office must be able to cure it)")
        notified = self.service.calendar.now().date()
        deadline = regularization_deadline(notified, fee_shortfall=fee_shortfall)
        return self._act(
            srn,
            Status.PENDING_REGULARIZATION,
            actor=actor,
            reason=reason,
            sources=frozenset({Status.PROCESSING}),
            fields=lambda _c, _s: {"regularization_deadline": deadline, "fee_shortfall": fee_shortfall},
            source=source,
        )

    def regularize(
        self,
        srn: str,
        *,
        actor: str,
        reason: str = "irregularity remedied",
        after: Callable[[Connection, ServiceRequest], None] | None = None,
        source: str | None = None,
    ) -> ServiceRequest:
        return self._act(
            srn,
            Status.PROCESSING,
            actor=actor,
            reason=reason,
            sources=frozenset({Status.PENDING_REGULARIZATION}),
            fields=lambda _c, _s: {"regularization_deadline": None},
            after=after,
            source=source,
        )

    def cancel(self, srn: str, *, actor: str, reason: str, source: str | None = None) -> ServiceRequest:
        if not reason.strip():
            raise ExaminationError("give the reason for the cancellation")
        return self._act(srn, Status.CANCELLED, actor=actor, reason=reason, source=source)

    def register(
        self,
        srn: str,
        *,
        actor: str,
        reason: str = "recorded in the International Register",
        recorded_against: str | None = None,
        source: str | None = None,
    ) -> ServiceRequest:
        """Applications get an IRN and an expected publication date; decisions are
        recorded against the registration their IRN names; other communications against
        ``recorded_against`` (e.g. the request they cure)."""
        now = self.service.calendar.now()
        settings = self.service.settings

        def fields(conn: Connection, sr: ServiceRequest) -> dict[str, Any]:
            if sr.transaction == APPLICATION:
                irn = format_irn(next_value(conn, "irn", settings.irn_start))
                publication = expected_publication(
                    registration_date=now.date(), schedule=settings.schedule, **publication_inputs(sr, now.date())
                )
                return {"irn": irn, "expected_publication": publication, "registered_at": now}
            if sr.target_irn:
                target = self._registration(conn, sr.target_irn)
                if target is None:
                    raise ExaminationError(
                        f"{srn}: no international registration {sr.target_irn}; notify an irregularity instead"
                    )
                refused = self.sender_refused(conn, sr, target)
                if refused is not None:
                    raise ExaminationError(f"{srn}: {refused.code}: {refused.message}; cancel it instead")
                return {"recorded_against": target.srn, "registered_at": now}
            return {"registered_at": now, "recorded_against": recorded_against}

        return self._act(
            srn,
            Status.REGISTERED,
            actor=actor,
            reason=reason,
            sources=frozenset({Status.PROCESSING}),
            fields=fields,
            source=source,
        )

    @staticmethod
    def _registration(conn: Connection, irn: str) -> ServiceRequest | None:
        return sr_store.registration_in(conn, irn)

    @staticmethod
    def sender_refused(conn: Connection, sr: ServiceRequest, target: ServiceRequest) -> SenderRefused | None:
        """Why the office that sent decision ``sr`` may not act on registration ``target``
        (it must be designated by it), or ``None``."""
        return check_decision_sender(
            sr.transaction,
            sr.office,
            irn=target.irn or "",
            designated=sr_store.designations_in(conn, target.srn),
            filing_office=target.office,
        )

    def decision_refused(self, sr: ServiceRequest) -> SenderRefused | None:
        """:meth:`sender_refused` for a decision whose registration exists, else ``None``."""
        if not sr.target_irn:
            return None
        with self.service.engine.connect() as conn:
            target = self._registration(conn, sr.target_irn)
            return self.sender_refused(conn, sr, target) if target is not None else None

    def registration_exists(self, irn: str) -> bool:
        with self.service.engine.connect() as conn:
            return self._registration(conn, irn) is not None

    # Sweeper -----------------------------------------------------------------------

    def abandon_overdue(self) -> list[str]:
        """Abandon every request whose regularization deadline has passed."""
        today = self.service.calendar.now().date()
        abandoned = []
        for sr in sr_store.overdue(self.service.engine, today):
            try:
                self._act(
                    sr.srn,
                    Status.ABANDONED,
                    sources=frozenset({Status.PENDING_REGULARIZATION}),
                    actor="deadline",
                    reason=f"not regularized by {sr.regularization_deadline.isoformat() if sr.regularization_deadline else '?'}",
                )
                abandoned.append(sr.srn)
            except ExaminationError:
                continue  # moved meanwhile (regularized or cancelled)
        return abandoned
