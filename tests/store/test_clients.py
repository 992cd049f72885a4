"""The client registry on SQLite and on PostgreSQL."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from hws.keys.certificates import read_certificate
from hws.store.clients import RegistryError
from tests.conftest import enrol, make_service
from tests.support.certificates import self_signed
from tests.support.jose import new_ec_key


@pytest.fixture
def svc(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, database_url)
    yield service
    service.close()


def test_add_get_list(svc) -> None:  # type: ignore[no-untyped-def]
    office = enrol(svc, office="kr", networks=("203.0.113.0/24", "2001:db8::/32"), examining=True, name="KIPO")
    client, keys = svc.registry.get_with_keys(office.client_id)
    assert client.office == "KR" and client.examining and client.name == "KIPO"
    assert client.networks == ("203.0.113.0/24", "2001:db8::/32")
    assert [k.kid for k in keys] == [office.kid] and keys[0].alg == "ES256"
    assert keys[0].not_before.tzinfo is not None
    assert [c.client_id for c in svc.registry.list(office="KR")] == [office.client_id]
    assert svc.registry.list(office="US") == []


def test_allow_list_matching(svc) -> None:  # type: ignore[no-untyped-def]
    client = svc.registry.get(enrol(svc, networks=("203.0.113.0/24", "2001:db8::/32")).client_id)
    assert client.allows_address(ipaddress.ip_address("203.0.113.200"))
    assert client.allows_address(ipaddress.ip_address("::ffff:203.0.113.5"))
    assert client.allows_address(ipaddress.ip_address("2001:db8::1"))
    assert not client.allows_address(ipaddress.ip_address("203.0.114.1"))


def test_duplicate_key_refused(svc) -> None:  # type: ignore[no-untyped-def]
    key = new_ec_key()
    enrol(svc, key=key)
    with pytest.raises(RegistryError, match="already registered"):
        enrol(svc, key=key, office="US")


def test_key_rotation(svc) -> None:  # type: ignore[no-untyped-def]
    office = enrol(svc)
    second = read_certificate(self_signed(new_ec_key()))
    svc.registry.add_key(office.client_id, second)
    svc.registry.remove_key(office.client_id, office.kid)
    assert [k.kid for k in svc.registry.keys(office.client_id)] == [second.kid]
    with pytest.raises(RegistryError, match="last key"):
        svc.registry.remove_key(office.client_id, second.kid)
    with pytest.raises(RegistryError, match="no key"):
        svc.registry.remove_key(office.client_id, "nope")


def test_update_and_disable(svc) -> None:  # type: ignore[no-untyped-def]
    office = enrol(svc)
    updated = svc.registry.update(office.client_id, networks=["10.0.0.0/8"], scopes=["hws/requests"], examining=True)
    assert updated.networks == ("10.0.0.0/8",) and updated.scopes == ("hws/requests",) and updated.examining
    assert not svc.registry.set_active(office.client_id, False).active
    with pytest.raises(RegistryError, match="no client"):
        svc.registry.set_active("nobody", True)
