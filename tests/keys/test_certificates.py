"""The certificates offices send at enrolment: PEM or DER, P-256 or RSA >= 2048 only."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hws.keys.certificates import CertificateError, read_certificate
from hws.keys.public_keys import public_jwk, thumbprint
from tests.support.certificates import self_signed


def test_a_p256_certificate_in_pem_and_der_reads_the_same() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = self_signed(key, cn="FR office", days=30)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    for data in (pem, der):
        info = read_certificate(data)
        assert info.alg == "ES256" and info.subject == "CN=FR office"
        assert info.jwk == public_jwk(key.public_key()) and info.kid == thumbprint(info.jwk)
        assert (info.not_after - info.not_before).days == 30
        assert info.pem.startswith("-----BEGIN CERTIFICATE-----")


def test_an_rsa_2048_certificate_is_ps256() -> None:
    info = read_certificate(self_signed(rsa.generate_private_key(65537, 2048)))
    assert info.alg == "PS256" and info.jwk["kty"] == "RSA"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a certificate", "not an x509 certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not an x509 certificate"),
        (self_signed(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (self_signed(rsa.generate_private_key(65537, 1024)), "2048"),
    ],
)
def test_unusable_certificates_are_refused_with_the_reason(data: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        read_certificate(data)
