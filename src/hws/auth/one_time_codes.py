"""Operators' second factor: TOTP (RFC 6238: 30-second steps, six digits, SHA-1, as
every authenticator app reads it). A code is accepted for the current step and the one
before and after (clock drift); each step is accepted once per account (replay)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP = 30
DIGITS = 6
ISSUER = "hws console"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, name: str, issuer: str = ISSUER) -> str:
    """The ``otpauth://`` URI an authenticator app takes (typed in or as a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=name, issuer_name=issuer)


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(when)


def matching_step(secret: str, code: str, when: datetime, *, after_step: int | None = None) -> int | None:
    """The time step (``unix time // 30``) whose code is ``code`` within one step of
    ``when``, later than ``after_step`` (the last one used), or ``None``."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    now_step = int(when.timestamp()) // STEP
    found = None
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (after_step is None or step > after_step):
            found = step
    return found
