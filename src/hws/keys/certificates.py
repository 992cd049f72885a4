"""x509 certificates offices send at enrolment (WIPO's Appendix A)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hws.keys.public_keys import PublicKey, alg_for_key, public_jwk, thumbprint


class CertificateError(ValueError):
    """The certificate cannot be used; the message says why."""


@dataclass(frozen=True)
class CertificateInfo:
    pem: str
    subject: str
    not_before: datetime
    not_after: datetime
    public_key: PublicKey
    alg: str
    jwk: dict[str, str]
    kid: str


def read_certificate(data: bytes) -> CertificateInfo:
    """Parse and check a PEM (or DER) certificate holding a P-256 or RSA ≥ 2048 key."""
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"not an x509 certificate in PEM or DER form ({exc})") from None
    key = cert.public_key()
    try:
        alg = alg_for_key(key)
    except ValueError as exc:
        raise CertificateError(str(exc)) from None
    assert isinstance(key, PublicKey)  # alg_for_key accepts nothing else
    jwk = public_jwk(key)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return CertificateInfo(
        pem=pem,
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        public_key=key,
        alg=alg,
        jwk=jwk,
        kid=thumbprint(jwk),
    )
