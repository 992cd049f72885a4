"""The source addresses a client may call from: IP addresses and CIDR ranges."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class InvalidNetwork(ValueError):
    """Not an IP address or CIDR range; the message quotes it."""


def normalize_networks(networks: Iterable[str]) -> tuple[str, ...]:
    """Each address or range in its canonical form (host bits cleared), once, in order."""
    result: list[str] = []
    for cidr in networks:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise InvalidNetwork(f"not an IP address or CIDR range: {cidr!r}") from None
        if str(network) not in result:
            result.append(str(network))
    return tuple(result)
