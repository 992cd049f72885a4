"""Token endpoint attacks on the real server over HTTP (issue 9, items 2 and 3).

- An ES256 assertion without ``jti`` (as WIPO's own snippet sends it) used once, then its
  malleated twin ``r‖(n − s)``: before, the twin verified and got a second token (the
  single-use key was the hash of the whole assertion); now it is refused.
- ``NaN``, ``±Infinity`` and ``1e300`` in ``exp``, ``iat`` and ``nbf``, sent by one office
  while another asks for tokens at the same moment: before, ``iat: NaN`` bypassed the
  lifetime cap, ``exp: NaN`` was a 500, and ``exp: 1e300`` failed the other office's
  requests batched in the same commit; now every poisoned request gets 401
  ``invalid_client`` and every clean one its token.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from hws.client.enrolment import generate
from tests.support.jose import claims_for, craft, form, malleate
from tests.support.servers import RunningServer

pytestmark = pytest.mark.e2e


def enrol(server: RunningServer, tmp_path, office: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    files = generate(office, tmp_path / f"keys-{office}")
    done = server.hws(
        "admin", "clients", "add", "--cert", str(files.certificate), "--office", office, "--ip", "127.0.0.1/32", "--json"
    )
    key = serialization.load_pem_private_key(files.private_key.read_bytes(), None)
    return json.loads(done.stdout)["client_id"], key


def test_the_malleated_twin_of_a_used_assertion_gets_no_token(server: RunningServer, tmp_path) -> None:
    client_id, key = enrol(server, tmp_path, "KR")
    claims = {"iss": client_id, "sub": client_id, "aud": server.token_endpoint, "exp": int(time.time()) + 10}  # no jti
    first = craft({"alg": "ES256", "typ": "JWT"}, claims, key)
    with httpx.Client(timeout=10) as http:
        granted = http.post(server.token_endpoint, data=form(first))
        assert granted.status_code == 200, granted.text
        for replay in (malleate(first), first):
            refused = http.post(server.token_endpoint, data=form(replay))
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "invalid_client" and "access_token" not in refused.json()
            assert refused.headers["cache-control"] == "no-store"


POISON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "1e300": 1e300}


def poisoned_assertion(client_id: str, key: Any, audience: str, claim: str, value: float) -> str:
    claims = claims_for(client_id, audience)
    if claim == "iat":
        claims["exp"] = int(time.time()) + 10 * 365 * 86400  # iat NaN once hid a ten-year exp
    claims[claim] = value
    return craft({"alg": "ES256"}, json.dumps(claims, separators=(",", ":")).encode(), key)


def test_poisoned_numeric_dates_are_refused_and_do_not_touch_another_office(server: RunningServer, tmp_path) -> None:
    clean_id, clean_key = enrol(server, tmp_path, "US")
    bad_id, bad_key = enrol(server, tmp_path, "KR")
    cases = [(claim, label) for claim in ("exp", "iat", "nbf") for label in POISON]
    rounds = 4  # 48 poisoned and 48 clean requests

    def clean(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            return http.post(
                server.token_endpoint, data=form(craft({"alg": "ES256"}, claims_for(clean_id, server.issuer), clean_key))
            )

    def poison(case: tuple[str, str]) -> httpx.Response:
        claim, label = case
        with httpx.Client(timeout=30) as http:
            return http.post(
                server.token_endpoint, data=form(poisoned_assertion(bad_id, bad_key, server.issuer, claim, POISON[label]))
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        # interleaved submissions, so poisoned and clean requests meet in the same commits
        futures = []
        for n in range(rounds):
            for case in cases:
                futures.append(("poison", case, pool.submit(poison, case)))
                futures.append(("clean", n, pool.submit(clean, n)))
        results = [(kind, what, future.result()) for kind, what, future in futures]

    for kind, what, response in results:
        assert response.status_code < 500, (kind, what, response.status_code, response.text)
        if kind == "clean":
            assert response.status_code == 200, (what, response.text)
            assert response.json()["token_type"] == "Bearer"
        else:
            assert response.status_code == 401, (what, response.text)
            assert response.json()["error"] == "invalid_client" and "access_token" not in response.json(), what
    assert sum(kind == "clean" for kind, _, _ in results) == rounds * len(cases)
