"""The service's own signing keys (ES256), kept in the data folder.

Files are ``<data_dir>/keys/service/<created>-<kid>.pem`` (PKCS#8, mode 0600). The
newest key signs; an older key stays published in the JWKS for ``grace`` seconds after
its successor was created (long enough for every token it signed to expire) and is then
deleted. Every process reads the same folder, so rotation needs no coordination.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hws.domain.clock import Clock
from hws.keys.jose import JoseKey, jose_key
from hws.keys.public_keys import PrivateKey, public_jwk, thumbprint


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created: int
    private_key: ec.EllipticCurvePrivateKey
    path: Path

    @property
    def public_jwk(self) -> dict[str, str]:
        return {**public_jwk(self.private_key.public_key()), "kid": self.kid, "use": "sig", "alg": "ES256"}

    @cached_property
    def signing_key(self) -> JoseKey:
        """The key in the JOSE library's form, built once for every token signed."""
        return jose_key(self.private_key)

    @cached_property
    def nonce_secret(self) -> bytes:
        """A secret derived from this key for the service's DPoP nonces (every process
        reading the same key folder derives the same one; nothing else is stored)."""
        scalar = self.private_key.private_numbers().private_value.to_bytes(32, "big")
        return hmac.new(scalar, b"hws dpop nonce secret", hashlib.sha256).digest()

    @cached_property
    def verification_key(self) -> JoseKey:
        """The public half in the JOSE library's form, built once for every token check."""
        return jose_key(self.private_key.public_key())


def write_private_key(path: Path, key: PrivateKey, *, fmt: str = "pkcs8") -> None:
    """Write a private key PEM with mode 0600 from the first byte (atomic rename)."""
    encoding = serialization.PrivateFormat.PKCS8 if fmt == "pkcs8" else serialization.PrivateFormat.TraditionalOpenSSL
    pem = key.private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Keyring:
    def __init__(self, folder: Path, clock: Clock, grace: int) -> None:
        self._folder = folder / "service"
        self._clock = clock
        self._grace = grace
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._by_kid: dict[str, SigningKey] = {}
        self._seen_mtime: int = -1
        self._checked_at = 0.0

    # Loading ---------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the first key if there is none (at start), then load."""
        self._folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self._folder, 0o700)
        with self._exclusive():
            if not list(self._folder.glob("*.pem")):
                self._create()
        self._reload(force=True)

    def rotate(self) -> SigningKey:
        """Make a new signing key; the previous ones stay published for the grace period."""
        self._folder.mkdir(parents=True, exist_ok=True)
        with self._exclusive():
            key = self._create()
        self._reload(force=True)
        return key

    def _exclusive(self) -> AbstractContextManager[None]:
        lock_path = self._folder / ".lock"
        handle = open(lock_path, "a+")  # noqa: SIM115 - closed by the context manager below

        class _Guard:
            def __enter__(self_inner) -> None:
                fcntl.flock(handle, fcntl.LOCK_EX)

            def __exit__(self_inner, *exc: object) -> None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

        return _Guard()

    def _create(self) -> SigningKey:
        created = int(self._clock.timestamp())
        existing = [self._parse_name(p)[0] for p in self._folder.glob("*.pem")]
        if existing and created <= max(existing):
            created = max(existing) + 1  # keep creation order strict
        key = ec.generate_private_key(ec.SECP256R1())
        kid = thumbprint(public_jwk(key.public_key()))
        path = self._folder / f"{created:012d}-{kid}.pem"
        write_private_key(path, key)
        return SigningKey(kid, created, key, path)

    @staticmethod
    def _parse_name(path: Path) -> tuple[int, str]:
        created, _, kid = path.stem.partition("-")
        return int(created), kid

    def _reload(self, *, force: bool = False, debounce: bool = True) -> None:
        now = time.monotonic()
        if not force and debounce and now - self._checked_at < 1.0:
            return
        with self._lock:
            self._checked_at = now
            try:
                mtime = self._folder.stat().st_mtime_ns
            except FileNotFoundError:
                mtime = -2
            if not force and mtime == self._seen_mtime and not self._expired_present():
                return
            keys: list[SigningKey] = []
            for path in sorted(self._folder.glob("*.pem")):
                created, kid = self._parse_name(path)
                known = self._by_kid.get(kid)
                if known is None:
                    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
                    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
                    known = SigningKey(kid, created, loaded, path)
                keys.append(known)
            keys.sort(key=lambda k: k.created)
            self._keys = self._prune(keys)
            self._by_kid = {k.kid: k for k in self._keys}
            self._seen_mtime = mtime

    def _expired_present(self) -> bool:
        return len(self._prune(self._keys, delete=False)) != len(self._keys)

    def _prune(self, keys: list[SigningKey], *, delete: bool = True) -> list[SigningKey]:
        now = self._clock.timestamp()
        kept: list[SigningKey] = []
        for index, key in enumerate(keys):
            successor = keys[index + 1] if index + 1 < len(keys) else None
            if successor is not None and successor.created + self._grace < now:
                if delete:
                    key.path.unlink(missing_ok=True)
                continue
            kept.append(key)
        return kept

    # Use -------------------------------------------------------------------------

    @property
    def active(self) -> SigningKey:
        self._reload()
        if not self._keys:
            raise RuntimeError("no service signing key: the keyring was not initialised")
        return self._keys[-1]

    def get(self, kid: str) -> SigningKey | None:
        self._reload()
        key = self._by_kid.get(kid)
        if key is None:  # maybe rotated by another process within the last second
            self._reload(debounce=False)
            key = self._by_kid.get(kid)
        return key

    def published(self) -> list[SigningKey]:
        self._reload()
        return list(self._keys)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk for k in reversed(self.published())]}
