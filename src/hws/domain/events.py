"""Events an office is told about, and their CloudEvents 1.0 envelope (JSON format).

One event per change the office cares about, written in the same transaction as the
change (the outbox, :mod:`hws.store.events`). Each office has its own gap-free
``sequence`` (1, 2, 3, …): the feed's cursor and the webhooks' order follow it. The
envelope carries the CloudEvents required attributes (``specversion``, ``id``,
``source``, ``type``) and ``subject``, ``time``, ``datacontenttype``; two extension
attributes name the office (``hwsoffice``) and the sequence (``hwssequence``, an
Integer). ``data`` holds the fields of the status documents (camelCase, as their JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

SPECVERSION = "1.0"
TYPE_PREFIX = "int.wipo.hws."


class EventType(StrEnum):
    IMPORT_ACCEPTED = TYPE_PREFIX + "import.accepted"
    IMPORT_REJECTED = TYPE_PREFIX + "import.rejected"
    STATUS_CHANGED = TYPE_PREFIX + "request.status-changed"
    DECISION_RECORDED = TYPE_PREFIX + "decision.recorded"
    BULLETIN_PUBLISHED = TYPE_PREFIX + "bulletin.published"
    COPY_PUBLISHED = TYPE_PREFIX + "confidential-copy.published"
    #: sent to one webhook endpoint on request (``webhooks test``); never in the feed
    WEBHOOK_TEST = TYPE_PREFIX + "webhook.test"


#: what an office sees in its feed (everything but the endpoint tests)
FEED_TYPES: tuple[str, ...] = tuple(t.value for t in EventType if t is not EventType.WEBHOOK_TEST)


def rfc3339(when: datetime) -> str:
    """UTC, milliseconds, ``Z``: the CloudEvents ``time`` form."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """One recorded event of one office."""

    event_id: str
    office: str
    sequence: int
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]

    def envelope(self, source: str) -> dict[str, Any]:
        """The CloudEvents 1.0 structured-mode JSON object."""
        return {
            "specversion": SPECVERSION,
            "id": self.event_id,
            "source": source,
            "type": self.type,
            "subject": self.subject,
            "time": rfc3339(self.time),
            "datacontenttype": "application/json",
            "hwsoffice": self.office,
            "hwssequence": self.sequence,
            "data": self.data,
        }

    def body(self, source: str) -> bytes:
        """The envelope as the bytes a webhook delivery posts (compact, keys in order)."""
        return json.dumps(self.envelope(source), separators=(",", ":"), ensure_ascii=False).encode()


def encode_cursor(sequence: int) -> str:
    """The feed's cursor after the event with ``sequence`` (its decimal form: readable, opaque to use)."""
    return str(sequence)


def decode_cursor(value: str) -> int:
    """The sequence a cursor names; ``ValueError`` when it is not one."""
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValueError(f"not a cursor: {value[:40]!r}")
    return int(value)
