"""From the service's records to the writers' inputs: a :class:`Registration` per
registered application (:func:`registration_from_content`) and a :class:`Decision` per
recorded decision (:func:`decision_from_content`), from the package's content as read once
at import (:class:`~hws.st96.package.PackageContent`) and the request's stored files.
Nothing here reads the office's XML: only a record stored before
:data:`~hws.st96.package.RECORD_VERSION` gets its details from it (:func:`stored_content`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from hws.st96 import safexml
from hws.st96.package import PackageContent, with_details
from hws.st96.publication.model import (
    Decision,
    DecisionDocument,
    Design,
    Priority,
    PublicationError,
    Registration,
    View,
)
from hws.st96.reading import DecisionDetails, Designation, Party


def _get(record: Any, key: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(key)
    return getattr(record, key, None)


def _files_by_path(files: Iterable[Any]) -> dict[str, Any]:
    return {str(_get(f, "path")): f for f in files}


def stored_content(data: Mapping[str, Any], source_xml: bytes | None = None) -> PackageContent:
    """A service request's stored record; one stored before :data:`RECORD_VERSION` gets its
    details (parties, Acts, descriptions, grounds…) read from ``source_xml`` when given."""
    content = PackageContent.from_json(data)
    if not content.details_read and source_xml:
        content = with_details(content, safexml.parse(source_xml).getroot())
    return content


def registration_from_content(
    content: PackageContent,
    files: Iterable[Any],
    *,
    irn: str,
    srn: str,
    registration_date: date,
    expected_publication_date: date,
) -> Registration:
    """A :class:`Registration` for a registered application; ``files``: its stored files
    (objects or mappings with ``path``, ``sha256``, ``media_type``)."""
    stored = _files_by_path(files)
    filing = content.filing_date or content.request_date
    if filing is None:
        raise PublicationError(f"{irn}: no filing date")
    designs = []
    for n, design in enumerate(content.designs, start=1):
        ident = design.identifier or str(n)
        views = []
        for m, view in enumerate(design.views, start=1):
            found = stored.get(view.file)
            if found is None:
                raise PublicationError(f"{irn} design {ident}: the view file {view.file!r} is not among the stored files")
            views.append(
                View(
                    identifier=view.identifier or f"{ident}.{m}",
                    view_type=view.view_type,
                    file_name=view.file,
                    sha256=str(_get(found, "sha256")),
                    media_type=str(_get(found, "media_type") or ""),
                )
            )
        designs.append(
            Design(
                identifier=ident,
                product=design.product or "-",
                locarno_classes=design.locarno_classes,
                views=tuple(views),
                description=design.description,
                priorities=tuple(Priority(p.country, p.filing_date, p.number) for p in design.priorities),
                locarno_edition=design.locarno_edition or "14",
            )
        )
    acts = {designation.office: designation.act for designation in content.designations}
    offices = list(dict.fromkeys(content.designated_offices or acts))
    holders = content.holders or tuple(Party(name=name) for name in content.applicants)
    return Registration(
        irn=irn,
        srn=srn,
        registration_date=registration_date,
        filing_date=filing,
        expected_publication_date=expected_publication_date,
        holders=holders,
        designations=tuple(Designation(code, acts.get(code)) for code in offices),
        designs=tuple(designs),
        language=content.language or "en",
        deferment_expiry_date=content.deferment_until(filing),
        office_reference=content.office_reference,
        applicant_reference=content.applicant_reference,
        representatives=content.representatives,
    )


def decision_from_content(
    content: PackageContent,
    files: Iterable[Any],
    *,
    srn: str,
    recorded_date: date,
    irn: str | None = None,
) -> Decision:
    """A :class:`Decision` for a recorded decision; its document is the first stored PDF
    the package lists (any stored PDF when it lists none)."""
    target = irn or content.irn
    if not target:
        raise PublicationError(f"record {srn}: the decision names no international registration")
    listed = {d.file: d for d in content.documents}
    document = None
    for f in sorted(files, key=lambda f: str(_get(f, "path"))):
        path = str(_get(f, "path"))
        media = str(_get(f, "media_type") or "")
        if media == "application/pdf" and (path in listed or not listed):
            category = (listed[path].kind if path in listed else None) or _get(f, "kind")
            document = DecisionDocument(path, str(_get(f, "sha256")), media, category)
            break
    details = content.decision_details or DecisionDetails()
    return Decision(
        irn=target,
        srn=srn,
        kind=str(content.transaction),
        office=content.office,
        recorded_date=recorded_date,
        decision_date=content.decision_date,
        effective_date=content.decision_effective_date,
        affected_designs=content.affected_designs or None,
        document=document,
        office_reference=content.office_reference,
        grounds=details.grounds,
        remedies=details.remedies,
        amendment=details.amendment,
        comment=details.comment,
        prior_refusal=details.prior_refusal,
        language=content.language or "en",
    )


def registration_from_service_request(
    data: Mapping[str, Any], files: Iterable[Any], source_xml: bytes | None = None, **facts: Any
) -> Registration:
    """:func:`registration_from_content` for a request's stored JSON (``source_xml``:
    only for a record stored before :data:`RECORD_VERSION`)."""
    return registration_from_content(stored_content(data, source_xml), files, **facts)


def decision_from_service_request(
    data: Mapping[str, Any], files: Iterable[Any], source_xml: bytes | None = None, **facts: Any
) -> Decision:
    """:func:`decision_from_content` for a request's stored JSON (``source_xml`` as above)."""
    return decision_from_content(stored_content(data, source_xml), files, **facts)
