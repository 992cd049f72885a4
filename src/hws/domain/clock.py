"""Time, injected: every rule that depends on "now" asks a :class:`Clock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""

    def timestamp(self) -> float:
        """The current instant as POSIX seconds."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()


class FixedClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: float) -> None:
        self._t = float(start)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def timestamp(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds
