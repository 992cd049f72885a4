"""An allow-list entry is an IP address or a CIDR range, kept in canonical form."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.networks import InvalidNetwork, normalize_networks


def test_canonical_and_once() -> None:
    assert normalize_networks([" 192.0.2.7 ", "198.51.100.9/24", "192.0.2.7/32", "2001:db8::1/64"]) == (
        "192.0.2.7/32",
        "198.51.100.0/24",
        "2001:db8::/64",
    )


@pytest.mark.parametrize("value", ["", "example.org", "300.1.1.1", "10.0.0.0/33", "1.2.3.4/-1"])
def test_not_an_address_is_named(value: str) -> None:
    with pytest.raises(InvalidNetwork, match="not an IP address or CIDR range"):
        normalize_networks([value])


@given(st.lists(st.ip_addresses().map(str), max_size=5))
def test_every_address_is_its_own_host_range(addresses: list[str]) -> None:
    result = normalize_networks(addresses)
    assert len(result) == len(set(result))
    for address in addresses:
        assert any(ipaddress.ip_address(address) in ipaddress.ip_network(n) for n in result)
