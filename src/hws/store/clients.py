"""The client registry: offices' machine identities, their keys and allow-lists."""

from __future__ import annotations

import builtins
import ipaddress
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hws.domain import scopes as scope_rules
from hws.domain.clock import Clock
from hws.domain.offices import normalize_office_code
from hws.keys.certificates import CertificateInfo
from hws.store.database import read_only
from hws.store.tables import client_keys, clients


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
            "examining": self.examining,
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
    result: list[str] = []
    for cidr in networks:
        try:
            network = ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise RegistryError(f"not an IP address or CIDR range: {cidr!r}") from None
        if str(network) not in result:
            result.append(str(network))
    return tuple(result)


def new_client_id(office: str) -> str:
    return f"{office.lower()}-{secrets.token_hex(6)}"


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
    ) -> Client:
        office_code = self._office(office)
        self._check_current(certificate)
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
                        scopes=" ".join(granted),
                        default_scopes=" ".join(defaults),
                        networks=" ".join(nets),
                        active=True,
                        not_before=not_before,
                        not_after=not_after,
                        created_at=now,
                        updated_at=now,
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
    ) -> Client:
        values: dict[str, Any] = {}
        if networks is not None:
            nets = normalize_networks(networks)
            if not nets:
                raise RegistryError("at least one allowed source address or range is required")
            values["networks"] = " ".join(nets)
        if scopes is not None:
            granted = self._scopes(scopes)
            values["scopes"] = " ".join(granted)
            values["default_scopes"] = " ".join(granted)
        if examining is not None:
            values["examining"] = examining
        if name is not None:
            values["name"] = name
        return self._update(client_id, **values)

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
