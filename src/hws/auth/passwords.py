"""Operator passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended profile), verified in constant time; a hash made with older parameters is
re-made at the next successful sign-in."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024

_HASHER = PasswordHasher()


@cache
def _dummy() -> str:
    """Verified against when the account does not exist, so an unknown name costs as long
    as a wrong password (made at the first such sign-in, not at import: every ``hws``
    command imports this module)."""
    return _HASHER.hash("not a password of anyone's")


class WeakPassword(ValueError):
    """The password may not be used; the message says why."""


def check_strength(password: str, *, name: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if name and name.lower() in password.lower():
        raise WeakPassword("a password may not contain the account's name")
    if len(set(password)) < 5:
        raise WeakPassword("a password needs more different characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (``None``: no such account; the work is done anyway)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
