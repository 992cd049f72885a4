"""What people at the International Bureau may do in the operator console.

Three roles, each including the one below it: a **viewer** reads everything; an
**examiner** also acts on service requests; an **administrator** also manages clients,
publications and operator accounts.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    VIEWER = "viewer"
    EXAMINER = "examiner"
    ADMINISTRATOR = "administrator"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what ``needed`` may."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str) -> Role:
        """``value`` as a role (case and surrounding spaces ignored), or ValueError naming the choices."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ValueError(f"unknown role {value!r}: one of {', '.join(r.value for r in cls)}") from None


_RANK = {Role.VIEWER: 1, Role.EXAMINER: 2, Role.ADMINISTRATOR: 3}
