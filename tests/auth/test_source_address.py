"""Which address a request comes from (rule 12), including hostile X-Forwarded-For."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from hws.auth.source_address import client_address, parse_networks

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def test_untrusted_peer_is_the_client_whatever_it_says() -> None:
    assert str(client_address("198.51.100.7", ["127.0.0.1"], PROXIES)) == "198.51.100.7"
    assert str(client_address("198.51.100.7", ["127.0.0.1"], ())) == "198.51.100.7"


def test_trusted_proxy_chain_walked_from_the_right() -> None:
    assert str(client_address("10.0.0.1", ["203.0.113.9, 192.0.2.5, 10.0.0.2"], PROXIES)) == "192.0.2.5"
    assert str(client_address("10.0.0.1", ["203.0.113.9", "192.0.2.5"], PROXIES)) == "192.0.2.5"


def test_malformed_hop_stops_belief() -> None:
    assert client_address("10.0.0.1", ["192.0.2.5, garbage"], PROXIES) is None


def test_no_peer_or_bad_peer() -> None:
    assert client_address(None, [], PROXIES) is None
    assert client_address("testclient", [], PROXIES) is None


@given(st.lists(st.text(max_size=40), max_size=5), st.ip_addresses())
def test_never_raises_and_untrusted_peer_wins(headers: list[str], peer) -> None:  # type: ignore[no-untyped-def]
    result = client_address(str(peer), headers, PROXIES)
    trusted = any(peer.version == n.version and peer in n for n in PROXIES)
    if not trusted and not (peer.version == 6 and peer.ipv4_mapped and peer.ipv4_mapped in ipaddress.ip_network("10.0.0.0/8")):
        assert result == peer


def test_parsed_peers_are_kept_and_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A peer's text is parsed once (the answer is the same each time, a bad one stays
    refused), and the kept answers never exceed their bound."""
    from hws.auth import source_address

    monkeypatch.setattr(source_address, "MAX_PARSED_PEERS", 3)
    monkeypatch.setattr(source_address, "_PARSED", {})
    for _ in range(2):
        assert client_address("198.51.100.7", [], ()) == ipaddress.ip_address("198.51.100.7")
        assert client_address("not-an-address", [], ()) is None
        assert client_address("::ffff:10.0.0.1", ["192.0.2.5"], PROXIES) == ipaddress.ip_address("192.0.2.5")
    for n in range(10):
        assert str(client_address(f"192.0.2.{n}", [], ())) == f"192.0.2.{n}"
        assert len(source_address._PARSED) <= 3
