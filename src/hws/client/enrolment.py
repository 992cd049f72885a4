"""Enrolment material an office makes (WIPO's Appendix A): key pair and certificate.

The files are those of WIPO's OpenSSL script: the private key as ``openssl ecparam
-genkey -noout`` writes it (SEC1 "EC PRIVATE KEY" PEM, mode 0600), the public key as
``openssl ec -pubout`` writes it (SubjectPublicKeyInfo PEM), and a self-signed x509
certificate whose CN is "<NAME> private_key_jwt authentication".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hws.client.errors import InvalidArgument
from hws.keys.public_keys import public_jwk, thumbprint

PRIVATE_KEY_FILE = "private_key.pem"
PUBLIC_KEY_FILE = "public_key.pem"
CERTIFICATE_FILE = "cert.pem"


@dataclass(frozen=True)
class EnrolmentFiles:
    private_key: Path
    public_key: Path
    certificate: Path
    kid: str
    common_name: str


def common_name(name: str) -> str:
    return f"{name} private_key_jwt authentication"


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def generate(name: str, out: Path, *, days: int = 730, alg: str = "ES256", overwrite: bool = False) -> EnrolmentFiles:
    """Create the key pair and certificate in ``out``; refuses to overwrite a key."""
    if not name.strip():
        raise ValueError("the client name must not be empty")
    out.mkdir(parents=True, exist_ok=True)
    paths = (out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE, out / CERTIFICATE_FILE)
    if not overwrite and any(p.exists() for p in paths):
        raise FileExistsError(f"{out} already holds enrolment files; use another folder or --force")
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if alg == "ES256":
        key = ec.generate_private_key(ec.SECP256R1())
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    elif alg == "PS256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        private_format = serialization.PrivateFormat.PKCS8
    else:
        raise ValueError("alg must be ES256 or PS256")
    cn = common_name(name.strip())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(paths[0], key.private_bytes(serialization.Encoding.PEM, private_format, serialization.NoEncryption()), 0o600)
    _write(
        paths[1],
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        0o644,
    )
    _write(paths[2], cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return EnrolmentFiles(*paths, kid=thumbprint(public_jwk(key.public_key())), common_name=cn)


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """Read an unencrypted PEM private key (SEC1 or PKCS#8), as OpenSSL writes them.
    :class:`~hws.client.errors.InvalidArgument` (a ``ValueError``) naming the file if it
    cannot be read or is not such a key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(
            f"cannot read the private key {path}: {exc.strerror or exc} "
            "(the profile's private_key: hws configure --private-key PATH, or HWS_PRIVATE_KEY)"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidArgument(f"{path}: not an unencrypted PEM private key (as hws keygen writes private_key.pem)") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise InvalidArgument(f"{path}: the private key must be P-256 (ES256) or RSA >= 2048 (PS256)")
