"""End to end on the real server (uvicorn on a free port) with the office kit."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from hws.client import APIError, AsyncHagueClient, HagueClient, TokenError
from hws.client.enrolment import generate
from tests.support.jose import claims_for, craft, form
from tests.support.servers import until

pytestmark = pytest.mark.e2e


def enrol_cli(server, tmp_path, office: str = "KR", client_id: str | None = None, scopes=()):  # type: ignore[no-untyped-def]
    files = generate("TEST", tmp_path / f"office-{office}-{client_id}")
    args = ["admin", "clients", "add", "--cert", str(files.certificate), "--office", office, "--ip", "127.0.0.1/32", "--json"]
    if client_id:
        args += ["--client-id", client_id]
    for scope in scopes:
        args += ["--scope", scope]
    result = server.hws(*args)
    return json.loads(result.stdout)["client_id"], files


def test_hague_client_pings(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        result = hws.ping("KR")
        assert result.message == "Hello KR" and result.office == "KR" and result.client_id == client_id
        first = hws.token()
        assert hws.token() == first  # cached
        assert hws.api_url == server.api_url  # from discovery


def test_async_hague_client_pings(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)

    async def run() -> None:
        async with AsyncHagueClient(
            issuer=server.issuer, client_id=client_id, private_key=files.private_key, audience="token_endpoint"
        ) as hws:
            results = await asyncio.gather(*(hws.ping(f"n{i}") for i in range(5)))
            assert [r.message for r in results] == [f"Hello n{i}" for i in range(5)]

    asyncio.run(run())


def test_client_refreshes_once_on_401(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        hws.ping()
        stale = hws.token()
        hws._token = {**hws._token, "access_token": stale[:-4] + "AAAA"}  # type: ignore[dict-item]
        assert hws.ping("again").message == "Hello again"
        assert hws.token() != stale


def test_client_reports_token_refusal(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    server.hws("admin", "clients", "disable", client_id)
    with (
        HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws,
        pytest.raises(TokenError) as info,
    ):
        hws.ping()
    assert info.value.status == 401 and info.value.error == "invalid_client"


def test_client_reports_api_problem(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    with (
        HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws,
        pytest.raises(APIError) as info,
    ):
        hws.request("GET", "/admin/clients")
    assert info.value.status == 403 and info.value.code == "insufficient-scope"


def _parallel_replays(server, tmp_path) -> list[int]:  # type: ignore[no-untyped-def]
    client_id, files = enrol_cli(server, tmp_path)
    from hws.client.enrolment import load_private_key

    key = load_private_key(files.private_key)
    data = form(craft({"alg": "ES256", "typ": "JWT"}, claims_for(client_id, server.token_endpoint, lifetime=120), key))

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=50)) as http:
            start = asyncio.Event()

            async def one() -> int:
                await start.wait()
                return (await http.post(server.token_endpoint, data=data)).status_code

            tasks = [asyncio.create_task(one()) for _ in range(50)]
            await asyncio.sleep(0.05)
            start.set()
            return await asyncio.gather(*tasks)

    return asyncio.run(run())


def test_fifty_parallel_replays_yield_one_token_sqlite(server, tmp_path) -> None:
    statuses = _parallel_replays(server, tmp_path)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) == 49, statuses


@pytest.mark.postgres
def test_fifty_parallel_replays_yield_one_token_postgresql(pg_server, tmp_path) -> None:
    statuses = _parallel_replays(pg_server, tmp_path)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) == 49, statuses


def test_operational_endpoints(server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["checks"]["database"]["status"] == "ok"
    httpx.get(f"{server.api_url}/pingMe")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "hws_http_requests_total" in metrics and 'route="/webservices/api/v1/pingMe"' in metrics
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "/webservices/api/v1/pingMe" in spec["paths"] and "/oauth2/access_token" in spec["paths"]
    discovery = httpx.get(f"{server.issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == server.issuer
    assert discovery["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(discovery["token_endpoint_auth_signing_alg_values_supported"]) == {"ES256", "PS256"}


def test_no_tokens_in_server_logs(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        token = hws.token()
        hws.ping()
    time.sleep(0.2)
    log = server.log()
    assert "Application startup complete" in log
    audit = json.loads(server.hws("admin", "audit", "--action", "auth.token", "--json").stdout)
    assert any(e["actor"] == client_id and e["outcome"] == "issued" for e in audit)
    assert token not in log and token not in json.dumps(audit) and token.split(".")[2] not in log
    assert files.private_key.read_text().splitlines()[1] not in log


def test_key_rotation_on_a_running_server(server, tmp_path) -> None:
    client_id, files = enrol_cli(server, tmp_path)
    with HagueClient(issuer=server.issuer, client_id=client_id, private_key=files.private_key) as hws:
        old = hws.token()
        rotated = json.loads(server.hws("admin", "keys", "rotate", "--json").stdout)
        assert len(rotated["published"]) == 2
        # the running server looks at its key folder at most once a second: the new key is
        # published (and signs) within that second, never later
        until(lambda: rotated["kid"] in {k["kid"] for k in httpx.get(f"{server.issuer}/jwks").json()["keys"]},
              timeout=3, what="the rotated key in the JWKS")  # fmt: skip
        new = hws.token(force=True)
        assert json.loads(__import__("base64").urlsafe_b64decode(new.split(".")[0] + "=="))["kid"] == rotated["kid"]
        for token in (old, new):
            response = httpx.get(f"{server.api_url}/pingMe", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
