"""The console's people: operator accounts (added, listed, disabled, reset by an
administrator or ``hws admin operators``), signing in (password, then a TOTP code; a
first sign-in may have to set TOTP up), lock-out after repeated failures, sessions with
idle and absolute timeouts, signing out here or everywhere, and single sign-on accounts.

Every change and every sign-in attempt is written to the audit log in the transaction
that makes it. Sessions are kept in the database, so any API process can serve any
operator.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from hws.auth import one_time_codes, passwords
from hws.domain.operator_roles import Role
from hws.store import audit
from hws.store import operator_sessions as session_store
from hws.store import operators as operator_store
from hws.store.operators import Operator
from hws.usecases.ports import Recording

NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")

#: where a session stands: the password was right and a code is owed; the account must
#: set TOTP up first; fully signed in
AWAITING_CODE = "password"
SETTING_UP_TOTP = "totp-setup"
SIGNED_IN = "signed-in"

#: how often a session's ``last_seen_at`` is written (a page view within this of the
#: last write does not write again)
TOUCH_EVERY = timedelta(seconds=15)


class AccountError(ValueError):
    """An account cannot be made or changed as asked; the message says why."""


class SignInRefused(Exception):
    """A sign-in step failed. ``message`` is what the person sees (the same for a wrong
    name and a wrong password); ``reason`` is what the audit log keeps."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    """An operator with an open session, as every console page sees them."""

    name: str
    role: Role
    stage: str
    csrf_token: str
    via: str
    source: str | None
    created_at: datetime
    expires_at: datetime
    pending_secret: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log and status histories name this operator."""
        return f"operator:{self.name}"

    @property
    def complete(self) -> bool:
        return self.stage == SIGNED_IN


@dataclass(frozen=True)
class NewSession:
    token: str
    session: SignedIn


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME.match(name):
        raise AccountError(
            "an operator name is 1 to 64 characters: lower-case letters, digits and . _ @ -, starting with a letter or digit"
        )
    return name


class OperatorAccounts:
    def __init__(self, service: Recording) -> None:
        self.service = service
        self.settings = service.settings

    # Accounts -----------------------------------------------------------------------

    def _audit(self, conn: Connection, actor: str, action: str, target: str, *, outcome: str = "ok",
               source: str | None = None, **detail: object) -> None:  # fmt: skip
        audit.record(
            conn,
            audit.AuditEvent(
                at=self.service.clock.now(), actor=actor, action=action, target=target, outcome=outcome, source=source,
                detail=dict(detail),
            ),
        )  # fmt: skip

    def add(self, name: str, role: Role, password: str, *, actor: str, totp_required: bool | None = None,
            source: str | None = None) -> Operator:  # fmt: skip
        name = check_name(name)
        try:
            passwords.check_strength(password, name=name)
        except passwords.WeakPassword as exc:
            raise AccountError(str(exc)) from None
        now = self.service.clock.now()
        required = self.settings.console_require_totp if totp_required is None else totp_required
        with self.service.engine.begin() as conn:
            if operator_store.get(conn, name) is not None:
                raise AccountError(f"there is already an operator {name!r}")
            operator_store.insert_operator(
                conn, name=name, role=role.value, password_hash=passwords.hash_password(password),
                totp_required=required, created_at=now, updated_at=now,
            )  # fmt: skip
            self._audit(conn, actor, "operator.added", name, source=source, role=role.value, totp_required=required)
        found = operator_store.get(self.service.engine, name)
        assert found is not None
        return found

    def list(self) -> list[Operator]:
        return operator_store.listing(self.service.engine)

    def get(self, name: str) -> Operator | None:
        return operator_store.get(self.service.engine, name.strip().lower())

    def _reread(self, name: str) -> Operator:
        """The account ``name`` as it is after a committed change."""
        found = operator_store.get(self.service.engine, name)
        assert found is not None
        return found

    def _require(self, conn: Connection, name: str) -> Operator:
        found = operator_store.get(conn, name.strip().lower())
        if found is None:
            raise AccountError(f"no operator {name!r}")
        return found

    def set_disabled(self, name: str, disabled: bool, *, actor: str, source: str | None = None) -> Operator:
        now = self.service.clock.now()
        with self.service.engine.begin() as conn:
            found = self._require(conn, name)
            operator_store.change(conn, found.name, disabled=disabled, updated_at=now)
            if disabled:
                session_store.revoke_all(conn, found.name, now)
            self._audit(conn, actor, "operator.disabled" if disabled else "operator.enabled", found.name, source=source)
        return self._reread(found.name)

    def set_role(self, name: str, role: Role, *, actor: str, source: str | None = None) -> Operator:
        now = self.service.clock.now()
        with self.service.engine.begin() as conn:
            found = self._require(conn, name)
            operator_store.change(conn, found.name, role=role.value, updated_at=now)
            self._audit(
                conn, actor, "operator.role-changed", found.name, source=source, before=found.role.value, after=role.value
            )
        return self._reread(found.name)

    def reset(self, name: str, password: str, *, actor: str, source: str | None = None) -> Operator:
        """A new password; the second factor is set up again at the next sign-in, the
        lock lifted, every session ended."""
        now = self.service.clock.now()
        with self.service.engine.begin() as conn:
            found = self._require(conn, name)
            if found.sso_subject:
                raise AccountError(f"{found.name} signs in with single sign-on; it has no password here")
            try:
                passwords.check_strength(password, name=found.name)
            except passwords.WeakPassword as exc:
                raise AccountError(str(exc)) from None
            operator_store.change(
                conn, found.name, password_hash=passwords.hash_password(password), totp_secret=None, totp_last_step=None,
                failures=0, locked_until=None, updated_at=now,
            )  # fmt: skip
            session_store.revoke_all(conn, found.name, now)
            self._audit(conn, actor, "operator.reset", found.name, source=source)
        return self._reread(found.name)

    # Signing in ---------------------------------------------------------------------

    def _failed(self, conn: Connection, found: Operator | None, name: str, reason: str, source: str | None) -> SignInRefused:
        now = self.service.clock.now()
        if found is not None:
            failures = found.failures + 1
            locked = failures >= self.settings.console_max_failures
            operator_store.change(
                conn, found.name, failures=0 if locked else failures,
                locked_until=now + timedelta(seconds=self.settings.console_lockout) if locked else found.locked_until,
            )  # fmt: skip
            if locked:
                self._audit(conn, f"operator:{found.name}", "operator.locked", found.name, source=source,
                            seconds=self.settings.console_lockout)  # fmt: skip
        self._audit(conn, f"operator:{name[:60]}", "console.sign-in", name[:100], outcome="refused", source=source, reason=reason)
        return SignInRefused("the name or the password is not right", reason)

    def sign_in(self, name: str, password: str, *, source: str | None) -> NewSession:
        """First step: name and password. The session that comes back may still owe a
        code (``stage``); refusals say the same whether the name or the password was wrong."""
        now = self.service.clock.now()
        name = name.strip().lower()[:64]
        refusal: SignInRefused | None = None
        with self.service.engine.begin() as conn:
            found = operator_store.get(conn, name)
            matches = passwords.verify(found.password_hash if found else None, password)
            if found is None:
                refusal = self._failed(conn, None, name, "no such operator", source)
            elif found.disabled:
                refusal = self._failed(conn, None, name, "account disabled", source)
            elif found.locked_at(now):
                self._audit(conn, f"operator:{name}", "console.sign-in", name, outcome="refused", source=source, reason="locked")
                refusal = SignInRefused("this account is locked after repeated failed sign-ins; try again later", "locked")
            elif found.sso_subject or not matches:
                refusal = self._failed(conn, found, name, "wrong password", source)
            else:
                if found.password_hash and passwords.needs_rehash(found.password_hash):
                    operator_store.change(conn, name, password_hash=passwords.hash_password(password))
                if found.totp_secret:
                    stage = AWAITING_CODE
                elif found.totp_required:
                    stage = SETTING_UP_TOTP
                else:
                    stage = SIGNED_IN
                created = self._open(conn, found, stage, via="password", source=source)
                if stage == SIGNED_IN:
                    self._signed_in(conn, found, source, via="password")
                return created
        assert refusal is not None
        raise refusal

    def _open(self, conn: Connection, found: Operator, stage: str, *, via: str, source: str | None) -> NewSession:
        now = self.service.clock.now()
        token = secrets.token_urlsafe(32)
        pending = one_time_codes.new_secret() if stage == SETTING_UP_TOTP else None
        row = session_store.OperatorSession(
            token_hash=session_store.token_hash(token), operator=found.name, stage=stage,
            csrf_token=secrets.token_urlsafe(32), via=via, source=source, created_at=now, last_seen_at=now,
            expires_at=now + timedelta(seconds=self.settings.console_absolute_timeout), revoked_at=None,
            pending_secret=pending,
        )  # fmt: skip
        session_store.insert(conn, row)
        return NewSession(token, self._view(found, row))

    def _signed_in(self, conn: Connection, found: Operator, source: str | None, *, via: str) -> None:
        now = self.service.clock.now()
        operator_store.change(conn, found.name, failures=0, locked_until=None, last_sign_in_at=now, last_sign_in_source=source)
        self._audit(conn, f"operator:{found.name}", "console.sign-in", found.name, source=source, via=via)

    @staticmethod
    def _view(found: Operator, row: session_store.OperatorSession) -> SignedIn:
        return SignedIn(
            name=found.name, role=found.role, stage=row.stage, csrf_token=row.csrf_token, via=row.via, source=row.source,
            created_at=row.created_at, expires_at=row.expires_at, pending_secret=row.pending_secret,
        )  # fmt: skip

    def verify_code(self, token: str, code: str, *, source: str | None) -> SignedIn:
        """Second step: the TOTP code of a session that owes one (or that sets TOTP up)."""
        now = self.service.clock.now()
        refusal: SignInRefused | None = None
        with self.service.engine.begin() as conn:
            row = session_store.get(conn, token)
            found = operator_store.get(conn, row.operator) if row is not None else None
            if row is None or found is None or not self._open_at(row, now) or row.stage == SIGNED_IN:
                raise SignInRefused("this sign-in has expired; start again", "no session awaiting a code")
            if found.disabled or found.locked_at(now):
                session_store.change(conn, token, revoked_at=now)
                raise SignInRefused("this account is locked after repeated failed sign-ins; try again later", "locked")
            secret = row.pending_secret if row.stage == SETTING_UP_TOTP else found.totp_secret
            assert secret is not None
            step = one_time_codes.matching_step(secret, code, now, after_step=found.totp_last_step)
            if step is None:
                refusal = self._failed(conn, found, found.name, "wrong code", source)
                refusal = SignInRefused("the code is not right (or was used already); enter the current one", refusal.reason)
                if found.failures + 1 >= self.settings.console_max_failures:
                    session_store.change(conn, token, revoked_at=now)
            else:
                changes: dict[str, object] = {"totp_last_step": step}
                if row.stage == SETTING_UP_TOTP:
                    changes["totp_secret"] = secret
                    self._audit(conn, f"operator:{found.name}", "operator.totp-set-up", found.name, source=source)
                operator_store.change(conn, found.name, **changes)
                session_store.change(conn, token, stage=SIGNED_IN, pending_secret=None, last_seen_at=now)
                self._signed_in(conn, found, source, via=row.via)
                fresh = session_store.get(conn, token)
                assert fresh is not None
                return self._view(found, fresh)
        assert refusal is not None
        raise refusal

    def _open_at(self, row: session_store.OperatorSession, now: datetime) -> bool:
        idle = timedelta(seconds=self.settings.console_idle_timeout)
        return row.revoked_at is None and now < row.expires_at and now < row.last_seen_at + idle

    def session(self, token: str) -> SignedIn | None:
        """The open session ``token`` names (its last use noted), or ``None`` if it has
        expired (idle or absolute timeout), was ended, or its account was disabled."""
        now = self.service.clock.now()
        with self.service.engine.connect() as conn:
            row = session_store.get(conn, token)
            if row is None or not self._open_at(row, now):
                return None
            found = operator_store.get(conn, row.operator)
            if found is None or found.disabled:
                return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            with self.service.engine.begin() as conn:
                session_store.change(conn, token, last_seen_at=now)
        return self._view(found, row)

    def sign_out(self, token: str, *, source: str | None) -> None:
        now = self.service.clock.now()
        with self.service.engine.begin() as conn:
            row = session_store.get(conn, token)
            if row is None or row.revoked_at is not None:
                return
            session_store.change(conn, token, revoked_at=now)
            self._audit(conn, f"operator:{row.operator}", "console.sign-out", row.operator, source=source)

    def sign_out_everywhere(self, name: str, *, actor: str, source: str | None) -> int:
        now = self.service.clock.now()
        with self.service.engine.begin() as conn:
            ended = session_store.revoke_all(conn, name, now)
            self._audit(conn, actor, "console.sign-out-everywhere", name, source=source, sessions=ended)
        return ended

    # Single sign-on -----------------------------------------------------------------

    def sso_sign_in(self, *, subject: str, name: str, role: Role, source: str | None) -> NewSession:
        """An operator the identity provider vouched for: the account of ``subject``
        (made at its first sign-in; its role follows the provider's claim each time)."""
        now = self.service.clock.now()
        refusal: SignInRefused | None = None
        with self.service.engine.begin() as conn:
            found = operator_store.by_sso_subject(conn, subject)
            if found is None:
                name = check_name(name)
                if operator_store.get(conn, name) is not None:
                    self._audit(conn, "sso", "console.sign-in", name, outcome="refused", source=source,
                                reason="sso name taken", via="sso", subject=subject[:200])  # fmt: skip
                    refusal = SignInRefused(
                        f"the operator name {name!r} is already used by another account; ask an administrator",
                        "sso name taken",
                    )
                else:
                    operator_store.insert_operator(
                        conn, name=name, role=role.value, password_hash=None, totp_required=False, sso_subject=subject,
                        created_at=now, updated_at=now,
                    )  # fmt: skip
                    self._audit(conn, "sso", "operator.added", name, source=source, role=role.value, via="sso")
            elif found.disabled:
                self._audit(conn, f"operator:{found.name}", "console.sign-in", found.name, outcome="refused",
                            source=source, reason="account disabled", via="sso")  # fmt: skip
                refusal = SignInRefused("this account is disabled; ask an administrator", "account disabled")
            elif found.role != role:
                operator_store.change(conn, found.name, role=role.value, updated_at=now)
                self._audit(conn, "sso", "operator.role-changed", found.name, source=source, before=found.role.value,
                            after=role.value)  # fmt: skip
            if refusal is None:  # a refusal's audit row is committed with this transaction, then raised
                account = operator_store.by_sso_subject(conn, subject)
                assert account is not None
                created = self._open(conn, account, SIGNED_IN, via="sso", source=source)
                self._signed_in(conn, account, source, via="sso")
                return created
        assert refusal is not None
        raise refusal
