"""People named on a client: the access request form's business owner and technical contact."""

from __future__ import annotations

import re
from typing import Final

#: An e-mail address as far as we check it: one "@" with something on each side, a dot in
#: the domain, no blanks or controls (the office's mail server decides the rest).
EMAIL: Final = re.compile(r"[^@\s\x00-\x1f\x7f]{1,64}@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+")


def is_email(value: str) -> bool:
    return EMAIL.fullmatch(value) is not None
