"""checklists/auth.md, rules 16 and 17: single use keys on what was signed; NumericDate
claims are finite numbers within a sane range, and no request's bad values fail another.

Rule 16 — the ES256 malleability: ``(r, s)`` and ``(r, n − s)`` both verify. A high-S
signature is refused, and even where an operator accepts high-S, the twin of a used
assertion is a replay, because the single-use key is the hash of header.payload (or
iss + jti), never of the signature bytes.

Rule 17 — ``NaN``, ``Infinity``, ``1e300``, strings, booleans, ``null``, objects in
``exp``, ``iat`` and ``nbf``: each refused with RFC 6749 ``invalid_client`` (never a 5xx,
never a token); and the single-use store's group commit, handed a value it cannot store,
fails that call alone.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hws.auth import assertion as rules
from hws.auth import jws_checks as jws
from hws.auth.assertion import LATEST_NUMERIC_DATE
from hws.auth.errors import OAuthError
from hws.client.assertion import sign_client_assertion
from hws.keys.jose import sign
from hws.keys.public_keys import b64url_decode
from hws.store import assertion_uses
from tests.auth.conftest import ISSUER, TOKEN_ENDPOINT, post_token
from tests.conftest import enrol, make_service
from tests.support.jose import P256_ORDER, claims_for, craft, form, malleate, new_ec_key, segment

NOW_TOLERANCE = 5


def assert_refused(response, fragment: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_client" and "access_token" not in body, body
    if fragment:
        assert fragment in body.get("error_description", ""), body
    return body


def high_s_assertion(office, claims: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """An honest signature turned high-S (a client signing without normalising)."""
    low = craft({"alg": "ES256", "typ": "JWT"}, claims, office.key)
    assert not jws.is_high_s(b64url_decode(low.split(".")[2]))
    return malleate(low)


# Rule 16 ---------------------------------------------------------------------------------


def test_rule16_the_malleated_twin_of_a_used_assertion_gets_no_token(http, office) -> None:  # type: ignore[no-untyped-def]
    for claims in (claims_for(office.client_id, ISSUER), claims_for(office.client_id, ISSUER, jti=None)):
        first = craft({"alg": "ES256"}, claims, office.key)
        assert post_token(http, form(first)).status_code == 200
        twin = malleate(first)
        assert twin.split(".")[:2] == first.split(".")[:2] and twin != first
        assert_refused(post_token(http, form(twin)), "low-S")


def test_rule16_a_high_s_signature_is_refused_even_unused(http, office) -> None:  # type: ignore[no-untyped-def]
    body = assert_refused(post_token(http, form(high_s_assertion(office, claims_for(office.client_id, ISSUER)))))
    assert body["error_description"].startswith("the ES256 signature's s is above n/2")


@pytest.mark.parametrize("with_jti", [True, False])
def test_rule16_single_use_keys_on_what_was_signed_when_high_s_is_accepted(tmp_path, sqlite_url, make_client, with_jti) -> None:  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, assertion_accept_high_s=True)
    try:
        office = enrol(service, office="KR")
        http = make_client(service)
        claims = claims_for(office.client_id, ISSUER, **({} if with_jti else {"jti": None}))
        high = high_s_assertion(office, claims)
        assert post_token(http, form(high)).status_code == 200  # accepted: the operator allows high-S
        assert_refused(post_token(http, form(malleate(high))), "already been used")  # its low-S twin
        assert_refused(post_token(http, form(high)), "already been used")
    finally:
        service.close()


def test_rule16_our_signer_always_makes_low_s_signatures() -> None:
    key = new_ec_key()
    for n in range(300):  # P(all low-S by chance) = 2**-300
        token = sign({"alg": "ES256"}, {"n": n}, key)
        signature = b64url_decode(token.split(".")[2])
        assert len(signature) == 64 and not jws.is_high_s(signature)
        assert jws.verify(jws.parse_compact(token, max_bytes=4096), "ES256", key.public_key())


def test_rule16_the_office_kit_signs_low_s_assertions() -> None:
    key = new_ec_key()
    for n in range(200):  # P(all low-S by chance) = 2**-200
        assertion = sign_client_assertion(key, client_id="c", audience=ISSUER, now=1_800_000_000 + n)
        assert not jws.is_high_s(b64url_decode(assertion.split(".")[2]))


@pytest.mark.parametrize("jti", ["abc", None])
def test_rule16_replay_key_is_what_was_signed_not_the_signature(jti: str | None) -> None:
    """Without the high-S check: a signature and its twin ``r‖(n − s)`` both verify and
    have one single-use key; another header.payload has another."""
    key = new_ec_key()
    claims = claims_for("c", ISSUER, jti=jti)
    signed = craft({"alg": "ES256"}, claims, key)
    first, twin = (jws.parse_compact(a, max_bytes=4096) for a in (signed, malleate(signed)))
    other = jws.parse_compact(craft({"alg": "ES256"}, {**claims, "exp": claims["exp"] + 1}, key), max_bytes=4096)
    assert first.signing_input == twin.signing_input and first.signature != twin.signature
    assert jws.verify(twin, "ES256", key.public_key(), accept_high_s=True)
    assert not jws.verify(twin, "ES256", key.public_key())  # refused when high-S is not accepted
    first_key, twin_key, other_key = (rules.replay_key("c", t.claims(), t.signing_input) for t in (first, twin, other))
    assert first_key == twin_key
    assert (other_key == first_key) is (jti is not None)  # same jti: same use, whatever else changed


@pytest.mark.parametrize("jti", [None, "", 1, ["a"], "x" * 257])
def test_rule16_a_jti_member_is_a_short_string(http, office, jti: Any) -> None:  # type: ignore[no-untyped-def]
    """``"jti": null`` is not an absent jti (it would fall back to the header.payload key)."""
    payload = json.dumps({**claims_for(office.client_id, ISSUER), "jti": jti}, separators=(",", ":")).encode()
    assert_refused(post_token(http, form(craft({"alg": "ES256"}, payload, office.key))))


def test_rule16_verify_refuses_out_of_range_scalars() -> None:
    key = new_ec_key()
    h, p, _ = sign({"alg": "ES256"}, {"a": 1}, key).split(".")
    for r, s in ((0, 1), (1, 0), (P256_ORDER, 1), (1, P256_ORDER), (P256_ORDER - 1, P256_ORDER - 1)):
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        token = jws.parse_compact(f"{h}.{p}.{segment(raw)}", max_bytes=4096)
        assert not jws.verify(token, "ES256", key.public_key(), accept_high_s=True)


# Rule 17 ---------------------------------------------------------------------------------

POISON: list[tuple[str, Any]] = [
    ("NaN", math.nan),
    ("Infinity", math.inf),
    ("-Infinity", -math.inf),
    ("1e300", 1e300),
    ("beyond year 9999", LATEST_NUMERIC_DATE + 1),
    ("negative", -1),
    ("string", "1800000000"),
    ("true", True),
    ("null", None),
    ("object", {"$date": 1}),
    ("array", [1]),
]


def poisoned(office, claim: str, value: Any) -> str:  # type: ignore[no-untyped-def]
    """A valid assertion but for ``claim``; ``null`` is written out (not dropped)."""
    claims = claims_for(office.client_id, ISSUER)
    now = int(time.time())
    if claim != "exp":
        claims["exp"] = now + 10 * 365 * 86400 if claim == "iat" else claims["exp"]  # NaN iat hid a 10-year exp
    payload = json.dumps({**claims, claim: value}, separators=(",", ":")).encode()  # NaN/Infinity as Python writes them
    return craft({"alg": "ES256"}, payload, office.key)


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(("label", "value"), POISON, ids=[label for label, _ in POISON])
def test_rule17_non_finite_or_absurd_numeric_dates_are_refused(http, office, claim: str, label: str, value: Any) -> None:  # type: ignore[no-untyped-def]
    del label
    assert_refused(post_token(http, form(poisoned(office, claim, value))))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_rule17_the_json_parser_refuses_non_json_constants(literal: str) -> None:
    payload = f'{{"iss":"c","exp":{literal}}}'.encode()
    token = jws.parse_compact(craft({"alg": "ES256"}, payload, new_ec_key()), max_bytes=4096)
    with pytest.raises(jws.MalformedJWS, match="not a JSON value"):
        token.claims()


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("literal", ["NaN", "-Infinity", "1e400", "-1e400", "1E999", "12345678901234567890123"])
def test_rule17_numeric_literals_beyond_float_are_refused(http, office, claim: str, literal: str) -> None:  # type: ignore[no-untyped-def]
    """JSON text the encoder never writes: ``1e400`` parses to infinity, a 23-digit
    integer to an exact int past every database integer."""
    claims = claims_for(office.client_id, ISSUER)
    body = json.dumps({k: v for k, v in claims.items() if k != claim}, separators=(",", ":"))
    payload = f'{body[:-1]},"{claim}":{literal}}}'.encode()
    assert_refused(post_token(http, form(craft({"alg": "ES256"}, payload, office.key))))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e300, 10**30, -1, "1", True, None, [1], {"a": 1}])
def test_rule17_check_times_refuses_what_the_parser_would_let_through(claim: str, value: Any) -> None:
    """The claim check alone (as if the parser took NaN): never a valid time."""
    policy = rules.AssertionPolicy(
        issuer=ISSUER,
        token_endpoint=TOKEN_ENDPOINT,
        audience=None,
        leeway=30,
        max_lifetime=300,
        max_bytes=8192,  # type: ignore[arg-type]
    )
    now = time.time()
    claims = {"iat": int(now), "exp": int(now) + 60, claim: value}
    with pytest.raises(OAuthError) as refused:
        rules.check_times(claims, now, policy)
    assert refused.value.error == "invalid_client" and refused.value.status == 401


def test_rule17_the_lifetime_cap_holds_without_iat(http, office) -> None:  # type: ignore[no-untyped-def]
    claims = claims_for(office.client_id, ISSUER, iat=None)
    claims["exp"] = int(time.time()) + 10 * 365 * 86400
    assert_refused(post_token(http, form(craft({"alg": "ES256"}, claims, office.key))), "lifetime")


def test_rule17_a_fractional_numeric_date_is_a_number(http, office) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    claims = claims_for(office.client_id, ISSUER, iat=now, exp=now + 60.5)
    assert post_token(http, form(craft({"alg": "ES256"}, claims, office.key))).status_code == 200


def test_rule17_one_bad_value_in_a_group_commit_fails_only_its_own_call(tmp_path, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    """Defence in depth behind the claim checks: the single-use group commit, handed one
    value the driver cannot store (an integer past SQLite's 64 bits) among good ones,
    commits the good ones and fails only the bad one."""
    service = make_service(tmp_path, sqlite_url)
    try:
        group = assertion_uses._group(service.engine)
        now = int(time.time())
        good = [assertion_uses._Use(key=f"good-{n}", expires_at=now + 60, now=now) for n in range(3)]
        bad = assertion_uses._Use(key="bad", expires_at=10**300, now=now)
        with group._lock:
            group._committing = True
            group._waiting = [good[1], bad, good[2]]
        group._lead(service.engine, good[0])
        assert [u.done for u in (*good, bad)] == [True] * 4
        assert [u.error for u in good] == [None] * 3 and [u.first for u in good] == [True] * 3
        assert bad.error is not None and not bad.first
        assert not assertion_uses.record_first_use(service.engine, "good-1", now + 60, now)  # really stored
        assert assertion_uses.record_first_use(service.engine, "bad", now + 60, now)  # really not
    finally:
        service.close()


# Property: arbitrary JSON in every claim ---------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
OFFSETS = st.sampled_from([-3600, -100, -10, 0, 10, 100, 250, 1000, 10**9])  # 10 s or more from every limit
KEEP, DROP = object(), object()
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "x-extra")


def _numeric_date(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= LATEST_NUMERIC_DATE


def _json(value: Any) -> bool:
    """Whether ``value`` is JSON (RFC 8259): no NaN or Infinity anywhere, in any claim —
    Python writes them, the service's parser refuses the whole payload — and integers
    within what a parser reads (Python's: 4300 digits)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return len(str(abs(value))) <= 4300
    if isinstance(value, list):
        return all(_json(v) for v in value)
    if isinstance(value, dict):
        return all(_json(v) for v in value.values())
    return True


def conforming(claims: dict[str, Any], client_id: str, now: float) -> bool:
    """The contract, written independently of the service's code (compat audience)."""
    if not _json(claims):
        return False
    accepted = (ISSUER, TOKEN_ENDPOINT)
    aud = claims.get("aud")
    if isinstance(aud, str):
        aud_ok = aud in accepted
    else:
        aud_ok = isinstance(aud, list) and bool(aud) and all(isinstance(a, str) and a in accepted for a in aud)
    if not (claims.get("iss") == client_id and claims.get("sub") == client_id and aud_ok):
        return False
    if any(name in claims and not _numeric_date(claims[name]) for name in ("exp", "iat", "nbf")):
        return False
    if "exp" not in claims:
        return False
    exp = claims["exp"]
    if exp + 30 < now or exp - claims.get("iat", now) > 300:
        return False
    if any(name in claims and claims[name] > now + 30 for name in ("iat", "nbf")):
        return False
    jti = claims.get("jti", "-")
    return isinstance(jti, str) and 0 < len(jti) <= 256


def draw_claims(data: Any, base: dict[str, Any], now: float) -> tuple[dict[str, Any], set[str]]:
    """``base`` with one to three claims replaced by arbitrary JSON (a NumericDate claim
    also by a time near now, or dropped): the others stay valid, so most examples get
    past ``iss``/``sub``/``aud`` to the time and single-use checks."""
    changed = data.draw(st.sets(st.sampled_from(CLAIMS), min_size=1, max_size=3), label="changed")
    claims = dict(base)
    for name in sorted(changed):
        times = OFFSETS.map(lambda o: int(now) + o) if name in ("exp", "iat", "nbf") else JSON
        choice = data.draw(st.just(DROP) | JSON | times, label=name)
        if choice is DROP:
            claims.pop(name, None)
        else:
            claims[name] = choice
    return claims, changed


@pytest.fixture
def unlimited(tmp_path, sqlite_url, make_client):  # type: ignore[no-untyped-def]
    """An in-process service without the token rate limit (the limiter would answer most of
    150 requests from one address), its client and an enrolled office."""
    service = make_service(tmp_path, sqlite_url, token_rate_per_minute=0)
    try:
        yield make_client(service), enrol(service, office="KR")
    finally:
        service.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_arbitrary_json_in_every_claim_never_5xx_never_a_token_unless_conforming(unlimited, data) -> None:  # type: ignore[no-untyped-def]
    """Never a 5xx; a token exactly when the claim set conforms (when the ``jti`` was left
    fresh — an arbitrary or absent one may repeat an earlier example's, a replay)."""
    http, office = unlimited
    now = time.time()
    base = claims_for(office.client_id, ISSUER, now=now, jti=f"p-{secrets.token_hex(8)}")
    claims, changed = draw_claims(data, base, now)
    payload = json.dumps(claims, separators=(",", ":")).encode()  # NaN/Infinity as Python writes them
    response = post_token(http, form(craft({"alg": "ES256"}, payload, office.key)))
    assert response.status_code < 500, response.text
    ok = conforming(claims, office.client_id, now)
    event(f"{response.status_code} {'conforming' if ok else 'non-conforming'}")  # --hypothesis-show-statistics
    if response.status_code == 200:
        assert ok, (claims, response.json())
    else:
        assert response.json()["error"] in {"invalid_client", "invalid_request"}, response.text
        assert not ok or "jti" in changed, (claims, response.json())


def test_property_oracle_accepts_the_valid_claims_the_service_accepts(http, office) -> None:  # type: ignore[no-untyped-def]
    """The oracle is not vacuous: a valid claim set is conforming and gets a token."""
    claims = claims_for(office.client_id, ISSUER)
    assert conforming(claims, office.client_id, time.time())
    assert post_token(http, form(craft({"alg": "ES256"}, claims, office.key))).status_code == 200
