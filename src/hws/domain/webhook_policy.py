"""The rules of webhook delivery that involve no I/O: where an endpoint may point
(SSRF), when a failed delivery is tried again, and when an endpoint that keeps failing
is switched off.

Retries follow the Standard Webhooks recommendation: immediately, then 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h after each failure (about 27.6 hours over eight tries),
each delay spread by ±20 % jitter so that endpoints that failed together do not retry
together. After the last try the delivery is dead-lettered (an operator redelivers it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: seconds to wait after the 1st, 2nd, … failed try; len + 1 tries in all
RETRY_DELAYS: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2


class EndpointRefused(ValueError):
    """The URL may not receive deliveries; the message says why."""


def retry_delay(failures: int, spread: float, delays: Sequence[int] = RETRY_DELAYS) -> timedelta | None:
    """The wait before the next try after ``failures`` failed tries (1 = the first),
    ``spread`` a number in [0, 1) drawn by the caller; ``None`` when no try is left."""
    if failures < 1 or failures > len(delays):
        return None
    base = delays[failures - 1]
    return timedelta(seconds=base * (1 - JITTER + 2 * JITTER * spread))


def should_disable(failing_since: datetime | None, now: datetime, after: timedelta) -> bool:
    """An endpoint whose deliveries have failed without a success since ``failing_since``
    for ``after`` or longer is switched off."""
    return failing_since is not None and now - failing_since >= after


def _forbidden(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden(address.ipv4_mapped)
    for label, test in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("shared (carrier-grade NAT)", address in ipaddress.ip_network("100.64.0.0/10")),
    ):
        if test:
            return label
    return None


def check_address(address: IPAddress, allowed: Iterable[IPNetwork]) -> None:
    """Refuse a loopback, link-local, private, multicast or reserved address unless one
    of the operator's ``allowed`` networks holds it."""
    kind = _forbidden(address)
    if kind is None or any(address in network for network in allowed):
        return
    raise EndpointRefused(
        f"the endpoint resolves to {address}, a {kind} address; deliveries go only to public addresses "
        "unless the operator allows that network (HWS_WEBHOOK_ALLOWED_NETWORKS)"
    )


def check_url(url: str, *, allow_http: bool) -> tuple[str, str, int]:
    """The URL's scheme, host and port; refused unless it is an absolute ``https`` URL
    (``http`` only where the operator allows it) without credentials or a fragment."""
    if len(url) > 2000:
        raise EndpointRefused("the URL is longer than 2000 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or (parts.scheme == "http" and not allow_http):
        raise EndpointRefused("the endpoint must be an https:// URL")
    if not parts.hostname:
        raise EndpointRefused("the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused("the URL may not carry credentials (the signature authenticates deliveries)")
    if parts.fragment:
        raise EndpointRefused("the URL may not carry a fragment")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("the URL's port is not a number from 1 to 65535") from None
    return parts.scheme, parts.hostname, port
