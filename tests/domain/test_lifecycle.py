"""Statuses: only the transitions of spec §6; every other one is refused."""

from __future__ import annotations

import itertools

import pytest

from hws.domain.lifecycle import ALLOWED, Status, TransitionRefused, check

EXPECTED = {
    ("Undefined", "Processing"),
    ("Undefined", "Cancelled"),
    ("Processing", "Registered"),
    ("Processing", "Pending Regularization"),
    ("Processing", "Cancelled"),
    ("Pending Regularization", "Processing"),
    ("Pending Regularization", "Abandoned"),
    ("Pending Regularization", "Cancelled"),
}


def test_allowed_transitions_are_exactly_the_spec() -> None:
    table = {(a.value, b.value) for a, targets in ALLOWED.items() for b in targets}
    assert table == EXPECTED


@pytest.mark.parametrize(("source", "target"), list(itertools.product([s.value for s in Status], repeat=2)))
def test_every_pair(source: str, target: str) -> None:
    if (source, target) in EXPECTED:
        assert check(source, target).target == Status(target)
    else:
        with pytest.raises(TransitionRefused) as info:
            check(source, target)
        assert source in str(info.value) and target in str(info.value)


def test_final_statuses() -> None:
    assert {s for s in Status if s.final} == {Status.REGISTERED, Status.ABANDONED, Status.CANCELLED}
