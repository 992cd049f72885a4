"""Access tokens: JWTs per RFC 9068 (``typ: at+jwt``), signed by the service's key."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from hws.auth import jws_checks as jws
from hws.auth.errors import InvalidToken
from hws.auth.keyring import Keyring, SigningKey
from hws.keys.jose import segment, signed
from hws.keys.public_keys import b64url_encode

ACCESS_TOKEN_TYP = "at+jwt"
MAX_TOKEN_BYTES = 8192

#: the claims' JSON up to ``iat`` (what stays the same for a client and scope), kept for
#: at most this many (client, scope) pairs
MAX_PREFIXES = 4096


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    jti: str
    #: the RFC 7638 thumbprint of the key the token is bound to (``cnf.jkt``, RFC 9449
    #: §6.1); ``None`` for a bearer token
    jkt: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    value: str
    expires_in: int
    scope: str
    jkt: str | None = None

    @property
    def token_type(self) -> str:
        return "DPoP" if self.jkt else "Bearer"


class AccessTokenAuthority:
    """Issues and checks access tokens; ``audience`` is the API's base URL."""

    def __init__(self, keyring: Keyring, *, issuer: str, audience: str, lifetime: int, leeway: int) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime
        self._leeway = leeway
        self._header: tuple[str | None, str] = (None, "")  # the signing key's kid, its header segment
        self._prefixes: dict[tuple[str, str], str] = {}

    def issue(self, client_id: str, scopes: Sequence[str], now: float, jkt: str | None = None) -> IssuedToken:
        """A token for ``client_id``; bound to the key of thumbprint ``jkt`` when given.

        The compact JWS is what :func:`hws.keys.jose.sign` makes of the header
        ``{"alg": "ES256", "typ": "at+jwt", "kid": …}`` and the claims ``iss``, ``sub``,
        ``aud``, ``client_id``, ``scope``, ``iat``, ``nbf``, ``exp``, ``jti`` (and ``cnf``),
        in that order, byte for byte; what is the same from token to token (the header's
        segment per key, the claims' JSON up to ``iat`` per client and scope) is built once.
        """
        key = self._keyring.active
        iat = int(now)
        scope = " ".join(scopes)
        jti = secrets.token_urlsafe(18)  # base64url characters: nothing to escape in JSON
        cnf = f',"cnf":{{"jkt":{json.dumps(jkt)}}}' if jkt else ""
        payload = f'{self._prefix(client_id, scope)}{iat},"nbf":{iat},"exp":{iat + self._lifetime},"jti":"{jti}"{cnf}}}'
        signing_input = f"{self._header_segment(key)}.{b64url_encode(payload.encode())}"
        return IssuedToken(signed(signing_input, "ES256", key.signing_key), self._lifetime, scope, jkt)

    def _header_segment(self, key: SigningKey) -> str:
        kid, cached = self._header  # one attribute: read and replaced as a whole
        if kid != key.kid:
            encoded = segment({"alg": "ES256", "typ": ACCESS_TOKEN_TYP, "kid": key.kid})
            self._header = (key.kid, encoded)
            return encoded
        return cached

    def _prefix(self, client_id: str, scope: str) -> str:
        """The claims' JSON from ``{`` to ``"iat":`` for this client and scope."""
        found = self._prefixes.get((client_id, scope))
        if found is None:
            fixed = {"iss": self._issuer, "sub": client_id, "aud": self._audience, "client_id": client_id, "scope": scope}
            found = json.dumps(fixed, separators=(",", ":"))[:-1] + ',"iat":'
            if len(self._prefixes) >= MAX_PREFIXES:
                self._prefixes.clear()
            self._prefixes[(client_id, scope)] = found
        return found

    def verify(self, value: str, now: float) -> AccessToken:
        """Rule 15: our key, ``at+jwt``, our ``iss`` and ``aud``, not expired."""
        try:
            token = jws.parse_compact(value, max_bytes=MAX_TOKEN_BYTES)
            claims = token.claims()
        except jws.MalformedJWS as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        header = token.header
        if header.get("alg") != "ES256":
            raise InvalidToken(f"token alg {header.get('alg')!r} is not ours")
        if not isinstance(header.get("typ"), str) or header["typ"].lower() not in (ACCESS_TOKEN_TYP, "application/at+jwt"):
            raise InvalidToken(f"token typ {header.get('typ')!r} is not at+jwt")
        if "crit" in header:
            raise InvalidToken("token has critical header parameters")
        kid = header.get("kid")
        key = self._keyring.get(kid) if isinstance(kid, str) else None
        if key is None or not jws.verify(token, "ES256", key.verification_key):
            raise InvalidToken("token is not signed by this service")
        if claims.get("iss") != self._issuer:
            raise InvalidToken("token issuer is not this service")
        if claims.get("aud") != self._audience:
            raise InvalidToken("token audience is not this API")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or isinstance(exp, bool) or not isinstance(iat, int):
            raise InvalidToken("token lacks exp or iat")
        if exp + self._leeway < now:
            raise InvalidToken("token has expired")
        client_id, scope, jti = claims.get("client_id"), claims.get("scope", ""), claims.get("jti", "")
        if not isinstance(client_id, str) or claims.get("sub") != client_id or not isinstance(scope, str):
            raise InvalidToken("token lacks its client")
        cnf = claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
        if cnf is not None and not (isinstance(jkt, str) and jkt):
            raise InvalidToken("token has a cnf claim without jkt")
        return AccessToken(client_id, tuple(scope.split()), iat, exp, str(jti), jkt)
