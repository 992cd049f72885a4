"""Webhooks: offices' endpoints (added by the operator or by the office through the
API), and the delivery of their events, signed per Standard Webhooks.

Delivery (:func:`deliver`): a worker leases one endpoint, sends its oldest pending
delivery, and only then the next (order per endpoint), each signed afresh
(``webhook-timestamp`` is the real time of the try; ``webhook-id`` is the event id, the
same on every try). A 2xx answer delivers it; anything else — another status, a
redirect (never followed), a timeout, a refused address — is a failure retried after
:data:`hws.domain.webhook_policy.RETRY_DELAYS` with jitter, dead-lettered after the last
try. An endpoint failing without a success for ``HWS_WEBHOOK_DISABLE_AFTER_DAYS`` is
disabled, with an audit entry. Retry times follow the business calendar (the sandbox's
clock moves them); the signature's timestamp and the leases follow the real clock.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from hws.domain import webhook_policy
from hws.domain.events import EventType
from hws.domain.webhook_policy import EndpointRefused, IPAddress
from hws.keys import webhook_signatures
from hws.store import audit
from hws.store import events as event_store
from hws.store import webhooks as webhook_store
from hws.store.webhooks import Delivery, Endpoint
from hws.usecases.ports import Examining

log = logging.getLogger("hws.worker.webhooks")

#: deliveries sent to one endpoint per lease before it is released (others get a turn)
BATCH = 50

Resolver = Callable[[str, int], list[IPAddress]]


class WebhookError(ValueError):
    """The action cannot be carried out; the message says why."""


class NotFound(WebhookError):
    pass


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal: itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EndpointRefused(f"the endpoint's host {host!r} does not resolve: {exc.strerror}") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def checked_address(service: Examining, url: str, resolver: Resolver = resolve) -> tuple[str, str, int, IPAddress]:
    """The URL's scheme, host, port and the address to connect to, every address the host
    resolves to being allowed (``EndpointRefused`` otherwise)."""
    settings = service.settings
    scheme, host, port = webhook_policy.check_url(url, allow_http=settings.webhook_allow_http)
    addresses = resolver(host, port)
    if not addresses:
        raise EndpointRefused(f"the endpoint's host {host!r} resolves to no address")
    allowed = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.webhook_allowed_networks]
    for address in addresses:
        webhook_policy.check_address(address, allowed)
    return scheme, host, port, addresses[0]


# Endpoints ------------------------------------------------------------------------------


def add_endpoint(
    service: Examining, *, office: str, url: str, description: str, actor: str, resolver: Resolver = resolve
) -> Endpoint:
    """Register ``url`` for ``office``'s events; the result carries the new secret (shown once)."""
    checked_address(service, url, resolver)
    now = service.clock.now()
    with service.engine.begin() as conn:
        if webhook_store.count(conn, office) >= service.settings.webhook_max_endpoints:
            raise WebhookError(
                f"office {office} has {service.settings.webhook_max_endpoints} webhook endpoints already; remove one first"
            )
        endpoint = webhook_store.add(
            conn,
            endpoint_id="wh_" + secrets.token_hex(10),
            office=office,
            url=url,
            secret=webhook_signatures.new_secret(),
            description=description,
            created_by=actor,
            now=now,
        )
        audit.record(conn, audit.AuditEvent(
            at=now, actor=actor, office=office, action="webhook.added", target=endpoint.endpoint_id, detail={"url": url},
        ))  # fmt: skip
    return endpoint


def _owned(service: Examining, endpoint_id: str, office: str | None) -> Endpoint:
    endpoint = webhook_store.get(service.engine, endpoint_id)
    if endpoint is None or (office is not None and endpoint.office != office):
        raise NotFound(f"no webhook endpoint {endpoint_id}" + (f" of office {office}" if office else ""))
    return endpoint


def get_endpoint(service: Examining, endpoint_id: str, office: str | None = None) -> Endpoint:
    return _owned(service, endpoint_id, office)


def remove_endpoint(service: Examining, endpoint_id: str, *, actor: str, office: str | None = None) -> Endpoint:
    endpoint = _owned(service, endpoint_id, office)
    now = service.clock.now()
    with service.engine.begin() as conn:
        webhook_store.remove(conn, endpoint_id)
        audit.record(conn, audit.AuditEvent(
            at=now, actor=actor, office=endpoint.office, action="webhook.removed", target=endpoint_id,
            detail={"url": endpoint.url},
        ))  # fmt: skip
    return endpoint


def set_enabled(service: Examining, endpoint_id: str, enabled: bool, *, actor: str, reason: str | None = None) -> Endpoint:
    endpoint = _owned(service, endpoint_id, None)
    now = service.clock.now()
    with service.engine.begin() as conn:
        webhook_store.set_enabled(conn, endpoint_id, enabled, reason, now)
        audit.record(conn, audit.AuditEvent(
            at=now, actor=actor, office=endpoint.office, action="webhook.enabled" if enabled else "webhook.disabled",
            target=endpoint_id, detail={"reason": reason} if reason else {},
        ))  # fmt: skip
    return _owned(service, endpoint_id, None)


def send_test(service: Examining, endpoint_id: str, *, actor: str, office: str | None = None) -> str:
    """Queue a ``webhook.test`` event to this endpoint alone (it is not in the feed); its id."""
    endpoint = _owned(service, endpoint_id, office)
    if not endpoint.enabled:
        raise WebhookError(f"webhook endpoint {endpoint_id} is disabled; enable it first")
    at = service.calendar.now()
    with service.engine.begin() as conn:
        event = event_store.record(
            conn,
            office=endpoint.office,
            type=EventType.WEBHOOK_TEST,
            subject=endpoint_id,
            data={"endpoint": endpoint_id, "requestedBy": actor, "message": "a test delivery from hws"},
            time=at,
            now=service.clock.now(),
            endpoint=endpoint_id,
        )
    return event.event_id


def redeliver(service: Examining, endpoint_id: str, *, actor: str, delivery_ids: list[int] | None = None) -> list[int]:
    """Queue the endpoint's dead deliveries again (or those named, whatever their state but pending)."""
    endpoint = _owned(service, endpoint_id, None)
    now = service.clock.now()
    due = service.calendar.now()  # before the transaction: the sandbox's clock reads the database
    with service.engine.begin() as conn:
        ids = webhook_store.redeliver(conn, endpoint_id, due, delivery_ids)
        audit.record(conn, audit.AuditEvent(
            at=now, actor=actor, office=endpoint.office, action="webhook.redelivered", target=endpoint_id,
            detail={"deliveries": ids},
        ))  # fmt: skip
    return ids


# Delivery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """An endpoint's answer: its status, or why there was none."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender(Protocol):
    """Posts one signed body to ``url``, connecting to ``address`` (never following a
    redirect, within the time and size limits)."""

    def send(self, url: str, address: IPAddress, headers: Mapping[str, str], body: bytes) -> Outcome: ...


def _try(service: Examining, sender: Sender, endpoint: Endpoint, delivery: Delivery, resolver: Resolver) -> Outcome:
    body = delivery.event.body(service.settings.api_url)
    if len(body) > service.settings.webhook_max_body_bytes:
        return Outcome(None, f"the event's body ({len(body)} bytes) is above HWS_WEBHOOK_MAX_BODY_BYTES")
    try:
        _scheme, _host, _port, address = checked_address(service, endpoint.url, resolver)
    except EndpointRefused as exc:
        return Outcome(None, f"refused: {exc}")
    signed = webhook_signatures.headers(endpoint.secret, delivery.event.event_id, int(service.clock.timestamp()), body)
    return sender.send(
        endpoint.url,
        address,
        {**signed, "content-type": "application/cloudevents+json; charset=utf-8", "ce-specversion": "1.0"},
        body,
    )


def deliver(
    service: Examining, sender: Sender, owner: str, *, resolver: Resolver = resolve, spread: Callable[[], float] = random.random
) -> int:
    """Lease one endpoint with a due delivery and send what is due, in order; the number
    of tries made (0: nothing was due)."""
    lease_ms = service.settings.job_lease_seconds * 1000
    endpoint_id = webhook_store.claim_due(
        service.engine, owner, service.calendar.now(), int(service.clock.timestamp() * 1000), lease_ms
    )
    if endpoint_id is None:
        return 0
    tries = 0
    released = False
    leased_until = int(service.clock.timestamp() * 1000) + lease_ms
    try:
        endpoint = webhook_store.get(service.engine, endpoint_id)
        while endpoint is not None and endpoint.enabled and tries < BATCH:
            delivery = webhook_store.head(service.engine, endpoint_id)
            if delivery is None or delivery.next_attempt_at > service.calendar.now():
                break
            now_ms = int(service.clock.timestamp() * 1000)
            if leased_until - now_ms < lease_ms // 2:  # renewed once half of it is used, not before every try
                if not webhook_store.extend(service.engine, endpoint_id, owner, now_ms + lease_ms):
                    break  # the lease was lost: another worker has the endpoint
                leased_until = now_ms + lease_ms
            outcome = _try(service, sender, endpoint, delivery, resolver)
            tries += 1
            go_on, released = _record(service, endpoint, delivery, owner, outcome, spread)
            if not go_on:
                break
            endpoint = webhook_store.get(service.engine, endpoint_id)
    finally:
        if not released:
            webhook_store.release(service.engine, endpoint_id, owner)
    return tries


def _record(
    service: Examining, endpoint: Endpoint, delivery: Delivery, owner: str, outcome: Outcome, spread: Callable[[], float]
) -> tuple[bool, bool]:
    """Record the try: whether to go on with the endpoint now, and whether its lease was
    given back with the record (nothing else due)."""
    at = service.calendar.now()
    fields = {"endpoint": endpoint.endpoint_id, "event_id": delivery.event.event_id, "sequence": delivery.sequence,
              "type": delivery.event.type, "attempt": delivery.attempts + 1}  # fmt: skip
    if outcome.delivered:
        assert outcome.status is not None
        recorded, released = webhook_store.mark_delivered(
            service.engine, delivery, owner, status=outcome.status, attempted_at=at, now=at
        )
        log.info("webhook delivered", extra={"event": "webhook.delivered", "status": outcome.status, **fields})
        return recorded and not released, released
    error = outcome.error or f"the endpoint answered {outcome.status}"
    delay = webhook_policy.retry_delay(delivery.attempts + 1, spread())
    retry_at = at + delay if delay is not None else None
    since = webhook_store.mark_failed(
        service.engine, delivery, owner, status=outcome.status, error=error, attempted_at=at, retry_at=retry_at
    )
    log.warning(
        "webhook delivery failed",
        extra={"event": "webhook.failed" if retry_at else "webhook.dead", "status": outcome.status, "error": error[:300],
               "retry_at": retry_at.isoformat() if retry_at else None, **fields},
    )  # fmt: skip
    if since is None:
        return False, False
    after = timedelta(days=service.settings.webhook_disable_after_days)
    if webhook_policy.should_disable(since, at, after):
        reason = f"every delivery failed since {since.isoformat()} (last: {error[:200]})"
        with service.engine.begin() as conn:
            webhook_store.set_enabled(conn, endpoint.endpoint_id, False, reason, at)
            audit.record(conn, audit.AuditEvent(
                at=service.clock.now(), actor="webhook-delivery", office=endpoint.office, action="webhook.disabled",
                target=endpoint.endpoint_id, outcome="disabled", detail={"reason": reason, "url": endpoint.url},
            ))  # fmt: skip
        log.warning("webhook endpoint disabled", extra={"event": "webhook.disabled", "endpoint": endpoint.endpoint_id})
        return False, False
    # A dead delivery lets the next one go now; a retry waits for its time.
    return retry_at is None, False
