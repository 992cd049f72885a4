"""Offices: two-letter WIPO ST.3 codes."""

from __future__ import annotations

import re

_ST3 = re.compile(r"^[A-Z]{2}$")

#: The International Bureau of WIPO, the operator's own "office" code.
INTERNATIONAL_BUREAU = "IB"


def normalize_office_code(code: str) -> str:
    """Return the upper-case ST.3 code or raise ``ValueError`` naming the problem."""
    value = code.strip().upper()
    if not _ST3.match(value):
        raise ValueError(f"office code must be two letters (WIPO ST.3), got {code!r}")
    return value
