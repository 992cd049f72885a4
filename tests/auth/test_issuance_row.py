"""The token endpoint's issuance audit row, built directly, is the row ``AuditEvent`` gives;
its answer, built directly, is ``json.dumps`` of its body."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from hws.auth.access_tokens import IssuedToken
from hws.auth.token_service import TokenGrant, issuance_row
from hws.store.audit import AuditEvent


@given(
    client_id=st.text(max_size=120),
    office=st.none() | st.text(max_size=2),
    kid=st.text(max_size=50),
    scopes=st.lists(st.text(max_size=20), max_size=3),
    address=st.none() | st.ip_addresses(),
    jkt=st.none() | st.text(max_size=50),
)
def test_the_issuance_row_is_the_audit_events_row(client_id, office, kid, scopes, address, jkt) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 12, 4, 12, 0, 0, 123456, tzinfo=UTC)
    proof = SimpleNamespace(jkt=jkt) if jkt is not None else None
    detail = {"scope": " ".join(scopes), "kid": kid}
    if proof is not None:
        detail["jkt"] = jkt
    event = AuditEvent(at=at, actor=client_id, action="auth.token", outcome="issued", office=office,
                       source=str(address) if address else None, detail=detail)  # fmt: skip
    client = SimpleNamespace(client_id=client_id, office=office)
    assert issuance_row(at, client, kid, scopes, address, proof) == event.row()  # type: ignore[arg-type]


def test_an_ipv6_source_and_a_dpop_thumbprint() -> None:
    at = datetime(2026, 12, 4, tzinfo=UTC)
    row = issuance_row(at, SimpleNamespace(client_id="kr-1", office="KR"), "k", ["a", "b"],  # type: ignore[arg-type]
                       ipaddress.ip_address("2001:db8::1"), SimpleNamespace(jkt="t"))  # type: ignore[arg-type]  # fmt: skip
    assert row["source"] == "2001:db8::1" and row["detail"] == '{"jkt": "t", "kid": "k", "scope": "a b"}'


@given(
    value=st.text(max_size=80),
    expires_in=st.integers(0, 10**9),
    scope=st.text(max_size=40),
    jkt=st.none() | st.text(max_size=50),
)
def test_the_token_answer_is_json_dumps_of_its_body(value, expires_in, scope, jkt) -> None:  # type: ignore[no-untyped-def]
    """The token endpoint's 200 body, built directly, is ``json.dumps(grant.body())``."""
    grant = TokenGrant(SimpleNamespace(client_id="c"), IssuedToken(value, expires_in, scope, jkt))  # type: ignore[arg-type]
    assert grant.json() == json.dumps(grant.body()).encode()
