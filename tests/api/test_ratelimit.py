"""Rate limits and concurrency caps (token buckets per client, in each API process)."""

from __future__ import annotations

import pytest

from hws.api.ratelimit import Limiter, Refused


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = Limiter(per_minute=60, burst=3, now=clock)
    for _ in range(3):
        limiter.release(limiter.admit("kr").key)
    with pytest.raises(Refused) as info:
        limiter.admit("kr")
    assert info.value.retry_after == 1
    assert (b"ratelimit", b'"per-client";r=0;t=3') in info.value.headers
    limiter.admit("us")  # another client is not affected
    clock.t += 1.0
    admission = limiter.admit("kr")
    assert admission.remaining == 0
    assert (b"ratelimit-policy", b'"per-client";q=3;w=60') in admission.headers()


def test_concurrency_cap() -> None:
    limiter = Limiter(per_minute=0, burst=1, max_concurrent=2, now=Clock())
    first, second = limiter.admit("kr"), limiter.admit("kr")
    with pytest.raises(Refused, match="in progress"):
        limiter.admit("kr")
    limiter.release(first.key)
    limiter.admit("kr")
    assert second.key == "kr"


def test_disabled() -> None:
    assert not Limiter(per_minute=0, burst=1, max_concurrent=0).enabled


def test_api_answers_429_with_headers(tmp_path, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from hws.api.app import create_app
    from tests.api.test_requests import bearer
    from tests.conftest import enrol, make_service

    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False, rate_limit_per_minute=60, rate_limit_burst=3)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    headers = bearer(client, enrol(service))
    other = bearer(client, enrol(service, office="US"))
    answers = [client.get("/webservices/api/v1/pingMe", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["ratelimit-policy"] == '"per-client";q=3;w=60'
    assert answers[0].headers["ratelimit"].startswith('"per-client";r=2;')
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1 and b"rate-limited" in refused.content
    assert client.get("/webservices/api/v1/pingMe", headers=other).status_code == 200  # neighbours unaffected
    client.close()
    service.close()


def test_token_requests_limited_per_address(tmp_path, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from hws.api.app import create_app
    from tests.conftest import make_service

    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False, token_rate_per_minute=4)
    client = TestClient(create_app(service), base_url="http://hws.test", client=("127.0.0.1", 50000))
    codes = [client.post("/oauth2/access_token", data={"grant_type": "password"}).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
    client.close()
    service.close()
