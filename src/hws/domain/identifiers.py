"""Identifiers: import IDs, service request numbers (SRN), registration numbers (IRN)."""

from __future__ import annotations

import re
import secrets

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# ASCII only, whole string (``\d`` would take any script's digits, ``$`` a trailing
# newline): use ``fullmatch``. The ``*_PATTERN`` strings are the OpenAPI ``pattern``s.
IMPORT_ID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
SRN_PATTERN = r"^970[0-9]{6}$"
IMPORT_ID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}", re.ASCII)
SRN = re.compile(r"970[0-9]{6}", re.ASCII)
IRN = re.compile(r"DM/[0-9]{6}", re.ASCII)


def new_import_id(timestamp_ms: int) -> str:
    """A ULID-style identifier: 48-bit time then 80 random bits, Crockford base32.

    Sorts by arrival time; reveals nothing about other offices' traffic volumes.
    """
    value = (timestamp_ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_import_id(value: str) -> bool:
    return isinstance(value, str) and IMPORT_ID.fullmatch(value) is not None


def format_srn(number: int) -> str:
    """SRNs are nine digits starting with 970 (WIPO's certified-documents page)."""
    text = f"{number:09d}"
    if not SRN.fullmatch(text):
        raise ValueError(f"service request numbers are exhausted or misconfigured: {number}")
    return text


def is_srn(value: str) -> bool:
    return isinstance(value, str) and SRN.fullmatch(value) is not None


def is_irn(value: str) -> bool:
    return isinstance(value, str) and IRN.fullmatch(value) is not None


def format_irn(number: int) -> str:
    if not 0 < number < 1_000_000:
        raise ValueError(f"international registration number out of range: {number}")
    return f"DM/{number:06d}"
