"""How a client's access tokens are bound: WIPO's bearer tokens, or sender-constrained
by DPoP (RFC 9449), per client."""

from __future__ import annotations

from enum import StrEnum


class TokenBinding(StrEnum):
    #: WIPO's profile (FAPI 1.0 private_key_jwt, bearer access tokens); a DPoP proof sent
    #: anyway is refused rather than silently ignored
    BEARER = "bearer"
    #: a token request with a DPoP proof gets a DPoP-bound token; one without, a bearer token
    DPOP_ALLOWED = "dpop-allowed"
    #: only DPoP-bound tokens (FAPI 2.0 client-credentials profile with sender_constrain=dpop)
    DPOP_REQUIRED = "dpop-required"

    @property
    def accepts_dpop(self) -> bool:
        return self is not TokenBinding.BEARER


def token_binding(value: str) -> TokenBinding:
    """``value`` as a :class:`TokenBinding`; ``ValueError`` naming the choices otherwise."""
    try:
        return TokenBinding(value)
    except ValueError:
        choices = ", ".join(b.value for b in TokenBinding)
        raise ValueError(f"token binding must be one of {choices}, got {value!r}") from None
