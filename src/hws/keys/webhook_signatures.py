"""Standard Webhooks signatures (https://www.standardwebhooks.com/, "Signature scheme").

A delivery carries three headers: ``webhook-id`` (the message id, the same on every
retry: receivers de-duplicate on it), ``webhook-timestamp`` (integer seconds, when this
attempt was signed) and ``webhook-signature``: space-separated ``v1,<base64>`` entries,
each ``HMAC-SHA256(key, "{id}.{timestamp}.{body}")`` where the key is the base64 part
of a ``whsec_`` secret (24 to 64 random bytes). Several entries let a receiver accept
either of two secrets while one is being rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

PREFIX = "whsec_"
#: what the specification recommends for a receiver's timestamp check
DEFAULT_TOLERANCE = 5 * 60


class WebhookVerificationError(ValueError):
    """The headers are missing, too old or too new, or no signature matches."""


def new_secret(size: int = 32) -> str:
    """A fresh ``whsec_`` secret of ``size`` random bytes (base64, standard alphabet)."""
    if not 24 <= size <= 64:
        raise ValueError("a Standard Webhooks secret has 24 to 64 bytes")
    return PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional, as in the reference libraries)."""
    encoded = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one signed attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def verify(
    secret: str | list[str],
    body: bytes,
    received: Mapping[str, str],
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE,
) -> str:
    """Check a received delivery; returns its ``webhook-id``. ``received`` is the request's
    headers (any case); ``now`` the receiver's time in POSIX seconds; ``secret`` one secret
    or several (during a rotation). Raises :class:`WebhookVerificationError`."""
    lowered = {name.lower(): value for name, value in received.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not integer seconds")
    timestamp = int(stamp)
    if timestamp < now - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    offered = [item.partition(",")[2] for item in signatures.split(" ") if item.startswith("v1,")]
    for candidate in secrets_:
        expected = sign(candidate, message_id, timestamp, body).partition(",")[2]
        if any(hmac.compare_digest(expected, value) for value in offered):
            return message_id
    raise WebhookVerificationError("no signature matches")
