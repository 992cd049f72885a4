"""An allow-list change by the operator reaches the running server at once.

The real server (uvicorn, on SQLite and on PostgreSQL) grants a token to a client
enrolled from 127.0.0.1; the operator then runs ``hws admin clients update --set-ip`` in
another process against the same data folder and database; the next token request
from 127.0.0.1 is refused with RFC 6749's ``invalid_client`` — no restart, no waiting: the
token endpoint's client look-up (``hws.auth.client_lookup``) reads the client's rows on
every request and reuses what it built only from identical rows. Putting 127.0.0.1 back
with ``--add-ip`` works as promptly.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from hws.client.enrolment import generate
from tests.support.jose import claims_for, craft, form
from tests.support.servers import RunningServer, until

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["server", "pg_server"])
def running(request: pytest.FixtureRequest) -> RunningServer:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _token_request(http: httpx.Client, server: RunningServer, client_id: str, key: object, kid: str) -> httpx.Response:
    assertion = craft({"alg": "ES256", "typ": "JWT", "kid": kid}, claims_for(client_id, server.token_endpoint), key)
    return http.post(server.token_endpoint, data=form(assertion))


def test_set_ip_refuses_the_old_address_on_the_next_token_request(running: RunningServer, tmp_path: Path) -> None:
    files = generate("KR", tmp_path / "keys")
    added = running.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR",
                        "--ip", "127.0.0.1", "--json")  # fmt: skip
    client_id = json.loads(added.stdout)["client_id"]
    key = serialization.load_pem_private_key(files.private_key.read_bytes(), None)

    with httpx.Client(timeout=10) as http:
        granted = _token_request(http, running, client_id, key, files.kid)
        assert granted.status_code == 200, granted.text
        assert granted.json()["token_type"].lower() == "bearer"

        updated = running.hws("admin", "clients", "update", client_id, "--set-ip", "198.51.100.0/24", "--json")
        assert json.loads(updated.stdout)["networks"] == ["198.51.100.0/24"]

        refused = _token_request(http, running, client_id, key, files.kid)
        assert refused.status_code == 401, refused.text
        body = refused.json()
        assert body["error"] == "invalid_client" and "access_token" not in body
        assert refused.headers["cache-control"] == "no-store"
        # refused for the address (not, say, a key or clock problem): the server logs why
        until(lambda: f"source address 127.0.0.1 is not allowed for client '{client_id}'" in running.log(),
              timeout=10, what="the refusal's reason in the server log")  # fmt: skip

        running.hws("admin", "clients", "update", client_id, "--add-ip", "127.0.0.1/32")
        again = _token_request(http, running, client_id, key, files.kid)
        assert again.status_code == 200, again.text

    events = json.loads(running.hws("admin", "audit", "--action", "client.updated", "--json").stdout)
    assert [e["detail"]["networks"] for e in reversed(events)] == [
        {"before": ["127.0.0.1/32"], "after": ["198.51.100.0/24"]},
        {"before": ["198.51.100.0/24"], "after": ["198.51.100.0/24", "127.0.0.1/32"]},
    ]
