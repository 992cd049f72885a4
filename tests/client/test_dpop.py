"""The office kit's DPoP key: its file, its proofs and the nonce it keeps."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from hws.client.dpop import DPoPKey, dpop_error, new_key_file
from hws.client.errors import InvalidArgument
from hws.keys.public_keys import b64url_decode


def _parts(proof: str) -> tuple[dict[str, object], dict[str, object]]:
    header, claims, _ = proof.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


def test_key_file_is_private_and_never_replaced(tmp_path: Path) -> None:
    path = new_key_file(tmp_path / "profiles" / "dpop-default.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        new_key_file(path)
    assert path.read_bytes() == before
    assert DPoPKey.from_file(path).jkt == DPoPKey.from_file(path).jkt


def test_unreadable_key_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "dpop.pem"
    bad.write_text("not a key")
    with pytest.raises(InvalidArgument, match=r"DPoP key: .*dpop\.pem"):
        DPoPKey.from_file(bad)


def test_proofs_carry_what_the_request_needs() -> None:
    key = DPoPKey.generate()
    header, claims = _parts(key.proof("get", "https://hws.example/api/x?week=202501#top", access_token="abc", now=1000))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}
    assert "d" not in key.jwk
    assert claims["htm"] == "GET" and claims["htu"] == "https://hws.example/api/x" and claims["iat"] == 1000
    assert claims["ath"] == "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"  # SHA-256("abc"), base64url
    assert "nonce" not in claims
    other = _parts(key.proof("GET", "https://hws.example/api/x"))[1]
    assert other["jti"] != claims["jti"] and "ath" not in other


def test_the_latest_nonce_is_kept_and_sent() -> None:
    key = DPoPKey.generate()
    request = httpx.Request("GET", "https://hws.example/")
    assert key.remember_nonce(httpx.Response(401, headers={"DPoP-Nonce": "n-1"}, request=request))
    assert not key.remember_nonce(httpx.Response(200, headers={"DPoP-Nonce": "n-1"}, request=request))
    assert not key.remember_nonce(httpx.Response(200, request=request))
    assert key.nonce == "n-1" and _parts(key.proof("GET", "https://hws.example/"))[1]["nonce"] == "n-1"


def test_dpop_errors_are_read_from_both_endpoints() -> None:
    request = httpx.Request("POST", "https://hws.example/token")
    assert dpop_error(httpx.Response(400, json={"error": "use_dpop_nonce"}, request=request)) == "use_dpop_nonce"
    assert dpop_error(httpx.Response(400, json={"error": "invalid_client"}, request=request)) is None
    assert dpop_error(httpx.Response(400, text="<html>", request=request)) is None
    challenge = 'DPoP algs="ES256 PS256", error="use_dpop_nonce", error_description="x"'
    assert dpop_error(httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request)) == "use_dpop_nonce"
    bearer = 'Bearer realm="hws", error="invalid_token"'
    assert dpop_error(httpx.Response(401, headers={"WWW-Authenticate": bearer}, request=request)) is None
