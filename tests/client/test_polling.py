"""The poll schedule and Retry-After, without any client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hws.client.polling import PollSchedule, parse_retry_after
from hws.client.upload import FileDigest, upload_headers


def test_backoff_doubles_up_to_the_cap() -> None:
    schedule = PollSchedule(timeout=1000, started=0, poll=1, max_poll=10)
    assert [schedule.next_delay(0) for _ in range(7)] == [1, 2, 4, 8, 10, 10, 10]


def test_retry_after_is_a_floor_not_a_reset() -> None:
    schedule = PollSchedule(timeout=1000, started=0, poll=1, max_poll=10)
    assert schedule.next_delay(0, retry_after=30) == 30  # beyond the cap: the server's word wins
    assert schedule.next_delay(0, retry_after=0.5) == 2
    assert schedule.next_delay(0) == 4


def test_deadline() -> None:
    schedule = PollSchedule(timeout=10, started=100, poll=4, max_poll=4)
    assert schedule.next_delay(100) == 4
    assert schedule.next_delay(108) == 2
    assert schedule.next_delay(110) is None


@pytest.mark.parametrize("args", [(-1, 0, 1, 2), (10, 0, 0, 2), (10, 0, 3, 2)])
def test_nonsense_is_refused(args: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError):
        PollSchedule(*args)


def test_retry_after_forms() -> None:
    now = datetime(2025, 3, 7, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Fri, 07 Mar 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 07 Mar 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


def test_upload_headers() -> None:
    digest = FileDigest(3, bytes(32))
    headers = upload_headers(digest, None)
    assert headers == {
        "Content-Type": "application/zip",
        "Content-Length": "3",
        "Content-Digest": "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
    }
    assert upload_headers(digest, "k-1")["Idempotency-Key"] == "k-1"
    for bad in ("", "a\nb", "é", "a b", "k" * 256):
        with pytest.raises(ValueError):
            upload_headers(digest, bad)
