"""``oauth.install``: the token endpoint answered ahead of the middleware stack keeps
what the stack gave it (metrics, a JSON 500 on a bug) and leaves every other route alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hws.api import oauth
from hws.api.app import create_app
from hws.api.metrics import REQUESTS
from hws.service import Service
from tests.auth.conftest import TOKEN_ENDPOINT
from tests.conftest import Office
from tests.support.jose import claims_for, craft, form


@pytest.fixture
def fast(auth_service: Service) -> Iterator[TestClient]:
    app = create_app(auth_service)
    oauth.install(app)
    with TestClient(app, base_url="http://hws.test", client=("127.0.0.1", 50000)) as client:
        yield client


def _count(status: str) -> float:
    return REQUESTS.labels("POST", "/oauth2/access_token", status)._value.get()


def test_token_requests_are_counted(fast: TestClient, office: Office) -> None:
    before_ok, before_refused = _count("200"), _count("401")
    assertion = craft({"alg": "ES256", "kid": office.kid}, claims_for(office.client_id, TOKEN_ENDPOINT), office.key)
    assert fast.post("/oauth2/access_token", data=form(assertion)).status_code == 200
    assert fast.post("/oauth2/access_token", data=form(assertion)).status_code == 401  # replayed
    assert (_count("200") - before_ok, _count("401") - before_refused) == (1, 1)


def test_other_routes_and_methods_go_through_the_stack(fast: TestClient) -> None:
    assert fast.get("/healthz").status_code == 200
    assert fast.get("/oauth2/access_token").status_code == 405
    assert fast.get("/oauth2/.well-known/openid-configuration").json()["token_endpoint"] == TOKEN_ENDPOINT
    assert "/oauth2/access_token" in fast.get("/openapi.json").json()["paths"]


def test_a_bug_is_a_json_500_without_details(fast: TestClient, auth_service: Service, office: Office, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret detail")

    monkeypatch.setattr(auth_service.tokens, "_prepare", broken)
    assertion = craft({"alg": "ES256", "kid": office.kid}, claims_for(office.client_id, TOKEN_ENDPOINT), office.key)
    response = fast.post("/oauth2/access_token", data=form(assertion))
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    assert "secret" not in response.text
    assert response.headers["cache-control"] == "no-store"


#: the assertion type as ``urlencode`` sends it (the form reader looks it up, not decodes it)
_ENCODED_TYPE = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
_FORM_PIECES = st.sampled_from(
    [*"ab=&%+ ;\x00", "%41", "%zz", "%e9", "%C3%A9", "==", "é", "2F", "3A", _ENCODED_TYPE, "=" + _ENCODED_TYPE + "&"]
)


@given(st.lists(_FORM_PIECES, max_size=40).map("".join), st.integers(0, 40))
def test_the_token_form_is_read_as_parse_qs_reads_it(text: str, fields: int) -> None:
    """The token endpoint's form reader gives what ``parse_qs`` (keep_blank_values, strict,
    at most 32 fields) gives, and refuses what it refuses (or what is not ASCII)."""
    from urllib.parse import parse_qs

    from hws.api.oauth import _parse_form
    from hws.auth.errors import OAuthError

    for body in (text.encode(), ("&".join(["a=1"] * fields) + text).encode()):
        try:
            expected: object = parse_qs(
                body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=32
            )
        except (UnicodeDecodeError, ValueError):
            expected = "refused"
        try:
            got: object = _parse_form(body)
        except OAuthError as exc:
            assert exc.error == "invalid_request"
            got = "refused"
        assert got == expected


def test_the_assertion_type_is_read_whatever_its_encoding() -> None:
    from urllib.parse import parse_qs

    from hws.api.oauth import _parse_form
    from hws.auth.assertion import JWT_BEARER

    for encoded in (_ENCODED_TYPE, _ENCODED_TYPE.lower(), JWT_BEARER, _ENCODED_TYPE + "%20", _ENCODED_TYPE + "+"):
        body = f"client_assertion_type={encoded}".encode()
        assert _parse_form(body) == parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
    assert _parse_form(f"t={_ENCODED_TYPE}".encode()) == {"t": [JWT_BEARER]}
