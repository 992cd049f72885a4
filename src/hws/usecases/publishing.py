"""The weekly publisher: closes an ISO week and builds, once, its bulletin and one
confidential copy per examining office (spec §7).

- bulletin of week W: registrations whose expected publication date falls in W, and
  decisions recorded since the previous issue (between the publication moments of W-1
  and W);
- confidential copy of W for office X: applications registered since the previous issue
  that designate X — deferred ones included.

Each file is written by :mod:`hws.st96.publication` to a temporary file, stored as one
immutable blob and recorded once. Memory stays flat whatever the size of the week:
registrations are streamed from the database in IRN order, one at a time, while the
issue is written (one query; a :class:`~hws.st96.publication.RegistrationStream`), and
images are streamed from the blob store; only the decisions (few) are held as a list.
The inputs of a closed week no longer change, and the writer is deterministic, so
building a week again yields the same bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from hws.domain.weeks import Week, weeks_between
from hws.st96 import publication as writer
from hws.st96 import safexml
from hws.st96.package import PackageContent, with_details
from hws.store import audit, register
from hws.store import imports as import_store
from hws.store import publications as pub_store
from hws.store import service_requests as sr_store
from hws.store.blobs import BlobRef
from hws.usecases import metrics, notifications
from hws.usecases.ports import Publishing

log = logging.getLogger("hws.worker.publisher")


@dataclass(frozen=True)
class WeekInputs:
    """What a week publishes. The registrations are not held: each build streams them
    (a :class:`~hws.st96.publication.RegistrationStream`, or any list for the writer)."""

    week: Week
    registrations: Iterable[writer.Registration]  # the bulletin's
    decisions: list[writer.Decision]
    #: office → the registrations of the week's window designating it (its confidential copy)
    recorded: Callable[[str], Iterable[writer.Registration]]


#: registrations fetched from the database per round trip while streaming
STREAM_BATCH = 64


class Publisher:
    def __init__(self, service: Publishing) -> None:
        self.service = service
        self.schedule = service.settings.schedule

    # Which weeks ----------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[Week]:
        """Weeks whose publication moment has passed and that are not yet published."""
        now = now or self.service.calendar.now()
        latest = self.schedule.latest_due(now)
        last = pub_store.latest_week(self.service.engine)
        if last is not None:
            first = Week.parse(last).next()
        else:
            first = self._first_week() or latest
        return weeks_between(first, latest) if first <= latest else []

    def _first_week(self) -> Week | None:
        earliest = register.earliest_filing(self.service.engine)
        # The first issue that can hold anything is the first one after the earliest request
        # was filed; weeks whose moment passed before that have nothing to publish.
        return self.schedule.next_after(earliest) if earliest else None

    def catch_up(self) -> list[str]:
        published = []
        for week in self.due():
            self.publish(week)
            published.append(week.id)
        return published

    # Inputs ---------------------------------------------------------------------------

    def _window(self, week: Week) -> tuple[datetime, datetime]:
        return self.schedule.moment(week.previous()), self.schedule.moment(week)

    def _complete(self, content: PackageContent, files: list[sr_store.StoredFile]) -> PackageContent:
        """The record as import reads it today. Only one stored before
        :data:`~hws.st96.package.RECORD_VERSION` lacks details: they are read from its XML."""
        if content.details_read:
            return content
        xml = next((f for f in files if f.kind == "ST96_XML"), None)
        if xml is None:
            return content
        with self.service.files.open(xml.sha256) as handle:
            return with_details(content, safexml.parse(handle.read()).getroot())

    def _registration(self, found: register.RegisteredApplication) -> writer.Registration:
        return writer.registration_from_content(
            self._complete(found.content, found.files),
            found.files,
            irn=found.irn,
            srn=found.srn,
            registration_date=found.registered_at.date(),
            expected_publication_date=found.expected_publication,
        )

    def _request(self, srn: str) -> sr_store.ServiceRequest:
        found = sr_store.get(self.service.engine, srn)
        assert found is not None  # recorded requests are never deleted
        return found

    def _decision(self, sr: sr_store.ServiceRequest) -> writer.Decision:
        files = sr_store.files(self.service.engine, sr.srn)
        assert sr.registered_at
        return writer.decision_from_content(
            self._complete(sr.content, files), files, srn=sr.srn, recorded_date=sr.registered_at.date(), irn=sr.target_irn
        )

    def _registrations(self, criteria: register.RegistrationCriteria) -> writer.RegistrationStream:
        """The registrations matching ``criteria``, counted now and streamed in IRN order
        by one query each time the stream is iterated."""
        engine = self.service.engine
        count = register.count_registrations(engine, criteria)

        def produce() -> Iterator[writer.Registration]:
            for found in register.registrations(engine, criteria, batch=STREAM_BATCH):
                yield self._registration(found)

        return writer.RegistrationStream(count, produce)

    def inputs(self, week: Week) -> WeekInputs:
        start, end = self._window(week)
        published = self._registrations(
            register.RegistrationCriteria(recorded_until=end, publication_from=week.monday, publication_to=week.sunday)
        )
        decisions = [self._decision(self._request(s)) for s in register.decisions_recorded(self.service.engine, start, end)]

        def recorded(office: str) -> writer.RegistrationStream:
            return self._registrations(
                register.RegistrationCriteria(recorded_until=end, recorded_after=start, designating=office)
            )

        return WeekInputs(week, published, decisions, recorded)

    def examining_offices(self) -> list[str]:
        return register.examining_offices(self.service.engine)

    # Building -------------------------------------------------------------------------

    def _store(self, write: Callable[[BinaryIO], writer.PublicationSummary]) -> tuple[BlobRef, writer.PublicationSummary]:
        """Write to the blob store's scratch file, then copy it into the store (hashing as
        it goes)."""
        with self.service.blobs.staging() as handle:
            summary = write(handle)
            handle.flush()
            handle.seek(0)
            blob = self.service.blobs.writer()
            try:
                while chunk := handle.read(1024 * 1024):
                    blob.write(chunk)
                ref = blob.commit()
            except BaseException:
                blob.abort()
                raise
        return ref, summary

    def build_bulletin(self, week: Week, inputs: WeekInputs | None = None) -> tuple[BlobRef, writer.PublicationSummary]:
        inputs = inputs or self.inputs(week)
        return self._store(
            lambda out: writer.write_bulletin(
                out,
                week=week.id,
                publication_date=self.schedule.publication_date(week),
                registrations=inputs.registrations,
                decisions=inputs.decisions,
                open_blob=self.service.files.open,
            )
        )

    def build_confidential_copy(
        self, week: Week, office: str, inputs: WeekInputs | None = None
    ) -> tuple[BlobRef, writer.PublicationSummary]:
        inputs = inputs or self.inputs(week)
        return self._store(
            lambda out: writer.write_confidential_copy(
                out,
                week=week.id,
                office=office,
                publication_date=self.schedule.publication_date(week),
                registrations=inputs.recorded(office),
                open_blob=self.service.files.open,
            )
        )

    def publish(self, week: Week) -> list[pub_store.Publication]:
        """Publish ``week`` once: the bulletin and each examining office's copy.

        A publication that exists is never rebuilt (published weeks are immutable). A
        week with nothing to publish is recorded as such (ST.96 has no empty bulletin)."""
        with self.service.blobs.referencing():  # blobs written below stay safe from the sweeper
            return self._publish(week)

    def _publish(self, week: Week) -> list[pub_store.Publication]:
        inputs = self.inputs(week)
        now = self.service.calendar.now()
        built: list[pub_store.Publication] = []
        if pub_store.get(self.service.engine, pub_store.BULLETIN, week.id) is None:
            built.append(self._build(pub_store.BULLETIN, week, "", lambda: self.build_bulletin(week, inputs), now))
        for office in self.examining_offices():
            if pub_store.get(self.service.engine, pub_store.CONFIDENTIAL, week.id, office) is None:
                build = lambda office=office: self.build_confidential_copy(week, office, inputs)  # noqa: E731
                built.append(self._build(pub_store.CONFIDENTIAL, week, office, build, now))
        with self.service.engine.begin() as conn:
            for record in built:
                if record.sha256 is not None:
                    import_store.reference_blob(conn, record.sha256, record.size, now)
                if pub_store.insert(conn, record):
                    audit.record(conn, audit.AuditEvent(
                        at=now, actor="publisher", office=record.office or None, action="publication.published",
                        target=f"{record.kind}/{record.week}", detail={"sha256": record.sha256, "size": record.size,
                        "registrations": record.registrations, "decisions": record.decisions},
                    ))  # fmt: skip
                    notifications.published(conn, self.service, record)
        for record in built:
            log.info(
                "week published",
                extra={"event": "publication.published", "kind": record.kind, "week": record.week, "office": record.office,
                       "sha256": record.sha256, "size": record.size, "registrations": record.registrations,
                       "decisions": record.decisions},
            )  # fmt: skip
        return built

    @staticmethod
    def _build(
        kind: str,
        week: Week,
        office: str,
        build: Callable[[], tuple[BlobRef, writer.PublicationSummary]],
        now: datetime,
    ) -> pub_store.Publication:
        started = time.perf_counter()
        try:
            ref, summary = build()
        except writer.NothingToPublish:
            metrics.publication_built(kind, time.perf_counter() - started, None)
            return pub_store.Publication(kind, week.id, office, None, 0, 0, 0, now)
        metrics.publication_built(kind, time.perf_counter() - started, ref.size)
        return pub_store.Publication(
            kind=kind,
            week=week.id,
            office=office,
            sha256=ref.sha256,
            size=ref.size,
            registrations=len(summary.registrations),
            decisions=sum(n for _, n in summary.decisions),
            published_at=now,
        )
