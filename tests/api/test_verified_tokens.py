"""The per-process cache of verified access tokens never accepts what rule 15 refuses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hws.api.security import VerifiedTokens
from hws.auth.errors import InvalidToken
from hws.domain.clock import FixedClock
from tests.conftest import enrol, make_service
from tests.support.servers import until


@pytest.fixture
def svc(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, clock=FixedClock(time.time()))
    yield service
    service.close()


def counted(svc, monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    verify = svc.authority.verify

    def counting(value, now):  # type: ignore[no-untyped-def]
        calls.append(value)
        return verify(value, now)

    monkeypatch.setattr(svc.authority, "verify", counting)
    return calls


def issue(svc) -> str:  # type: ignore[no-untyped-def]
    office = enrol(svc)
    return svc.authority.issue(office.client_id, ["hws/requests"], svc.clock.timestamp()).value  # type: ignore[no-any-return]


def test_a_token_is_verified_once(svc, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls = counted(svc, monkeypatch)
    cache = VerifiedTokens()
    token = issue(svc)
    first = cache.check(svc, token)
    assert cache.check(svc, token) == first and first.scopes == ("hws/requests",)
    assert len(calls) == 1


def test_a_changed_token_is_verified_and_refused(svc) -> None:  # type: ignore[no-untyped-def]
    cache = VerifiedTokens()
    token = issue(svc)
    cache.check(svc, token)
    head, payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        cache.check(svc, f"{head}.{payload}.{signature[:-4]}AAAA")


def test_an_expired_token_is_refused_although_cached(svc) -> None:  # type: ignore[no-untyped-def]
    cache = VerifiedTokens()
    token = issue(svc)
    cache.check(svc, token)
    svc.clock.advance(svc.settings.access_token_lifetime + svc.settings.clock_skew_leeway - 1)
    cache.check(svc, token)  # still valid within the leeway
    svc.clock.advance(2)
    with pytest.raises(InvalidToken):
        cache.check(svc, token)


def test_a_token_whose_key_was_removed_is_refused_although_cached(svc) -> None:  # type: ignore[no-untyped-def]
    cache = VerifiedTokens()
    token = issue(svc)
    cache.check(svc, token)
    old = svc.keyring.active
    svc.keyring.rotate()
    cache.check(svc, token)  # a rotated key stays published: its tokens stay valid
    old.path.unlink()  # the operator withdraws the key (e.g. compromised)

    def refused() -> bool:
        try:
            cache.check(svc, token)
        except InvalidToken:
            return True
        return False

    until(refused, timeout=5, what="the token of the removed key to be refused")


def test_bounded(svc, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cache = VerifiedTokens(capacity=8)
    office = enrol(svc)
    tokens = [svc.authority.issue(office.client_id, ["hws/requests"], svc.clock.timestamp()).value for _ in range(30)]
    for token in tokens:
        cache.check(svc, token)
    assert len(cache._entries) <= 8
    calls = counted(svc, monkeypatch)
    cache.check(svc, tokens[-1])
    assert calls == []  # the newest stay
