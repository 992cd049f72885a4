"""The client registry: offices' machine identities, their keys and allow-lists."""

from __future__ import annotations

import builtins
import enum
import ipaddress
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Final

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hws.domain import networks as networks_rule
from hws.domain import scopes as scope_rules
from hws.domain.clock import Clock
from hws.domain.contacts import is_email
from hws.domain.offices import normalize_office_code
from hws.domain.token_binding import TokenBinding
from hws.keys.certificates import CertificateInfo
from hws.store import audit
from hws.store.database import read_only
from hws.store.tables import audit_events, client_keys, clients


class RegistryError(ValueError):
    """An operator request the registry cannot carry out; the message says why."""


@dataclass(frozen=True)
class ClientKey:
    kid: str
    client_id: str
    alg: str
    public_jwk: dict[str, str]
    certificate_pem: str
    subject: str
    not_before: datetime
    not_after: datetime
    added_at: datetime

    def valid_at(self, when: datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "alg": self.alg,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "added_at": self.added_at.isoformat(),
        }


@dataclass(frozen=True)
class Client:
    client_id: str
    office: str
    name: str
    examining: bool
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...]
    networks: tuple[str, ...]
    active: bool
    not_before: datetime | None
    not_after: datetime | None
    created_at: datetime
    updated_at: datetime
    business_owner: str = ""
    business_owner_email: str = ""
    technical_contact: str = ""
    technical_contact_email: str = ""
    token_binding: TokenBinding = TokenBinding.BEARER

    def in_validity_period(self, when: datetime) -> bool:
        if self.not_before and when < self.not_before:
            return False
        return not (self.not_after and when > self.not_after)

    @cached_property
    def parsed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``networks`` parsed, once per record (a record kept between requests keeps them)."""
        return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in self.networks)

    def allows_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        """Rule 12: on the allow-list (an IPv4-mapped IPv6 address counts as its IPv4)."""
        mapped = address.ipv4_mapped if address.version == 6 else None
        for network in self.parsed_networks:
            if address.version == network.version and address in network:
                return True
            if mapped is not None and mapped in network:
                return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "office": self.office,
            "name": self.name,
            "business_owner": self.business_owner,
            "business_owner_email": self.business_owner_email,
            "technical_contact": self.technical_contact,
            "technical_contact_email": self.technical_contact_email,
            "examining": self.examining,
            "token_binding": self.token_binding.value,
            "scopes": list(self.scopes),
            "default_scopes": list(self.default_scopes),
            "networks": list(self.networks),
            "active": self.active,
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


#: A client's row and each of its keys' rows, as one statement (a left join: a client
#: without keys is still found), ordered like the registry orders keys; bound by
#: ``client_id``. The token endpoint's look-up runs it through the driver.
CLIENT_WITH_KEYS = (
    select(clients, client_keys)
    .select_from(clients.outerjoin(client_keys, client_keys.c.client_id == clients.c.client_id))
    .where(clients.c.client_id == bindparam("client_id"))
    .order_by(client_keys.c.added_at, client_keys.c.kid)
)


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        office=row.office,
        name=row.name,
        examining=bool(row.examining),
        scopes=tuple(row.scopes.split()),
        default_scopes=tuple(row.default_scopes.split()),
        networks=tuple(row.networks.split()),
        active=bool(row.active),
        not_before=row.not_before,
        not_after=row.not_after,
        created_at=row.created_at,
        updated_at=row.updated_at,
        business_owner=row.business_owner,
        business_owner_email=row.business_owner_email,
        technical_contact=row.technical_contact,
        technical_contact_email=row.technical_contact_email,
        token_binding=TokenBinding(row.token_binding),
    )


def _key(row: Any) -> ClientKey:
    return ClientKey(
        kid=row.kid,
        client_id=row.client_id,
        alg=row.alg,
        public_jwk=json.loads(row.public_jwk),
        certificate_pem=row.certificate_pem,
        subject=row.subject,
        not_before=row.not_before,
        not_after=row.not_after,
        added_at=row.added_at,
    )


def normalize_networks(networks: Iterable[str]) -> tuple[str, ...]:
    """The domain's rule (:func:`hws.domain.networks.normalize_networks`), refusals as ``RegistryError``."""
    try:
        return networks_rule.normalize_networks(networks)
    except networks_rule.InvalidNetwork as exc:
        raise RegistryError(str(exc)) from None


def new_client_id(office: str) -> str:
    return f"{office.lower()}-{secrets.token_hex(6)}"


class Keep(enum.Enum):
    """Leave the field as it is (for fields where ``None`` is a value: no limit)."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP

#: Contact fields of a client (the access request form's), each a name or an e-mail.
CONTACT_FIELDS: Final = ("business_owner", "business_owner_email", "technical_contact", "technical_contact_email")


def check_contact(field_name: str, value: str) -> str:
    """``value`` (stripped) if it may be stored as ``field_name``; ``RegistryError`` if not."""
    value = value.strip()
    limit = 320 if field_name.endswith("email") else 200
    if len(value) > limit or not value.isprintable():
        raise RegistryError(f"{field_name.replace('_', ' ')}: at most {limit} printable characters")
    if value and field_name.endswith("email") and not is_email(value):
        raise RegistryError(f"{field_name.replace('_', ' ')}: not an e-mail address: {value!r}")
    return value


@dataclass(frozen=True)
class ClientChanges:
    """What an operator changes on a client. ``None``, empty or :data:`KEEP`: unchanged.

    Networks: ``set_networks`` replaces the allow-list, then ``remove_networks`` are taken
    off and ``add_networks`` put on. ``certificates`` are added as keys (rollover: the
    client's current keys keep working until removed)."""

    set_networks: Sequence[str] | None = None
    add_networks: Sequence[str] = ()
    remove_networks: Sequence[str] = ()
    scopes: Sequence[str] | None = None
    examining: bool | None = None
    token_binding: TokenBinding | None = None
    name: str | None = None
    business_owner: str | None = None
    business_owner_email: str | None = None
    technical_contact: str | None = None
    technical_contact_email: str | None = None
    not_before: datetime | Keep | None = KEEP
    not_after: datetime | Keep | None = KEEP
    certificates: Sequence[CertificateInfo] = ()


def _shown(value: Any) -> Any:
    """A column value as people and the audit log see it (lists, ISO 8601 dates)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class ClientUpdate:
    """A checked change of one client, not yet written: ``changes`` maps each field that
    changes to its (before, after) values as shown; ``keys_added`` the new keys' kids."""

    before: Client
    values: dict[str, Any]
    changes: dict[str, tuple[Any, Any]]
    certificates: tuple[CertificateInfo, ...] = ()

    @property
    def keys_added(self) -> tuple[str, ...]:
        return tuple(c.kid for c in self.certificates)

    @property
    def empty(self) -> bool:
        return not self.values and not self.certificates

    def as_dict(self) -> dict[str, Any]:
        """What changes, for the audit log and ``--json`` (no secrets: kids, not certificates)."""
        result: dict[str, Any] = {name: {"before": old, "after": new} for name, (old, new) in self.changes.items()}
        if self.keys_added:
            result["keys_added"] = list(self.keys_added)
        return result


class ClientRegistry:
    """Repository over ``clients`` and ``client_keys``."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._reader = read_only(engine)
        self._clock = clock

    # Reads -----------------------------------------------------------------------

    def get(self, client_id: str) -> Client | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.client_id == client_id)).first()
        return _client(row) if row else None

    def get_with_keys(self, client_id: str) -> tuple[Client, list[ClientKey]] | None:
        with self._reader.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.client_id == client_id)).first()
            if row is None:
                return None
            keys = conn.execute(
                select(client_keys).where(client_keys.c.client_id == client_id).order_by(client_keys.c.added_at)
            ).all()
        return _client(row), [_key(k) for k in keys]

    def keys(self, client_id: str) -> list[ClientKey]:
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(client_keys).where(client_keys.c.client_id == client_id).order_by(client_keys.c.added_at)
            ).all()
        return [_key(r) for r in rows]

    def list(self, *, office: str | None = None) -> list[Client]:
        query = select(clients).order_by(clients.c.office, clients.c.client_id)
        if office:
            query = query.where(clients.c.office == normalize_office_code(office))
        with self._reader.connect() as conn:
            return [_client(r) for r in conn.execute(query).all()]

    def count(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(clients)).scalar_one())

    # Writes ----------------------------------------------------------------------

    def add(
        self,
        *,
        office: str,
        certificate: CertificateInfo,
        networks: Sequence[str],
        scopes: Sequence[str] | None = None,
        default_scopes: Sequence[str] | None = None,
        examining: bool = False,
        name: str = "",
        client_id: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        contacts: dict[str, str] | None = None,
        token_binding: TokenBinding = TokenBinding.BEARER,
    ) -> Client:
        office_code = self._office(office)
        self._check_current(certificate)
        checked_contacts = {k: check_contact(k, v) for k, v in (contacts or {}).items() if k in CONTACT_FIELDS}
        if unknown := set(contacts or {}) - set(CONTACT_FIELDS):
            raise RegistryError(f"not a contact field: {', '.join(sorted(unknown))}")
        name = check_contact("name", name)
        if not_before and not_after and not_after <= not_before:
            raise RegistryError("the end of the validity period must come after its start")
        nets = normalize_networks(networks)
        if not nets:
            raise RegistryError("at least one allowed source address or range (--ip) is required")
        granted = self._scopes(scopes or scope_rules.OFFICE_DEFAULT_SCOPES)
        defaults = self._scopes(default_scopes or granted)
        if not set(defaults) <= set(granted):
            raise RegistryError("default scopes must be among the client's scopes")
        client_id = client_id or new_client_id(office_code)
        if not client_id or len(client_id) > 64 or not client_id.isascii() or not client_id.isprintable() or " " in client_id:
            raise RegistryError("client ID must be 1-64 printable ASCII characters without spaces")
        now = self._clock.now()
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(clients).values(
                        client_id=client_id,
                        office=office_code,
                        name=name,
                        examining=examining,
                        token_binding=TokenBinding(token_binding).value,
                        scopes=" ".join(granted),
                        default_scopes=" ".join(defaults),
                        networks=" ".join(nets),
                        active=True,
                        not_before=not_before,
                        not_after=not_after,
                        created_at=now,
                        updated_at=now,
                        **checked_contacts,
                    )
                )
                self._insert_key(conn, client_id, certificate, now)
        except IntegrityError:
            raise RegistryError(
                f"client ID {client_id!r} or this certificate's key (kid {certificate.kid}) is already registered"
            ) from None
        client = self.get(client_id)
        assert client is not None
        return client

    def set_active(self, client_id: str, active: bool) -> Client:
        return self._update(client_id, active=active)

    def update(
        self,
        client_id: str,
        *,
        networks: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        examining: bool | None = None,
        name: str | None = None,
        actor: str = "operator",
    ) -> Client:
        """Change a client at once (checked and audited like :meth:`plan_update`)."""
        changes = ClientChanges(set_networks=networks, scopes=scopes, examining=examining, name=name)
        return self.apply_update(self.plan_update(client_id, changes), actor=actor)

    def plan_update(self, client_id: str, changes: ClientChanges) -> ClientUpdate:
        """Check ``changes`` against the client as it is now; write nothing.

        Refused (``RegistryError``, saying why): an allow-list left empty, removing an
        address that is not on it, an unknown or empty scope set, a validity period that
        ends before it starts, a contact that is not a name or an e-mail address, an
        expired certificate or one already among the client's keys."""
        before, keys = self._require_with_keys(client_id)
        values: dict[str, Any] = {}

        nets = list(normalize_networks(changes.set_networks) if changes.set_networks is not None else before.networks)
        for gone in normalize_networks(changes.remove_networks):
            if gone not in nets:
                raise RegistryError(f"{gone} is not on the allow-list of {client_id!r} ({' '.join(nets) or 'empty'})")
            nets.remove(gone)
        nets += [n for n in normalize_networks(changes.add_networks) if n not in nets]
        if not nets:
            raise RegistryError(
                f"refused: the change would leave client {client_id!r} no allowed source address or range "
                "(add one with --add-ip, or use --set-ip)"
            )
        values["networks"] = " ".join(nets)

        if changes.scopes is not None:
            granted = self._scopes(changes.scopes)
            if not granted:
                raise RegistryError("refused: a client needs at least one scope")
            values["scopes"] = " ".join(granted)
            kept = [s for s in before.default_scopes if s in granted]
            values["default_scopes"] = " ".join(kept or granted)
        if changes.examining is not None:
            values["examining"] = changes.examining
        if changes.token_binding is not None:
            values["token_binding"] = TokenBinding(changes.token_binding).value
        if changes.name is not None:
            values["name"] = check_contact("name", changes.name)
        for contact in CONTACT_FIELDS:
            value = getattr(changes, contact)
            if value is not None:
                values[contact] = check_contact(contact, value)
        if changes.not_before is not KEEP:
            values["not_before"] = changes.not_before
        if changes.not_after is not KEEP:
            values["not_after"] = changes.not_after
        start, end = values.get("not_before", before.not_before), values.get("not_after", before.not_after)
        if start is not None and end is not None and end <= start:
            raise RegistryError(
                f"refused: the validity period would end ({end.isoformat()}) before it starts ({start.isoformat()})"
            )

        certificates: list[CertificateInfo] = []
        for certificate in changes.certificates:
            self._check_current(certificate)
            if certificate.kid in {k.kid for k in keys} | {c.kid for c in certificates}:
                raise RegistryError(f"the key {certificate.kid} is already one of {client_id!r}'s keys")
            certificates.append(certificate)

        current = before.as_dict()
        shown: dict[str, tuple[Any, Any]] = {}
        kept_values: dict[str, Any] = {}
        for column, value in values.items():
            old = current[column]
            new = value.split() if column in ("networks", "scopes", "default_scopes") else _shown(value)
            if old != new:
                shown[column] = (old, new)
                kept_values[column] = value
        return ClientUpdate(
            before=before,
            values=kept_values,
            changes=shown,
            certificates=tuple(certificates),
        )

    def apply_update(
        self, plan: ClientUpdate, *, actor: str, source: str | None = None, context: dict[str, Any] | None = None
    ) -> Client:
        """Write ``plan`` and its audit event (``client.updated``: each field before and
        after, the kids of keys added) in one transaction. Refused if the client changed
        since the plan was made (someone else's update): plan again."""
        client_id = plan.before.client_id
        if plan.empty:
            return plan.before
        now = self._clock.now()
        try:
            with self._engine.begin() as conn:
                stamp = conn.execute(
                    select(clients.c.updated_at).where(clients.c.client_id == client_id).with_for_update()
                ).first()
                if stamp is None:
                    raise RegistryError(f"no client with ID {client_id!r}")
                if stamp.updated_at != plan.before.updated_at:
                    raise RegistryError(f"client {client_id!r} was changed by someone else meanwhile: run the update again")
                conn.execute(update(clients).where(clients.c.client_id == client_id).values(**plan.values, updated_at=now))
                for certificate in plan.certificates:
                    self._insert_key(conn, client_id, certificate, now)
                audit.record(
                    conn,
                    audit.AuditEvent(
                        at=now,
                        actor=actor,
                        office=plan.before.office,
                        action="client.updated",
                        target=client_id,
                        source=source,
                        detail={**(context or {}), **plan.as_dict()},
                    ),
                )
        except IntegrityError:
            raise RegistryError(f"a new key ({', '.join(plan.keys_added)}) is already registered to another client") from None
        client = self.get(client_id)
        assert client is not None
        return client

    def add_key(self, client_id: str, certificate: CertificateInfo) -> ClientKey:
        self._require(client_id)
        self._check_current(certificate)
        try:
            with self._engine.begin() as conn:
                self._insert_key(conn, client_id, certificate, self._clock.now())
        except IntegrityError:
            raise RegistryError(f"this certificate's key (kid {certificate.kid}) is already registered") from None
        return next(k for k in self.keys(client_id) if k.kid == certificate.kid)

    def remove_key(self, client_id: str, kid: str) -> None:
        self._require(client_id)
        with self._engine.begin() as conn:
            remaining = conn.execute(
                select(func.count()).select_from(client_keys).where(client_keys.c.client_id == client_id)
            ).scalar_one()
            found = conn.execute(
                select(client_keys.c.kid).where(client_keys.c.client_id == client_id, client_keys.c.kid == kid)
            ).first()
            if not found:
                raise RegistryError(f"client {client_id!r} has no key with kid {kid!r}")
            if remaining <= 1:
                raise RegistryError("cannot remove the client's last key: add the new key first (add-key)")
            conn.execute(delete(client_keys).where(client_keys.c.kid == kid))

    # Internals -------------------------------------------------------------------

    def _require(self, client_id: str) -> Client:
        client = self.get(client_id)
        if client is None:
            raise RegistryError(f"no client with ID {client_id!r}")
        return client

    def _require_with_keys(self, client_id: str) -> tuple[Client, builtins.list[ClientKey]]:
        found = self.get_with_keys(client_id)
        if found is None:
            raise RegistryError(f"no client with ID {client_id!r}")
        return found

    def _update(self, client_id: str, **values: Any) -> Client:
        self._require(client_id)
        values["updated_at"] = self._clock.now()
        with self._engine.begin() as conn:
            conn.execute(update(clients).where(clients.c.client_id == client_id).values(**values))
        client = self.get(client_id)
        assert client is not None
        return client

    def _check_current(self, certificate: CertificateInfo) -> None:
        if certificate.not_after < self._clock.now():
            raise RegistryError(
                f"the certificate expired on {certificate.not_after:%Y-%m-%d}: ask the office for a new one (hws keygen)"
            )

    @staticmethod
    def _office(office: str) -> str:
        try:
            return normalize_office_code(office)
        except ValueError as exc:
            raise RegistryError(str(exc)) from None

    @staticmethod
    def _scopes(values: Iterable[str]) -> builtins.list[str]:
        try:
            return scope_rules.check_known(dict.fromkeys(values))
        except ValueError as exc:
            raise RegistryError(str(exc)) from None

    @staticmethod
    def _insert_key(conn: Any, client_id: str, certificate: CertificateInfo, now: datetime) -> None:
        conn.execute(
            insert(client_keys).values(
                kid=certificate.kid,
                client_id=client_id,
                alg=certificate.alg,
                public_jwk=json.dumps(certificate.jwk, sort_keys=True),
                certificate_pem=certificate.pem,
                subject=certificate.subject,
                not_before=certificate.not_before,
                not_after=certificate.not_after,
                added_at=now,
            )
        )


@dataclass(frozen=True)
class TokenIssued:
    """A client's access-token issuance, as the token endpoint recorded it in the audit
    log (``auth.token``, outcome ``issued``): when, from which address, which key signed
    the assertion, and the scopes granted."""

    client_id: str
    at: datetime
    source: str | None
    kid: str | None
    scope: str | None


def _token_issued(row: Any) -> TokenIssued:
    detail = json.loads(row.detail) if row.detail else {}
    return TokenIssued(row.actor, row.at, row.source, detail.get("kid"), detail.get("scope"))


def tokens_issued(engine: Engine, client_id: str, *, limit: int = 10) -> list[TokenIssued]:
    """The client's newest token issuances (newest first)."""
    query = (
        select(audit_events.c.actor, audit_events.c.at, audit_events.c.source, audit_events.c.detail)
        .where(audit_events.c.actor == client_id, audit_events.c.action == "auth.token", audit_events.c.outcome == "issued")
        .order_by(audit_events.c.id.desc())
        .limit(limit)
    )
    with read_only(engine).connect() as conn:
        return [_token_issued(r) for r in conn.execute(query).all()]


_LAST_TOKEN = (
    select(audit_events.c.actor, audit_events.c.at, audit_events.c.source, audit_events.c.detail)
    .where(
        audit_events.c.actor == bindparam("client_id"),
        audit_events.c.action == "auth.token",
        audit_events.c.outcome == "issued",
    )
    .order_by(audit_events.c.id.desc())
    .limit(1)
)


def last_tokens_issued(engine: Engine, client_ids: Iterable[str]) -> dict[str, TokenIssued]:
    """Each client's newest token issuance (clients never issued a token are left out):
    one indexed look-up (by actor) per client, on one connection."""
    found: dict[str, TokenIssued] = {}
    with read_only(engine).connect() as conn:
        for client_id in client_ids:
            row = conn.execute(_LAST_TOKEN, {"client_id": client_id}).first()
            if row is not None:
                found[client_id] = _token_issued(row)
    return found
