"""The office kit's side of DPoP (RFC 9449): a key the client holds, a fresh proof for
every request it sends, and the server's latest nonce.

A DPoP-bound access token is worthless without the key: copied from a log or a proxy, it
is refused (the service checks every call's proof against the token's ``cnf.jkt``). The
key is kept with the office's profile (``hws configure --dpop`` writes it, mode 0600), so a
restarted client keeps using the tokens it has; ``HagueClient(dpop=True)`` makes one in
memory for the life of the client.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hws.client.enrolment import load_private_key
from hws.client.errors import InvalidArgument
from hws.keys.jose import jose_key, sign
from hws.keys.public_keys import PrivateKey, alg_for_key, b64url_encode, public_jwk, thumbprint

DPOP_TYP = "dpop+jwt"


def new_key_file(path: Path) -> Path:
    """Write a new P-256 DPoP key to ``path`` (PKCS#8 PEM, mode 0600 from its first byte);
    refuses to replace an existing file (tokens bound to that key would stop working)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def _target(url: str) -> str:
    """``htu``: the request's URL without query and fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


class DPoPKey:
    """A DPoP key and the service's last nonce; :meth:`proof` signs one request's proof."""

    def __init__(self, key: PrivateKey) -> None:
        self.alg = alg_for_key(key.public_key())
        self._signer = jose_key(key)
        self.jwk = public_jwk(key.public_key())
        #: RFC 7638 thumbprint: what the service writes into the token's ``cnf.jkt``
        self.jkt = thumbprint(self.jwk)
        self._nonce: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def generate(cls) -> DPoPKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_file(cls, path: str | Path) -> DPoPKey:
        try:
            return cls(load_private_key(Path(path)))
        except ValueError as exc:
            raise InvalidArgument(f"DPoP key: {exc} (the profile's dpop_key: hws configure --dpop)") from None

    @property
    def nonce(self) -> str | None:
        return self._nonce

    def remember_nonce(self, response: httpx.Response) -> bool:
        """Keep the response's ``DPoP-Nonce``; ``True`` when it is a new one."""
        nonce = response.headers.get("dpop-nonce")
        if not nonce or nonce == self._nonce:
            return False
        with self._lock:
            self._nonce = nonce
        return True

    def proof(self, method: str, url: str, *, access_token: str | None = None, now: float | None = None) -> str:
        """A proof for one request: ``htm``/``htu`` of it, a new ``jti``, the current time,
        the server's nonce when one was given, ``ath`` when an access token goes with it."""
        claims: dict[str, object] = {
            "jti": secrets.token_urlsafe(18),
            "htm": method.upper(),
            "htu": _target(url),
            "iat": int(time.time() if now is None else now),
        }
        if self._nonce:
            claims["nonce"] = self._nonce
        if access_token is not None:
            claims["ath"] = b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())
        return sign({"typ": DPOP_TYP, "alg": self.alg, "jwk": self.jwk}, claims, self._signer)


def dpop_error(response: httpx.Response) -> str | None:
    """The DPoP error a response carries: the token endpoint's JSON ``error``, or the
    ``error`` of an API's ``WWW-Authenticate: DPoP`` challenge."""
    if response.status_code == 400:
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        return error if error in ("use_dpop_nonce", "invalid_dpop_proof") else None
    if response.status_code == 401:
        challenge = response.headers.get("www-authenticate", "")
        for error in ("use_dpop_nonce", "invalid_dpop_proof"):
            if f'error="{error}"' in challenge:
                return error
    return None
