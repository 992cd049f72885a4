"""Operator passwords: argon2id, verified in constant time, weak ones refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hws.auth import passwords


def test_hash_is_argon2id_and_verifies() -> None:
    stored = passwords.hash_password("a long enough passphrase")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "a long enough passphrase")
    assert not passwords.verify(stored, "a long enough passphrasE")
    assert not passwords.needs_rehash(stored)


def test_parameters_are_at_least_owasps_minimum() -> None:
    """argon2id with at least OWASP's minimum (19 MiB, 2 passes, 1 lane)."""
    stored = passwords.hash_password("a long enough passphrase")
    params = dict(part.split("=") for part in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_no_account_never_verifies() -> None:
    assert not passwords.verify(None, "anything at all here")


def test_garbage_hash_and_huge_input_are_refused_not_raised() -> None:
    assert not passwords.verify("not-a-hash", "a long enough passphrase")
    assert not passwords.verify(passwords.hash_password("x" * 20), "x" * (passwords.MAX_LENGTH + 1))


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "12 characters"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
        ("x" * 2000, "at most"),
        ("my name is ana!", "name"),
    ],
)
def test_weak_passwords_refused(password: str, message: str) -> None:
    with pytest.raises(passwords.WeakPassword, match=message):
        passwords.check_strength(password, name="ana")


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_only_the_same_password_verifies(other: str) -> None:
    stored = passwords.hash_password("the one right passphrase")
    assert passwords.verify(stored, other) == (other == "the one right passphrase")
