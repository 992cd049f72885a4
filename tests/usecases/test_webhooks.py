"""Webhook delivery, run by hand against a real HTTP receiver on loopback, with the
calendar a :class:`FixedClock` the test moves: order per endpoint, retries with backoff,
dead-letter, redelivery, disabling after days of failures, refusals at registration."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.domain.events import EventType
from hws.domain.webhook_policy import EndpointRefused
from hws.keys import webhook_signatures
from hws.service import Service
from hws.store import audit as audit_store
from hws.store import events as event_store
from hws.store import webhooks as webhook_store
from hws.usecases import webhooks
from hws.worker.webhook_sender import HttpxSender
from tests.conftest import make_service
from tests.support.webhook_receiver import Receiver

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def calendar() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def service(tmp_path: Path, database_url: str, calendar: FixedClock) -> Iterator[Service]:
    svc = make_service(
        tmp_path, database_url, calendar=calendar, webhook_allowed_networks=["127.0.0.1/32"], webhook_allow_http=True
    )
    yield svc
    svc.close()


@pytest.fixture
def sender(service: Service) -> Iterator[HttpxSender]:
    http = HttpxSender(timeout=5, max_response_bytes=1024)
    yield http
    http.close()


def _events(service: Service, calendar: FixedClock, *subjects: str) -> None:
    for subject in subjects:
        with service.engine.begin() as conn:
            event_store.record(
                conn, office="KR", type=EventType.IMPORT_ACCEPTED, subject=subject, data={"importId": subject},
                time=calendar.now(), now=service.clock.now(),
            )  # fmt: skip


def _endpoint(service: Service, endpoint_id: str) -> webhook_store.Endpoint:
    found = webhook_store.get(service.engine, endpoint_id)
    assert found is not None
    return found


def _deliver(service: Service, sender: HttpxSender) -> int:
    return webhooks.deliver(service, sender, "test-worker", spread=lambda: 0.5)


def test_deliveries_go_in_order_and_a_failure_holds_the_ones_behind_it(
    service: Service, sender: HttpxSender, calendar: FixedClock
) -> None:
    receiver = Receiver(answer=lambda _r, n: (500, {}) if n <= 2 else (204, {})).start()
    try:
        endpoint = webhooks.add_endpoint(service, office="KR", url=f"{receiver.url}/in", description="", actor="test")
        _events(service, calendar, "a", "b", "c")
        assert _deliver(service, sender) == 1  # "a" fails: retried in 5 s, "b" and "c" wait behind it
        assert _deliver(service, sender) == 0
        calendar.advance(5)
        assert _deliver(service, sender) == 1  # the second failure: 5 minutes
        calendar.advance(299)
        assert _deliver(service, sender) == 0
        calendar.advance(2)
        assert _deliver(service, sender) == 3
        subjects = [r.event["subject"] for r in receiver.requests()]
        assert subjects == ["a", "a", "a", "b", "c"]
        first = receiver.requests()[0]
        assert {r.headers["webhook-id"] for r in receiver.requests()[:3]} == {first.event["id"]}
        for got in receiver.requests():
            webhook_signatures.verify(endpoint.secret, got.body, got.headers, now=service.clock.timestamp())
            assert got.headers["content-type"].startswith("application/cloudevents+json")
        states = {d.event.subject: (d.status, d.attempts) for d in webhook_store.deliveries(service.engine, endpoint.endpoint_id)}
        assert states == {"a": ("delivered", 3), "b": ("delivered", 1), "c": ("delivered", 1)}
        assert _endpoint(service, endpoint.endpoint_id).failing_since is None
    finally:
        receiver.stop()


def test_after_the_last_try_a_delivery_is_dead_and_the_next_one_goes(
    service: Service, sender: HttpxSender, calendar: FixedClock
) -> None:
    down = Receiver()  # never started: connections are refused
    endpoint = webhooks.add_endpoint(service, office="KR", url=f"{down.url}/x", description="", actor="test")
    _events(service, calendar, "a")
    for _ in range(7):
        assert _deliver(service, sender) == 1
        calendar.advance(13 * 3600)
    _events(service, calendar, "b")
    assert _deliver(service, sender) == 2  # the 8th try of "a" (dead), then "b"'s first
    (b, a) = webhook_store.deliveries(service.engine, endpoint.endpoint_id)
    assert (a.status, a.attempts, b.status, b.attempts) == ("dead", 8, "pending", 1)
    assert "Connection refused" in (a.last_error or "")
    down.start()
    try:
        assert webhooks.redeliver(service, endpoint.endpoint_id, actor="op") == [a.id]
        assert _deliver(service, sender) == 1  # "a" again, ahead of "b" (order); "b" waits for its retry
        calendar.advance(6)
        assert _deliver(service, sender) == 1
        assert [r.event["subject"] for r in down.requests()] == ["a", "b"]
    finally:
        down.stop()


def test_an_endpoint_that_fails_for_days_is_disabled_and_audited(
    service: Service, sender: HttpxSender, calendar: FixedClock
) -> None:
    down = Receiver()
    endpoint = webhooks.add_endpoint(service, office="KR", url=f"{down.url}/x", description="", actor="test")
    for day in range(12):
        _events(service, calendar, f"e{day}")
        _deliver(service, sender)
        calendar.advance(13 * 3600)
        if not _endpoint(service, endpoint.endpoint_id).enabled:
            break
    found = webhook_store.get(service.engine, endpoint.endpoint_id)
    assert found is not None and not found.enabled and "every delivery failed since" in (found.disabled_reason or "")
    entries = audit_store.query(service.engine, action="webhook.disabled")
    assert [e["target"] for e in entries] == [endpoint.endpoint_id]
    assert _deliver(service, sender) == 0  # nothing goes to a disabled endpoint
    webhooks.set_enabled(service, endpoint.endpoint_id, True, actor="op")
    assert _endpoint(service, endpoint.endpoint_id).failing_since is None


def test_a_worker_that_lost_the_lease_records_nothing(service: Service, calendar: FixedClock) -> None:
    endpoint = webhooks.add_endpoint(service, office="KR", url="http://127.0.0.1:9/x", description="", actor="test")
    _events(service, calendar, "a")
    now_ms = int(service.clock.timestamp() * 1000)
    assert webhook_store.claim_due(service.engine, "w1", calendar.now(), now_ms, 1000) == endpoint.endpoint_id
    assert webhook_store.claim_due(service.engine, "w2", calendar.now(), now_ms, 1000) is None  # leased
    head = webhook_store.head(service.engine, endpoint.endpoint_id)
    assert head is not None
    assert webhook_store.claim_due(service.engine, "w2", calendar.now(), now_ms + 1001, 1000) == endpoint.endpoint_id
    at = calendar.now()
    assert webhook_store.mark_delivered(service.engine, head, "w1", status=204, attempted_at=at, now=at) == (False, False)
    # recorded, and the lease given back with it: nothing else is due
    assert webhook_store.mark_delivered(service.engine, head, "w2", status=204, attempted_at=at, now=at) == (True, True)
    assert webhook_store.claim_due(service.engine, "w3", at, now_ms, 1000) is None  # nothing pending


def test_registration_refuses_what_deliveries_may_not_reach(tmp_path: Path, sqlite_url: str) -> None:
    strict = make_service(tmp_path, sqlite_url)
    try:
        for url in ("https://127.0.0.1/x", "https://localhost/x", "https://10.0.0.8/x", "https://[fe80::1]/x",
                    "http://93.184.216.34/x"):  # fmt: skip
            with pytest.raises(EndpointRefused):
                webhooks.add_endpoint(strict, office="KR", url=url, description="", actor="test")
        assert webhook_store.listing(strict.engine) == []
    finally:
        strict.close()


def test_an_office_has_at_most_the_configured_number_of_endpoints(tmp_path: Path, sqlite_url: str) -> None:
    svc = make_service(tmp_path, sqlite_url, webhook_allowed_networks=["127.0.0.1/32"], webhook_max_endpoints=2)
    try:
        for n in range(2):
            webhooks.add_endpoint(svc, office="KR", url=f"https://127.0.0.1/{n}", description="", actor="test")
        with pytest.raises(webhooks.WebhookError, match="remove one first"):
            webhooks.add_endpoint(svc, office="KR", url="https://127.0.0.1/3", description="", actor="test")
        audit = audit_store.query(svc.engine, action="webhook.added")
        assert len(audit) == 2 and all(entry["actor"] == "test" for entry in audit)
    finally:
        svc.close()
