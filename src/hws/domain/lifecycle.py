"""Service-request statuses and the only transitions allowed between them (spec §6), and
the three states of an uploaded package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    UNDEFINED = "Undefined"
    PROCESSING = "Processing"
    PENDING_REGULARIZATION = "Pending Regularization"
    REGISTERED = "Registered"
    ABANDONED = "Abandoned"
    CANCELLED = "Cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL


class ImportState(StrEnum):
    """An uploaded package: waiting for its import, or imported (a service request), or rejected."""

    PENDING = "Pending"
    IMPORTED = "Imported"
    REJECTED = "Rejected"


FINAL = frozenset({Status.REGISTERED, Status.ABANDONED, Status.CANCELLED})

#: status → the statuses it may move to. Nothing else is allowed.
ALLOWED: dict[Status, frozenset[Status]] = {
    Status.UNDEFINED: frozenset({Status.PROCESSING, Status.CANCELLED}),
    Status.PROCESSING: frozenset({Status.REGISTERED, Status.PENDING_REGULARIZATION, Status.CANCELLED}),
    Status.PENDING_REGULARIZATION: frozenset({Status.PROCESSING, Status.ABANDONED, Status.CANCELLED}),
    Status.REGISTERED: frozenset(),
    Status.ABANDONED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class TransitionRefused(ValueError):
    """The requested change of status is not allowed; the message says why."""

    def __init__(self, current: Status, target: Status) -> None:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none (it is final)"
        super().__init__(f"a request in status {current} cannot become {target}; allowed next: {allowed}")
        self.current = current
        self.target = target


@dataclass(frozen=True)
class Transition:
    source: Status
    target: Status


def check(current: Status | str, target: Status | str) -> Transition:
    """Return the transition or raise :class:`TransitionRefused`."""
    source, goal = Status(current), Status(target)
    if goal not in ALLOWED[source]:
        raise TransitionRefused(source, goal)
    return Transition(source, goal)
