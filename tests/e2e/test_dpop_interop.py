"""The office kit's DPoP against a certified server: node-oidc-provider (an OpenID
Foundation certified implementation, npm ``oidc-provider``, the bench's anchor) accepts
the kit's client assertions and DPoP proofs, nonce round trip included, and binds its
token to the kit's key."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from hws.auth import jws_checks as jws
from hws.client import HagueClient
from hws.client.enrolment import generate, load_private_key
from hws.keys.public_keys import key_from_jwk, public_jwk, thumbprint
from tests.support import node_oidc_provider

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("flags", [("--dpop", "--dpop-nonce"), ()], ids=["with-nonce", "without-nonce"])
def test_node_oidc_provider_accepts_the_kit_dpop_proofs(tmp_path: Path, flags: tuple[str, ...]) -> None:
    files = generate("INTEROP", tmp_path / "keys")
    jwk = public_jwk(load_private_key(files.private_key).public_key())
    jwk["kid"] = thumbprint(jwk)  # the kid the kit's assertions carry
    with (
        node_oidc_provider.running("office-kit", {**jwk, "alg": "ES256"}, tmp_path, *flags) as issuer,
        HagueClient(issuer=issuer, client_id="office-kit", private_key=files.private_key, dpop=True, scope="api") as kit,
    ):
        answer = kit.token_response()
        assert answer["token_type"] == "DPoP"
        assert kit.dpop is not None
        if flags:  # the provider asked for its nonce (use_dpop_nonce) and the kit retried with it
            assert kit.dpop.nonce
        token = jws.parse_compact(answer["access_token"], max_bytes=16384)
        assert token.claims()["cnf"] == {"jkt": kit.dpop.jkt}
        jwks = httpx.get(json.loads(httpx.get(f"{issuer}/.well-known/openid-configuration").text)["jwks_uri"]).json()
        signer = next(k for k in jwks["keys"] if k["kid"] == token.header["kid"])
        assert jws.verify(token, "ES256", key_from_jwk(signer), accept_high_s=True)
        # a second token: a new assertion and a new proof, the nonce kept
        assert kit.token_response(force=True)["token_type"] == "DPoP"
