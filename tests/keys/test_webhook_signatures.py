"""Standard Webhooks signatures, checked against the reference Python package
(``standardwebhooks`` from PyPI) in both directions."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as ReferenceError_

from hws.client.webhooks import verify as kit_verify
from hws.keys import webhook_signatures as sigs

NOW = 1_780_000_000


def test_a_new_secret_is_whsec_and_24_to_64_random_bytes() -> None:
    secret = sigs.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert sigs.new_secret() != secret
    for size in (23, 65):
        with pytest.raises(ValueError):
            sigs.new_secret(size)


@given(
    data=st.dictionaries(st.text(max_size=20), st.text(max_size=200) | st.integers(), max_size=8),
    message_id=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=40),
)
def test_the_reference_package_accepts_our_signature(data: dict[str, object], message_id: str) -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps(data, ensure_ascii=False).encode()
    now = int(time.time())  # the reference package checks the timestamp against the real clock
    headers = sigs.headers(secret, message_id, now, body)
    assert Webhook(secret).verify(body, headers) == data
    assert sigs.verify(secret, body, headers, now=now) == message_id


def test_we_accept_the_reference_packages_signature_and_refuse_tampering() -> None:
    secret = sigs.new_secret()
    body = json.dumps({"id": "evt-1", "type": "t"}).encode()
    signed_at = datetime.now(UTC)
    signature = Webhook(secret).sign("evt-1", signed_at, body.decode())
    headers = {"Webhook-Id": "evt-1", "Webhook-Timestamp": str(int(signed_at.timestamp())), "Webhook-Signature": signature}
    now = time.time()
    assert sigs.verify(secret, body, headers, now=now) == "evt-1"
    assert kit_verify(secret, body, headers, now=now) == {"id": "evt-1", "type": "t"}
    with pytest.raises(sigs.WebhookVerificationError):
        sigs.verify(secret, body + b" ", headers, now=now)
    with pytest.raises(sigs.WebhookVerificationError):
        sigs.verify(sigs.new_secret(), body, headers, now=now)
    with pytest.raises(sigs.WebhookVerificationError):
        sigs.verify(secret, body, {**headers, "Webhook-Id": "evt-2"}, now=now)
    # either of two secrets (a rotation)
    assert sigs.verify([sigs.new_secret(), secret], body, headers, now=now) == "evt-1"


def test_timestamps_outside_the_tolerance_are_refused_by_both() -> None:
    secret = sigs.new_secret()
    body = b'{"id":"x"}'
    old = sigs.headers(secret, "x", NOW - 301, body)
    with pytest.raises(sigs.WebhookVerificationError, match="too old"):
        sigs.verify(secret, body, old, now=NOW)
    with pytest.raises(sigs.WebhookVerificationError, match="future"):
        sigs.verify(secret, body, sigs.headers(secret, "x", NOW + 301, body), now=NOW)
    assert sigs.verify(secret, body, sigs.headers(secret, "x", NOW - 299, body), now=NOW) == "x"
    with pytest.raises(ReferenceError_):  # the reference package, on the real clock
        Webhook(secret).verify(body, old)


def test_missing_or_malformed_headers_are_refused() -> None:
    secret = sigs.new_secret()
    for headers in ({}, {"webhook-id": "x", "webhook-timestamp": "abc", "webhook-signature": "v1,AAAA"}):
        with pytest.raises(sigs.WebhookVerificationError):
            sigs.verify(secret, b"{}", headers, now=NOW)
    with pytest.raises(ValueError):
        sigs.secret_key("whsec_not base64!")
