"""For offices writing their own webhook receiver: check a delivery's Standard Webhooks
signature and read its CloudEvents envelope.

    from hws.client.webhooks import verify, WebhookVerificationError

    try:
        event = verify(secret, request_body, request_headers)
    except WebhookVerificationError:
        return 400
    if seen(event["id"]): return 204   # at least once: de-duplicate on the id
    handle(event); return 204

The secret is the ``whsec_…`` value given when the endpoint was registered. Answer 2xx
quickly; anything else (or no answer within the service's time limit) is retried.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from hws.keys import webhook_signatures
from hws.keys.webhook_signatures import DEFAULT_TOLERANCE, WebhookVerificationError

__all__ = ["WebhookVerificationError", "verify"]


def verify(
    secret: str | list[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """The delivery's CloudEvents envelope once its signature and timestamp check out
    (``now``: the receiver's clock, POSIX seconds; default the system's). Raises
    :class:`WebhookVerificationError` otherwise, or when the body is not an event."""
    message_id = webhook_signatures.verify(secret, body, headers, now=time.time() if now is None else now, tolerance=tolerance)
    try:
        envelope = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("id") != message_id:
        raise WebhookVerificationError("the body is not the event the webhook-id names")
    return envelope
