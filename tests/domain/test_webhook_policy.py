"""Where webhook endpoints may point (SSRF), the retry schedule and the disabling rule;
the events' CloudEvents envelope read by the CloudEvents SDK."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.formats.json import JSONFormat
from hypothesis import given
from hypothesis import strategies as st

from hws.domain import webhook_policy as policy
from hws.domain.events import Event, EventType, decode_cursor, encode_cursor
from hws.domain.webhook_policy import EndpointRefused


def test_the_retries_span_more_than_a_day_and_end() -> None:
    delays = [policy.retry_delay(n, 0.5) for n in range(1, len(policy.RETRY_DELAYS) + 1)]
    total = sum(d.total_seconds() for d in delays if d is not None)
    assert total >= 86400 and len(policy.RETRY_DELAYS) + 1 == 8  # eight tries over about 27.6 hours
    assert policy.retry_delay(len(policy.RETRY_DELAYS) + 1, 0.5) is None
    assert policy.retry_delay(0, 0.5) is None


@given(failures=st.integers(1, len(policy.RETRY_DELAYS)), spread=st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_a_fifth_of_each_delay(failures: int, spread: float) -> None:
    delay = policy.retry_delay(failures, spread)
    assert delay is not None
    base = policy.RETRY_DELAYS[failures - 1]
    assert base * 0.8 <= delay.total_seconds() <= base * 1.2


def test_an_endpoint_failing_long_enough_is_disabled() -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    after = timedelta(days=5)
    assert not policy.should_disable(None, since + timedelta(days=9), after)
    assert not policy.should_disable(since, since + timedelta(days=4, hours=23), after)
    assert policy.should_disable(since, since + after, after)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
     "fc00::1", "0.0.0.0", "::", "224.0.0.1", "100.64.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "240.0.0.1"],
)  # fmt: skip
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    with pytest.raises(EndpointRefused):
        policy.check_address(ipaddress.ip_address(address), [])


def test_an_allowed_network_lets_its_addresses_through_and_public_ones_pass() -> None:
    loopback = [ipaddress.ip_network("127.0.0.1/32")]
    policy.check_address(ipaddress.ip_address("127.0.0.1"), loopback)
    with pytest.raises(EndpointRefused):
        policy.check_address(ipaddress.ip_address("127.0.0.2"), loopback)
    for public in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        policy.check_address(ipaddress.ip_address(public), [])


def test_urls() -> None:
    assert policy.check_url("https://hooks.example.org/hague?x=1", allow_http=False) == ("https", "hooks.example.org", 443)
    assert policy.check_url("http://h.example:8080/", allow_http=True) == ("http", "h.example", 8080)
    for url, allow_http in (
        ("http://h.example/", False),
        ("ftp://h.example/", True),
        ("https:///path", False),
        ("https://user:pw@h.example/", False),
        ("https://h.example/#frag", False),
        ("https://h.example:99999/", False),
        ("https://h.example/" + "a" * 2000, False),
    ):
        with pytest.raises(EndpointRefused):
            policy.check_url(url, allow_http=allow_http)


def test_the_envelope_is_a_cloudevent_the_sdk_reads() -> None:
    event = Event(
        "0b8f7c1e-1d7a-4a55-9d8e-1a2b3c4d5e6f", "KR", 12, EventType.STATUS_CHANGED, "970000001",
        datetime(2026, 12, 4, 10, 30, tzinfo=UTC), {"status": "Registered", "previousStatus": "Processing"},
    )  # fmt: skip
    read = JSONFormat().read(None, event.body("https://hws.example/webservices/api/v1"))
    assert read.get_specversion() == "1.0" and read.get_id() == event.event_id
    assert read.get_type() == "int.wipo.hws.request.status-changed" and read.get_subject() == "970000001"
    assert read.get_time() == datetime(2026, 12, 4, 10, 30, tzinfo=UTC)
    assert read.get_extension("hwssequence") == 12 and read.get_extension("hwsoffice") == "KR"
    assert read.get_data() == {"status": "Registered", "previousStatus": "Processing"}


@given(st.integers(0, 10**17))
def test_cursors_round_trip(sequence: int) -> None:
    assert decode_cursor(encode_cursor(sequence)) == sequence


@pytest.mark.parametrize("bad", ["", "-1", "1.5", "abc", "１２", "9" * 19])
def test_a_cursor_is_decimal_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(bad)
