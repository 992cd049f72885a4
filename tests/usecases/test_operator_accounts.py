"""Operator accounts: adding, signing in with password and TOTP, lock-out, sessions with
idle and absolute timeouts, signing out, single sign-on accounts — on a clock the test
moves (no test depends on today's date)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from hws.auth import one_time_codes, passwords
from hws.domain.clock import FixedClock
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.store import audit
from hws.usecases.operator_accounts import (
    AWAITING_CODE,
    SETTING_UP_TOTP,
    SIGNED_IN,
    AccountError,
    OperatorAccounts,
    SignInRefused,
)
from tests.conftest import make_service

START = datetime(2027, 12, 31, 23, 59, 40, tzinfo=UTC).timestamp()  # the year ends during the tests
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost here (its real parameters: tests/auth/test_passwords.py)."""
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def service(tmp_path: Path, database_url: str, clock: FixedClock) -> Iterator[Service]:
    svc = make_service(
        tmp_path, database_url, clock=clock, worker_threads=0, console_idle_timeout=600, console_absolute_timeout=3600,
        console_max_failures=3, console_lockout=900,
    )  # fmt: skip
    yield svc
    svc.close()


@pytest.fixture
def accounts(service: Service) -> OperatorAccounts:
    return OperatorAccounts(service)


def _signed_in(accounts: OperatorAccounts, clock: FixedClock, name: str = "ana") -> tuple[str, str]:
    """Sign ``name`` in all the way (setting TOTP up); its session token and TOTP secret."""
    created = accounts.sign_in(name, PASSWORD, source="192.0.2.7")
    assert created.session.stage == SETTING_UP_TOTP and created.session.pending_secret
    secret = created.session.pending_secret
    done = accounts.verify_code(created.token, one_time_codes.code_at(secret, clock.now()), source="192.0.2.7")
    assert done.stage == SIGNED_IN and done.complete
    return created.token, secret


def _actions(service: Service, action: str) -> list[dict[str, object]]:
    return audit.query(service.engine, action=action, limit=100)


def test_add_checks_name_role_and_password(accounts: OperatorAccounts) -> None:
    added = accounts.add("Ana.Silva@ib", Role.EXAMINER, PASSWORD, actor="cli:root")
    assert added.name == "ana.silva@ib" and added.role is Role.EXAMINER and added.password_hash
    assert added.password_hash.startswith("$argon2id$") and PASSWORD not in added.password_hash
    with pytest.raises(AccountError, match="already"):
        accounts.add("ana.silva@ib", Role.VIEWER, PASSWORD, actor="cli:root")
    with pytest.raises(AccountError, match="12 characters"):
        accounts.add("bob", Role.VIEWER, "short", actor="cli:root")
    with pytest.raises(AccountError, match="name"):
        accounts.add("bob", Role.VIEWER, "bob's long password", actor="cli:root")
    with pytest.raises(AccountError, match="operator name"):
        accounts.add("<script>", Role.VIEWER, PASSWORD, actor="cli:root")
    assert [o.name for o in accounts.list()] == ["ana.silva@ib"]


def test_first_sign_in_sets_totp_up_then_asks_for_the_code(
    service: Service, accounts: OperatorAccounts, clock: FixedClock
) -> None:
    accounts.add("ana", Role.EXAMINER, PASSWORD, actor="cli:root")
    token, secret = _signed_in(accounts, clock)
    session = accounts.session(token)
    assert session is not None and session.role is Role.EXAMINER and session.actor == "operator:ana"
    assert accounts.get("ana").totp_secret == secret  # type: ignore[union-attr]
    clock.advance(60)
    again = accounts.sign_in("ana", PASSWORD, source=None)
    assert again.session.stage == AWAITING_CODE and accounts.session(again.token) is not None
    assert not accounts.session(again.token).complete  # type: ignore[union-attr]
    with pytest.raises(SignInRefused):
        accounts.verify_code(
            again.token, "000000" if one_time_codes.code_at(secret, clock.now()) != "000000" else "111111", source=None
        )
    done = accounts.verify_code(again.token, one_time_codes.code_at(secret, clock.now()), source=None)
    assert done.complete
    assert [e["outcome"] for e in _actions(service, "console.sign-in")] == ["ok", "refused", "ok"]
    assert _actions(service, "operator.totp-set-up")[0]["target"] == "ana"


def test_a_code_is_accepted_once(accounts: OperatorAccounts, clock: FixedClock) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root")
    _token, secret = _signed_in(accounts, clock)
    code = one_time_codes.code_at(secret, clock.now())
    again = accounts.sign_in("ana", PASSWORD, source=None)
    with pytest.raises(SignInRefused, match="used already"):
        accounts.verify_code(again.token, code, source=None)  # the step used to set TOTP up


def test_wrong_name_and_wrong_password_read_the_same(accounts: OperatorAccounts) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root")
    with pytest.raises(SignInRefused) as unknown:
        accounts.sign_in("nobody", PASSWORD, source=None)
    with pytest.raises(SignInRefused) as wrong:
        accounts.sign_in("ana", PASSWORD + "!", source=None)
    assert unknown.value.message == wrong.value.message
    assert (unknown.value.reason, wrong.value.reason) == ("no such operator", "wrong password")


def test_lock_out_after_repeated_failures_then_unlocked_by_time(
    service: Service, accounts: OperatorAccounts, clock: FixedClock
) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root", totp_required=False)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.sign_in("ana", "not the password at all", source="198.51.100.1")
    with pytest.raises(SignInRefused, match="locked") as locked:
        accounts.sign_in("ana", PASSWORD, source="198.51.100.1")  # right password, still locked
    assert locked.value.reason == "locked"
    assert _actions(service, "operator.locked")[0]["source"] == "198.51.100.1"
    clock.advance(901)
    assert accounts.sign_in("ana", PASSWORD, source=None).session.complete
    assert accounts.get("ana").failures == 0  # type: ignore[union-attr]


def test_wrong_codes_count_towards_the_lock(accounts: OperatorAccounts, clock: FixedClock) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root")
    _signed_in(accounts, clock)
    clock.advance(120)
    pending = accounts.sign_in("ana", PASSWORD, source=None)
    for _ in range(3):
        with pytest.raises(SignInRefused):
            accounts.verify_code(pending.token, "12345x", source=None)
    assert accounts.get("ana").locked_at(clock.now())  # type: ignore[union-attr]
    assert accounts.session(pending.token) is None  # the half-open session ended with the lock


def test_idle_and_absolute_timeouts(accounts: OperatorAccounts, clock: FixedClock) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root", totp_required=False)
    token = accounts.sign_in("ana", PASSWORD, source=None).token
    for _ in range(6):  # used every 9 minutes: the idle timeout (10) never passes
        clock.advance(540)
        assert accounts.session(token) is not None
    clock.advance(540)  # 63 minutes in: past the absolute hour
    assert accounts.session(token) is None
    idle = accounts.sign_in("ana", PASSWORD, source=None).token
    clock.advance(601)
    assert accounts.session(idle) is None


def test_sign_out_here_and_everywhere(service: Service, accounts: OperatorAccounts) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root", totp_required=False)
    first, second, third = (accounts.sign_in("ana", PASSWORD, source=None).token for _ in range(3))
    accounts.sign_out(first, source="192.0.2.1")
    assert accounts.session(first) is None and accounts.session(second) is not None
    assert accounts.sign_out_everywhere("ana", actor="operator:ana", source="192.0.2.1") == 2
    assert accounts.session(second) is None and accounts.session(third) is None
    assert _actions(service, "console.sign-out-everywhere")[0]["detail"] == {"sessions": 2}


def test_disable_ends_sessions_and_refuses_sign_in(accounts: OperatorAccounts) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root", totp_required=False)
    token = accounts.sign_in("ana", PASSWORD, source=None).token
    accounts.set_disabled("ana", True, actor="cli:root")
    assert accounts.session(token) is None
    with pytest.raises(SignInRefused):
        accounts.sign_in("ana", PASSWORD, source=None)
    accounts.set_disabled("ana", False, actor="cli:root")
    assert accounts.sign_in("ana", PASSWORD, source=None).session.complete


def test_reset_gives_a_new_password_and_a_new_second_factor(accounts: OperatorAccounts, clock: FixedClock) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root")
    token, _secret = _signed_in(accounts, clock)
    accounts.reset("ana", "an entirely new passphrase", actor="cli:root")
    assert accounts.session(token) is None
    with pytest.raises(SignInRefused):
        accounts.sign_in("ana", PASSWORD, source=None)
    assert accounts.sign_in("ana", "an entirely new passphrase", source=None).session.stage == SETTING_UP_TOTP


def test_role_changes_are_audited(service: Service, accounts: OperatorAccounts) -> None:
    accounts.add("ana", Role.VIEWER, PASSWORD, actor="cli:root")
    assert accounts.set_role("ana", Role.ADMINISTRATOR, actor="operator:root", source="192.0.2.9").role is Role.ADMINISTRATOR
    event = _actions(service, "operator.role-changed")[0]
    assert event["actor"] == "operator:root" and event["source"] == "192.0.2.9"
    assert event["detail"] == {"before": "viewer", "after": "administrator"}


def test_single_sign_on_accounts_follow_the_providers_role(accounts: OperatorAccounts) -> None:
    first = accounts.sso_sign_in(subject="https://idp.test|abc", name="ana", role=Role.EXAMINER, source=None)
    assert first.session.complete and first.session.via == "sso" and first.session.role is Role.EXAMINER
    again = accounts.sso_sign_in(subject="https://idp.test|abc", name="ana", role=Role.VIEWER, source=None)
    assert again.session.role is Role.VIEWER
    with pytest.raises(SignInRefused):  # no password sign-in for an SSO account
        accounts.sign_in("ana", PASSWORD, source=None)
    with pytest.raises(SignInRefused, match="already used"):  # another subject cannot take the name
        accounts.sso_sign_in(subject="https://idp.test|other", name="ana", role=Role.VIEWER, source=None)
    with pytest.raises(AccountError, match="single sign-on"):
        accounts.reset("ana", "an entirely new passphrase", actor="cli:root")
    accounts.set_disabled("ana", True, actor="cli:root")
    with pytest.raises(SignInRefused, match="disabled"):
        accounts.sso_sign_in(subject="https://idp.test|abc", name="ana", role=Role.VIEWER, source=None)
