"""The address a request comes from: the peer, or what a trusted proxy says."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _in(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == n.version and address in n for n in networks)


#: peers' addresses parsed (a peer's text is parsed once); emptied when this many are kept
MAX_PARSED_PEERS = 4096
_PARSED: dict[str, IPAddress | None] = {}


def _peer_address(peer: str) -> IPAddress | None:
    """``ipaddress.ip_address(peer)``, or ``None`` for what is no address (remembered: the
    same few peers send every request, and an address object never changes)."""
    try:
        return _PARSED[peer]
    except KeyError:
        pass
    try:
        address: IPAddress | None = ipaddress.ip_address(peer)
    except ValueError:
        address = None
    if len(_PARSED) >= MAX_PARSED_PEERS:
        _PARSED.clear()
    _PARSED[peer] = address
    return address


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> IPAddress | None:
    """The request's source address, or ``None`` when it cannot be known.

    ``X-Forwarded-For`` is read only when the peer itself is a trusted proxy; then the
    chain is walked from the right, skipping trusted proxies, and the first address
    that is not one of them is the client. A malformed entry ends the walk: nothing
    to its left can be believed.
    """
    if not peer:
        return None
    address = _peer_address(peer)
    if address is None:
        return None
    if not trusted or not _in(address, trusted):
        return address
    hops: list[str] = []
    for header in forwarded_for:
        hops.extend(part.strip() for part in header.split(","))
    for hop in reversed(hops):
        try:
            candidate = ipaddress.ip_address(hop)
        except ValueError:
            return None
        address = candidate
        if not _in(candidate, trusted):
            return candidate
    return address
