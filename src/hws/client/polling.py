"""When to ask again: ``Retry-After`` and a capped exponential backoff with a deadline.

:class:`PollSchedule` holds no I/O, so the sync and async clients share it: each poll
asks it how long to sleep, and it answers None once the deadline has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from hws.client.errors import HTTPStatusError, InvalidArgument

DEFAULT_TIMEOUT = 600.0
DEFAULT_POLL = 1.0
DEFAULT_MAX_POLL = 30.0
#: statuses that mean "not now": keep polling through them while waiting
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def transient(exc: BaseException) -> bool:
    """A failure worth asking through: a network error, 429 or a passing 5xx."""
    return isinstance(exc, httpx.TransportError) or (isinstance(exc, HTTPStatusError) and exc.status in TRANSIENT_STATUSES)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class PollSchedule:
    """Delays ``poll``, ``2·poll``, ``4·poll`` … capped at ``max_poll``, never shorter than
    what the server's ``Retry-After`` asks, and never past ``timeout`` from ``started``."""

    timeout: float
    started: float
    poll: float = DEFAULT_POLL
    max_poll: float = DEFAULT_MAX_POLL
    factor: float = 2.0
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        if self.timeout < 0 or self.poll <= 0 or self.max_poll < self.poll or self.factor < 1:
            raise InvalidArgument("need timeout >= 0, poll > 0, max_poll >= poll and factor >= 1")
        self._next = self.poll

    @property
    def deadline(self) -> float:
        return self.started + self.timeout

    def next_delay(self, now: float, retry_after: float | None = None) -> float | None:
        """How long to sleep before the next poll; None when the time is up."""
        remaining = self.deadline - now
        if remaining <= 0:
            return None
        wanted = max(self._next, retry_after or 0.0)
        self._next = min(self._next * self.factor, self.max_poll)
        return min(wanted, remaining)
