"""The register as the publisher reads it: a week's registrations streamed in IRN order by
its criteria (recorded window, publication dates, designated office), the decisions of a
window, the first filing, and who receives confidential copies — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.st96.examples import example_package
from hws.store import register
from hws.store.register import RegistrationCriteria
from hws.usecases.examination import Examiner
from hws.usecases.intake import record_receipt
from hws.worker.runner import Worker
from tests.conftest import enrol, make_service

START = 1_795_000_000  # 2026-11-18, a Wednesday
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(START)
    service = make_service(tmp_path, database_url, clock=clock, calendar=clock, worker_threads=0)
    yield service, clock
    service.close()


def register_one(service, clock, office: str = "KR", **changes: object) -> str:  # type: ignore[no-untyped-def]
    client = service.registry.get(enrol(service, office=office).client_id)
    record_receipt(service, client, service.blobs.put_bytes(example_package("application", office=office, **changes)), None)
    worker = Worker(service)
    while worker.run_once():
        pass
    examiner = Examiner(service)
    srn = max(sr.srn for sr in __import__("hws.store.service_requests", fromlist=["find"]).find(service.engine))
    examiner.take_up(srn, actor="op")
    irn = examiner.register(srn, actor="op").irn
    assert irn is not None
    clock.advance(3600)
    return irn


def test_registrations_stream_in_irn_order_and_match_their_count(world) -> None:  # type: ignore[no-untyped-def]
    service, clock = world
    assert register.earliest_filing(service.engine) is None
    irns = [register_one(service, clock) for _ in range(3)]
    everything = RegistrationCriteria(recorded_until=LATER)
    streamed = list(register.registrations(service.engine, everything, batch=1))
    assert [r.irn for r in streamed] == sorted(irns) and register.count_registrations(service.engine, everything) == 3
    first = streamed[0]
    assert first.content.holders[0].name == "ACME Corporation" and any(f.kind == "ST96_XML" for f in first.files)
    filed = register.earliest_filing(service.engine)
    assert filed is not None and filed.timestamp() == pytest.approx(START, abs=1)


def test_criteria_select_by_window_publication_dates_and_designated_office(world) -> None:  # type: ignore[no-untyped-def]
    service, clock = world
    early = register_one(service, clock)
    middle = datetime.fromtimestamp(START + 1800, UTC)  # between the two registrations (an hour apart)
    late = register_one(service, clock)

    def irns(**criteria: object) -> list[str]:
        chosen = RegistrationCriteria(**{"recorded_until": LATER, **criteria})  # type: ignore[arg-type]
        found = [r.irn for r in register.registrations(service.engine, chosen, batch=8)]
        assert len(found) == register.count_registrations(service.engine, chosen)
        return found

    assert irns(recorded_after=middle) == [late]
    assert irns(recorded_until=middle) == [early]
    assert irns(designating="US") == [early, late] and irns(designating="CH") == []  # the example designates EM, US, JP
    publication = next(register.registrations(service.engine, RegistrationCriteria(recorded_until=LATER), batch=1))
    on = publication.expected_publication
    assert early in irns(publication_from=on, publication_to=on)
    assert irns(publication_from=on.replace(year=on.year + 5)) == []


def test_decisions_of_an_empty_window_and_the_examining_offices(world) -> None:  # type: ignore[no-untyped-def]
    service, _ = world
    assert register.decisions_recorded(service.engine, datetime(2026, 1, 1, tzinfo=UTC), LATER) == []
    enrol(service, office="US", examining=True)
    enrol(service, office="JP")
    disabled = enrol(service, office="CH", examining=True)
    service.registry.set_active(disabled.client_id, False)
    assert register.examining_offices(service.engine) == ["US"]
