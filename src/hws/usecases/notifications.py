"""Events raised by the use cases, each in the transaction of the change it describes
(:func:`hws.store.events.record`: the outbox). Their ``data`` carries the fields of the
status documents, camelCase as in their JSON form; ``time`` is the business calendar's
(the sandbox's movable clock), the retention clock the real one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from hws.domain.events import EventType
from hws.store import events as event_store
from hws.store import service_requests as sr_store
from hws.store.publications import BULLETIN, Publication
from hws.store.service_requests import ServiceRequest
from hws.usecases.ports import Recording

APPLICATION = "HagueApplication"


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def import_finished(
    conn: Connection,
    service: Recording,
    *,
    import_id: str,
    office: str,
    status: str,
    at: datetime,
    transaction: str | None,
    office_reference: str | None,
    srn: str | None,
    problems: list[dict[str, object]],
) -> None:
    """``import.accepted`` (with the SRN and any warnings) or ``import.rejected`` (with every problem)."""
    data: dict[str, Any] = {
        "importId": import_id,
        "status": status,
        "transaction": transaction,
        "officeReference": office_reference,
        "processedAt": at.isoformat(),
        "problems": problems,
    }
    if srn is not None:
        data["serviceRequestNumber"] = srn
    event_store.record(
        conn,
        office=office,
        type=EventType.IMPORT_ACCEPTED if srn is not None else EventType.IMPORT_REJECTED,
        subject=import_id,
        data=data,
        time=at,
        now=service.clock.now(),
    )


def request_data(sr: ServiceRequest) -> dict[str, Any]:
    """The fields of the service request status document."""
    return {
        "serviceRequestNumber": sr.srn,
        "importId": sr.import_id,
        "transaction": sr.transaction,
        "status": sr.status,
        "officeReference": sr.office_reference,
        "internationalRegistrationNumber": sr.irn or sr.target_irn,
        "expectedPublicationDate": _date(sr.expected_publication),
        "regularizationDeadline": _date(sr.regularization_deadline),
        "lastChange": sr.updated_at.isoformat(),
    }


def status_changed(conn: Connection, service: Recording, before: ServiceRequest, reason: str, at: datetime) -> None:
    """``request.status-changed`` to the request's office (read after the change, in its
    transaction); for a decision now recorded, also ``decision.recorded`` to that office
    and to the office of the registration it is recorded against."""
    after = sr_store.get_in(conn, before.srn)
    assert after is not None
    now = service.clock.now()
    data = {**request_data(after), "previousStatus": before.status, "reason": reason}
    event_store.record(conn, office=after.office, type=EventType.STATUS_CHANGED, subject=after.srn, data=data, time=at, now=now)
    if after.status != "Registered" or after.transaction == APPLICATION or not after.target_irn:
        return
    decision = {
        "serviceRequestNumber": after.srn,
        "transaction": after.transaction,
        "internationalRegistrationNumber": after.target_irn,
        "recordedAgainst": after.recorded_against,
        "officeReference": after.office_reference,
        "recordedAt": at.isoformat(),
    }
    told = [after.office]
    target = sr_store.registration_in(conn, after.target_irn)
    if target is not None and target.office not in told:
        told.append(target.office)
    for office in told:
        event_store.record(
            conn, office=office, type=EventType.DECISION_RECORDED, subject=after.srn, data=decision, time=at, now=now
        )


def published(conn: Connection, service: Recording, publication: Publication) -> None:
    """``bulletin.published`` to every office with an active client, or
    ``confidential-copy.published`` to its office alone. Weeks with nothing published raise nothing."""
    if publication.sha256 is None:
        return
    kind = "bulletin" if publication.kind == BULLETIN else "copy/confidential"
    data = {
        "week": publication.week,
        "kind": publication.kind,
        "sha256": publication.sha256,
        "size": publication.size,
        "registrations": publication.registrations,
        "decisions": publication.decisions,
        "publishedAt": publication.published_at.isoformat(),
        "href": f"{service.settings.api_url}/publication/{kind}/{publication.week}",
    }
    now = service.clock.now()
    if publication.kind == BULLETIN:
        for office in event_store.offices(conn):
            event_store.record(
                conn,
                office=office,
                type=EventType.BULLETIN_PUBLISHED,
                subject=publication.week,
                data=data,
                time=publication.published_at,
                now=now,
            )
    else:
        event_store.record(
            conn,
            office=publication.office,
            type=EventType.COPY_PUBLISHED,
            subject=publication.week,
            data=data,
            time=publication.published_at,
            now=now,
        )
