"""The event outbox: per-office sequences, the feed's pages and acknowledgements,
retention, and the deliveries queued with each event (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.domain.events import EventType
from hws.service import Service
from hws.store import events as event_store
from hws.store import webhooks as webhook_store
from tests.conftest import enrol, make_service

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    svc = make_service(tmp_path, database_url, clock=FixedClock(T0.timestamp()))
    yield svc
    svc.close()


def _record(
    service: Service, office: str, subject: str, type: str = EventType.IMPORT_ACCEPTED, endpoint: str | None = None
) -> None:
    with service.engine.begin() as conn:
        event_store.record(
            conn, office=office, type=type, subject=subject, data={"s": subject}, time=T0, now=service.clock.now(),
            endpoint=endpoint,
        )  # fmt: skip


def _endpoint(service: Service, office: str, name: str) -> str:
    with service.engine.begin() as conn:
        return webhook_store.add(
            conn, endpoint_id=name, office=office, url=f"https://{name}.example/", secret="whsec_AAAA",
            description="", created_by="test", now=T0,
        ).endpoint_id  # fmt: skip


def test_each_office_has_its_own_gap_free_sequence_and_feed(service: Service) -> None:
    for office, subject in (("KR", "a"), ("US", "b"), ("KR", "c"), ("KR", "d")):
        _record(service, office, subject)
    kr = event_store.page(service.engine, "KR", 0, 10)
    assert [(e.sequence, e.data["s"]) for e in kr.events] == [(1, "a"), (2, "c"), (3, "d")] and not kr.more
    assert [(e.sequence, e.office) for e in event_store.page(service.engine, "US", 0, 10).events] == [(1, "US")]
    first = event_store.page(service.engine, "KR", 0, 2)
    assert [e.sequence for e in first.events] == [1, 2] and first.more and first.last == 2
    rest = event_store.page(service.engine, "KR", first.last, 2)
    assert [e.sequence for e in rest.events] == [3] and not rest.more
    assert event_store.page(service.engine, "KR", 3, 2).events == [] and event_store.latest(service.engine, "KR") == 3


def test_a_rolled_back_change_leaves_no_event_and_no_gap(service: Service) -> None:
    with pytest.raises(RuntimeError), service.engine.begin() as conn:
        event_store.record(conn, office="KR", type=EventType.IMPORT_ACCEPTED, subject="x", data={}, time=T0, now=T0)
        raise RuntimeError("the change failed")
    _record(service, "KR", "y")
    assert [e.sequence for e in event_store.page(service.engine, "KR", 0, 10).events] == [1]


def test_the_acknowledgement_only_moves_forward(service: Service) -> None:
    assert event_store.acknowledged(service.engine, "kr-1") is None
    event_store.acknowledge(service.engine, "kr-1", "KR", 5, T0)
    event_store.acknowledge(service.engine, "kr-1", "KR", 3, T0)
    assert event_store.acknowledged(service.engine, "kr-1") == 5
    event_store.acknowledge(service.engine, "kr-1", "KR", 7, T0)
    assert event_store.acknowledged(service.engine, "kr-1") == 7


def test_events_past_retention_are_pruned_and_older_cursors_expire(service: Service) -> None:
    for subject in "abc":
        _record(service, "KR", subject)
    assert isinstance(service.clock, FixedClock)
    service.clock.advance(31 * 86400)
    _record(service, "KR", "d")
    assert event_store.prune(service.engine, service.clock.now() - timedelta(days=30)) == 3
    with pytest.raises(event_store.CursorExpired):
        event_store.page(service.engine, "KR", 2, 10)
    assert [e.sequence for e in event_store.page(service.engine, "KR", 3, 10).events] == [4]


def test_an_event_waiting_for_a_delivery_is_kept(service: Service) -> None:
    _endpoint(service, "KR", "wh_a")
    _record(service, "KR", "a")
    assert isinstance(service.clock, FixedClock)
    service.clock.advance(40 * 86400)
    assert event_store.prune(service.engine, service.clock.now() - timedelta(days=30)) == 0


def test_deliveries_are_queued_for_the_offices_enabled_endpoints_and_tests_for_one(service: Service) -> None:
    enrol(service, office="KR")
    a, b, other = _endpoint(service, "KR", "wh_a"), _endpoint(service, "KR", "wh_b"), _endpoint(service, "US", "wh_u")
    with service.engine.begin() as conn:
        webhook_store.set_enabled(conn, b, False, "paused", T0)
    _record(service, "KR", "one")
    _record(service, "KR", "ping", type=EventType.WEBHOOK_TEST, endpoint=a)
    assert [d.event.data["s"] for d in webhook_store.deliveries(service.engine, a)] == ["ping", "one"]
    assert webhook_store.deliveries(service.engine, b) == [] and webhook_store.deliveries(service.engine, other) == []
    # a test delivery is not in the office's feed
    assert [e.data["s"] for e in event_store.page(service.engine, "KR", 0, 10).events] == ["one"]
    with service.engine.begin() as conn:
        assert event_store.offices(conn) == ["KR"]
