"""DPoP (RFC 9449) end to end: the office kit against the real server.

One server for the module (clients are fresh per test): a token bound to the kit's key,
a stolen token refused without that key, a replayed proof refused, the per-client token
binding, the CLI's ``hws configure --dpop``, and a bearer client unchanged.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hws.client import HagueClient, TokenError
from hws.client.dpop import DPoPKey
from hws.client.enrolment import generate
from hws.keys.public_keys import b64url_decode
from tests.support.servers import RunningServer, start_server

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dpop")]


@pytest.fixture(scope="module")
def dpop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("dpop") / "server")
    yield running
    running.stop()


def _enrol(server: RunningServer, tmp_path: Path, binding: str) -> tuple[str, Path]:
    files = generate("TEST", tmp_path / f"keys-{binding}")
    created = server.hws(
        "admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", "127.0.0.1/32",
        "--token-binding", binding, "--json",
    )  # fmt: skip
    record = json.loads(created.stdout)
    assert record["token_binding"] == binding
    return record["client_id"], files.private_key


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def test_dpop_required_client_gets_a_bound_token_and_uses_it(dpop_server: RunningServer, tmp_path: Path) -> None:
    client_id, key = _enrol(dpop_server, tmp_path, "dpop-required")
    with HagueClient(issuer=dpop_server.issuer, client_id=client_id, private_key=key, dpop=True) as hws:
        assert hws.ping("KR").message == "Hello KR"  # the nonce round trip happened inside, transparently
        response = hws.token_response()
        assert response["token_type"] == "DPoP"
        assert hws.dpop is not None
        assert _claims(response["access_token"])["cnf"] == {"jkt": hws.dpop.jkt}
        assert hws.dpop.nonce  # the service's nonce, kept for the next proofs
        for n in range(3):  # every call a fresh proof, the same token
            assert hws.ping(f"n{n}").message == f"Hello n{n}"


def test_a_stolen_dpop_token_is_useless_without_its_key(dpop_server: RunningServer, tmp_path: Path) -> None:
    client_id, key = _enrol(dpop_server, tmp_path, "dpop-required")
    with HagueClient(issuer=dpop_server.issuer, client_id=client_id, private_key=key, dpop=True) as hws:
        hws.ping()
        token = hws.token()
        nonce = hws.dpop.nonce if hws.dpop else None
    ping = f"{dpop_server.api_url}/pingMe"
    # as a bearer token
    stolen = httpx.get(ping, headers={"Authorization": f"Bearer {token}"})
    assert stolen.status_code == 401
    assert (
        stolen.headers["www-authenticate"].startswith("DPoP ") and 'error="invalid_token"' in stolen.headers["www-authenticate"]
    )
    # with a proof by the thief's own key
    thief = DPoPKey.generate()
    response = httpx.get(ping, headers={"Authorization": f"DPoP {token}", "DPoP": thief.proof("GET", ping, access_token=token)})
    assert response.status_code == 401
    assert response.headers.get("dpop-nonce")  # told the nonce; try again with it
    thief.remember_nonce(response)
    response = httpx.get(ping, headers={"Authorization": f"DPoP {token}", "DPoP": thief.proof("GET", ping, access_token=token)})
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
    assert "not signed by the key the token is bound to" in response.text
    assert nonce  # (the legitimate client had one)


def test_a_replayed_proof_is_refused(dpop_server: RunningServer, tmp_path: Path) -> None:
    client_id, key = _enrol(dpop_server, tmp_path, "dpop-required")
    with HagueClient(issuer=dpop_server.issuer, client_id=client_id, private_key=key, dpop=True) as hws:
        hws.ping()
        token = hws.token()
        assert hws.dpop is not None
        ping = f"{dpop_server.api_url}/pingMe"
        proof = hws.dpop.proof("GET", ping, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert httpx.get(ping, headers=headers).status_code == 200
    replayed = httpx.get(ping, headers=headers)
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
    assert "used before" in replayed.text
    # a proof for another URL or method, or without ath, is refused too
    for bad in (
        hws.dpop.proof("POST", ping, access_token=token),
        hws.dpop.proof("GET", f"{dpop_server.api_url}/request/1", access_token=token),
        hws.dpop.proof("GET", ping),
    ):
        refused = httpx.get(ping, headers={"Authorization": f"DPoP {token}", "DPoP": bad})
        assert refused.status_code == 401 and 'error="invalid_dpop_proof"' in refused.headers["www-authenticate"]


def test_token_binding_per_client(dpop_server: RunningServer, tmp_path: Path) -> None:
    required, required_key = _enrol(dpop_server, tmp_path / "r", "dpop-required")
    allowed, allowed_key = _enrol(dpop_server, tmp_path / "a", "dpop-allowed")
    bearer, bearer_key = _enrol(dpop_server, tmp_path / "b", "bearer")
    issuer = dpop_server.issuer
    # dpop-required without a proof: refused at the token endpoint
    with HagueClient(issuer=issuer, client_id=required, private_key=required_key) as hws, pytest.raises(TokenError) as refused:
        hws.token()
    assert refused.value.error == "invalid_dpop_proof" and "DPoP proof is required" in str(refused.value)
    # dpop-allowed: either, by the request
    with HagueClient(issuer=issuer, client_id=allowed, private_key=allowed_key) as hws:
        assert hws.token_response()["token_type"] == "Bearer" and hws.ping().client_id == allowed
    with HagueClient(issuer=issuer, client_id=allowed, private_key=allowed_key, dpop=True) as hws:
        assert hws.token_response()["token_type"] == "DPoP" and hws.ping().client_id == allowed
    # bearer (WIPO's profile): a DPoP proof is refused, not silently ignored; without one, as before
    with HagueClient(issuer=issuer, client_id=bearer, private_key=bearer_key, dpop=True) as hws, pytest.raises(TokenError) as no:
        hws.token()
    assert no.value.error == "invalid_request" and "DPoP is not enabled for this client" in str(no.value)
    with HagueClient(issuer=issuer, client_id=bearer, private_key=bearer_key) as hws:
        token = hws.token_response()
        assert token["token_type"] == "Bearer" and "cnf" not in _claims(token["access_token"])
        assert hws.ping().client_id == bearer
        # a bearer token presented with the DPoP scheme is refused
        answer = httpx.get(f"{dpop_server.api_url}/pingMe", headers={"Authorization": f"DPoP {token['access_token']}"})
        assert answer.status_code == 401
    # an operator moves the allowed client to dpop-required: its bearer token stops working at once
    with HagueClient(issuer=issuer, client_id=allowed, private_key=allowed_key) as hws:
        bearer_token = hws.token()
        hws.ping()
        dpop_server.hws("admin", "clients", "update", allowed, "--token-binding", "dpop-required")
        answer = httpx.get(f"{dpop_server.api_url}/pingMe", headers={"Authorization": f"Bearer {bearer_token}"})
        assert answer.status_code == 401 and "must be DPoP-bound" in answer.text
        with pytest.raises(TokenError) as after:  # the kit's retry with a new token: refused without a proof
            hws.request("GET", "/pingMe")
        assert after.value.error == "invalid_dpop_proof"
        listed = json.loads(dpop_server.hws("admin", "clients", "show", allowed, "--json").stdout)
        assert listed["token_binding"] == "dpop-required"


def test_discovery_advertises_dpop(dpop_server: RunningServer) -> None:
    document = httpx.get(f"{dpop_server.issuer}/.well-known/openid-configuration").json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "PS256"]
    # the same metadata where RFC 8414 §3 puts it for an issuer with a path (…/.well-known/oauth-authorization-server/oauth2)
    metadata = httpx.get(f"{dpop_server.url}/.well-known/oauth-authorization-server/oauth2")
    assert metadata.status_code == 200 and metadata.json() == document
    assert document["issuer"] == dpop_server.issuer


def test_configure_dpop_keeps_a_key_with_the_profile(dpop_server: RunningServer, tmp_path: Path) -> None:
    client_id, key = _enrol(dpop_server, tmp_path, "dpop-required")
    env = {**dpop_server.env, "HWS_CONFIG_HOME": str(tmp_path / "config")}
    for name in ("HWS_ISSUER", "HWS_CLIENT_ID", "HWS_PRIVATE_KEY", "HWS_DPOP_KEY"):
        env.pop(name, None)

    def hws(*args: str) -> str:
        import subprocess
        import sys

        done = subprocess.run([sys.executable, "-m", "hws", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    saved = json.loads(
        hws("configure", "--issuer", dpop_server.issuer, "--client-id", client_id, "--private-key", str(key), "--dpop", "--json")
    )
    key_file = Path(saved["dpop_key"])
    assert key_file.exists() and stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    token = json.loads(hws("token", "--json"))
    assert token["token_type"] == "DPoP"
    assert _claims(token["access_token"])["cnf"] == {"jkt": DPoPKey.from_file(key_file).jkt}
    assert "Hello" in hws("ping")
    # --dpop again keeps the same key (tokens bound to it stay usable); --no-dpop drops it from the profile
    assert json.loads(hws("configure", "--dpop", "--json"))["dpop_key"] == str(key_file)
    assert json.loads(hws("configure", "--no-dpop", "--json"))["dpop_key"] is None
