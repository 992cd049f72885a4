"""Attacks on the HTTP edge, each reproduced against the real server (``hws serve``).

- ``X-Forwarded-For`` from an untrusted peer (checklist auth rules 12 and 18): the
  socket's address decides the allow-list, the per-address token rate and the audit
  log; only a configured trusted proxy is believed.
- multipart bodies without their closing boundary, or cut short: 400, nothing imported.
- week ids in non-ASCII digits; the OpenAPI patterns of week ids, SRNs and import ids.
- ``hws serve --workers N`` logs what its API processes do.
- 405 answers name what is allowed; the token endpoint's is RFC 6749 JSON.
- half a request line and then nothing, or an upload that stalls: cut in bounded time.
- an unreachable database: ``hws serve`` says so in one line and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hws.client.enrolment import generate, load_private_key
from tests.support.jose import claims_for, craft, form
from tests.support.servers import RunningServer, free_port, start_server, until

pytestmark = pytest.mark.e2e

ALLOWED = "10.9.8.7"  # the office's allow-list holds this address only, never 127.0.0.1
ARABIC_INDIC_WEEK = "\u0662\u0660\u0662\u0666\u0664\u0669"  # ٢٠٢٦٤٩: "202649" in Arabic-Indic digits


def _enrol(server: RunningServer, tmp_path: Path, name: str, ip: str, *scopes: str):  # type: ignore[no-untyped-def]
    files = generate("TEST", tmp_path / f"office-{name}")
    args = ["admin", "clients", "add", "--cert", str(files.certificate), "--office", "KR", "--ip", ip, "--json"]
    for scope in scopes:
        args += ["--scope", scope]
    return json.loads(server.hws(*args).stdout)["client_id"], load_private_key(files.private_key)


def _token_form(server: RunningServer, client_id: str, key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return form(craft({"alg": "ES256", "typ": "JWT"}, claims_for(client_id, server.token_endpoint), key))


def _audit(server: RunningServer, action: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(server.hws("admin", "audit", "--action", action, "--json").stdout)


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[RunningServer]:
    """No trusted proxy (the default); token requests limited to a burst of 3 per address."""
    running = start_server(tmp_path / "server", extra_env={"HWS_TOKEN_RATE_PER_MINUTE": "6"})
    yield running
    running.stop()


@pytest.fixture
def proxied_server(tmp_path: Path) -> Iterator[RunningServer]:
    """127.0.0.1 is a configured trusted proxy."""
    running = start_server(tmp_path / "server", extra_env={"HWS_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield running
    running.stop()


# 1. X-Forwarded-For -------------------------------------------------------------------------


def test_forwarded_for_from_an_untrusted_peer_gets_no_token_and_is_audited_as_the_socket(limited_server, tmp_path) -> None:
    server = limited_server
    client_id, key = _enrol(server, tmp_path, "remote", f"{ALLOWED}/32")
    response = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key), headers={"X-Forwarded-For": ALLOWED})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"

    refused = until(lambda: [e for e in _audit(server, "auth.token") if e["outcome"] == "refused"], 20, "the refusal's audit row")
    assert {e["source"] for e in refused} == {"127.0.0.1"}
    assert not any(e["source"] == ALLOWED for e in _audit(server, "auth.token"))


def test_a_fresh_forwarded_for_per_request_does_not_escape_the_per_address_token_rate(limited_server) -> None:
    server = limited_server
    statuses = []
    for i in range(8):  # burst 3 per address: a new forged address each time must not buy a new bucket
        response = httpx.post(
            server.token_endpoint, data={"grant_type": "client_credentials"}, headers={"X-Forwarded-For": f"198.51.100.{i + 1}"}
        )
        statuses.append(response.status_code)
    assert 429 not in statuses[:3], statuses
    assert 429 in statuses[3:], statuses


def test_forwarded_for_from_an_untrusted_peer_is_not_the_audited_source_of_api_calls(limited_server, tmp_path) -> None:
    server = limited_server
    client_id, key = _enrol(server, tmp_path, "local", "127.0.0.1/32")
    token = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key)).json()["access_token"]
    response = httpx.post(
        f"{server.api_url}/request",
        content=b"PK\x03\x04 not really a package",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip", "X-Forwarded-For": ALLOWED},
    )
    assert response.status_code == 202, response.text
    submitted = until(lambda: _audit(server, "request.submitted"), 20, "the submission's audit row")
    assert [e["source"] for e in submitted] == ["127.0.0.1"]


def test_forwarded_for_from_a_configured_trusted_proxy_is_honoured(proxied_server, tmp_path) -> None:
    server = proxied_server
    client_id, key = _enrol(server, tmp_path, "remote", f"{ALLOWED}/32")
    direct = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key))
    assert direct.status_code == 401, direct.text  # the proxy itself is not on the office's allow-list
    proxied = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key), headers={"X-Forwarded-For": ALLOWED})
    assert proxied.status_code == 200, proxied.text
    issued = until(lambda: [e for e in _audit(server, "auth.token") if e["outcome"] == "issued"], 20, "the issuance's audit row")
    assert [e["source"] for e in issued] == [ALLOWED]


# 2. Multipart without its closing boundary --------------------------------------------------

_PART_HEAD = (
    b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="package.zip"\r\nContent-Type: application/zip\r\n\r\n'
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_PART_HEAD + b"PK\x03\x04 the package bytes\r\n", id="no-closing-boundary"),
        pytest.param(_PART_HEAD + b"PK\x03\x04 the package bytes\r\n--XyZ", id="boundary-without-closing-dashes"),
        pytest.param(_PART_HEAD + b"PK\x03\x04 the pack", id="truncated-in-the-file"),
        pytest.param(_PART_HEAD[:40], id="truncated-in-the-part-headers"),
    ],
)
def test_an_unterminated_or_truncated_multipart_body_is_400_and_nothing_is_imported(server, tmp_path, body: bytes) -> None:
    client_id, key = _enrol(server, tmp_path, "local", "127.0.0.1/32")
    token = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key)).json()["access_token"]
    response = httpx.post(
        f"{server.api_url}/request",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=XyZ",
                 "Accept": "application/problem+json"},
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid-request"
    assert "Location" not in response.headers
    time.sleep(0.5)  # the audit log is written in the background
    assert _audit(server, "request.submitted") == []
    # the same package, properly closed, is received: the refusal above was the framing
    closed = _PART_HEAD + b"PK\x03\x04 the package bytes\r\n--XyZ--\r\n"
    accepted = httpx.post(
        f"{server.api_url}/request",
        content=closed,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert accepted.status_code == 202, accepted.text


# 3. Week ids and identifiers are ASCII -----------------------------------------------------


def test_a_week_id_in_arabic_indic_digits_is_not_a_week(server, tmp_path) -> None:
    client_id, key = _enrol(server, tmp_path, "reader", "127.0.0.1/32", "hws/publications")
    token = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/problem+json"}
    for path in (f"/publication/bulletin/{ARABIC_INDIC_WEEK}", f"/publication/bulletin/{'２０２６４９'}"):
        response = httpx.get(f"{server.api_url}{path}", headers=headers)
        assert response.status_code == 400, (path, response.status_code, response.text)
        assert response.json()["code"] == "invalid-week"


def test_openapi_document_gives_the_identifier_patterns(server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()

    def pattern(path: str, name: str) -> str:
        (parameter,) = [p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name]
        return parameter["schema"]["pattern"]

    api = "/webservices/api/v1"
    week = pattern(f"{api}/publication/bulletin/{{weekId}}", "weekId")
    assert week == pattern(f"{api}/publication/copy/confidential/{{weekId}}", "weekId")
    srn = pattern(f"{api}/request/{{serviceRequestId}}", "serviceRequestId")
    import_id = pattern(f"{api}/request/import/{{importId}}", "importId")
    assert re.fullmatch(week, "202649") and not re.search(week, ARABIC_INDIC_WEEK) and not re.search(week, "202654")
    assert re.fullmatch(srn, "970000001") and not re.search(srn, "970\u0660\u0660\u0660\u0660\u0660\u0661")
    assert re.fullmatch(import_id, "01HZX3Q5N1V9B6R5T2J8K4M7PD") and not re.search(import_id, "01HZX3Q5N1V9B6R5T2J8K4M7P\u0661")
    for p in (week, srn, import_id):
        assert "\\d" not in p and p.startswith("^") and p.endswith("$")


# 4. Logs of hws serve --workers N -----------------------------------------------------------


@pytest.mark.slow
def test_api_processes_of_serve_workers_log_refused_tokens(tmp_path) -> None:
    server = start_server(tmp_path / "server", serve_args=("--workers", "2"), ready_timeout=90)
    try:
        for _ in range(4):  # whichever process answers, each must log
            response = httpx.post(server.token_endpoint, data={"grant_type": "client_credentials", "client_assertion": "x"})
            assert response.status_code in (400, 401)
        refused = until(
            lambda: [line for line in server.log().splitlines() if '"token.refused"' in line], 20, "token.refused in the log"
        )
        entry = json.loads(refused[0])
        assert entry["event"] == "token.refused" and entry["source"] == "127.0.0.1"
    finally:
        server.stop()


# 6. 405, slow clients, unreachable database -------------------------------------------------


def test_405_answers_carry_allow_and_the_token_endpoint_answers_in_rfc6749_terms(server) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = httpx.request(method, server.token_endpoint)
        assert response.status_code == 405, (method, response.text)
        assert response.headers["allow"] == "POST"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"] == "invalid_request"
    ping = httpx.post(f"{server.api_url}/pingMe")
    assert ping.status_code == 405
    assert "GET" in [m.strip() for m in ping.headers["allow"].split(",")]


def _raw(server: RunningServer, first: bytes, *, timeout: float) -> tuple[bytes, float]:
    """Send ``first`` then nothing; what the server sends until it closes, and how long that took."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        started = time.monotonic()
        if first:
            sock.sendall(first)
        received = b""
        while True:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                raise AssertionError(f"still open after {timeout} s; received {received!r}") from None
            if not chunk:
                return received, time.monotonic() - started
            received += chunk


@pytest.fixture
def impatient_server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "server", extra_env={"HWS_HEADER_READ_TIMEOUT": "1", "HWS_UPLOAD_IDLE_TIMEOUT": "1"})
    yield running
    running.stop()


@pytest.mark.parametrize("first", [b"GET /healthz HT", b""], ids=["half-a-request-line", "nothing-at-all"])
def test_a_client_that_stops_inside_the_request_head_is_disconnected(impatient_server, first: bytes) -> None:
    received, _elapsed = _raw(impatient_server, first, timeout=15)
    assert received == b"" or received.startswith(b"HTTP/1.1 408 "), received


def test_a_request_head_trickled_byte_by_byte_is_cut(impatient_server) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=15) as sock:
        deadline = time.monotonic() + 15
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                if time.monotonic() > deadline:
                    raise AssertionError("the trickled head was never cut")
        except (BrokenPipeError, ConnectionResetError):
            return  # cut while sending
        raise AssertionError("the whole trickled head (40 s at this pace) was accepted")


def test_a_complete_request_still_works_on_the_impatient_server(impatient_server) -> None:
    received, _ = _raw(impatient_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=15)
    assert received.startswith(b"HTTP/1.1 200 "), received


def test_an_upload_that_stalls_is_cut_with_408(impatient_server, tmp_path) -> None:
    server = impatient_server
    client_id, key = _enrol(server, tmp_path, "local", "127.0.0.1/32")
    token = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key)).json()["access_token"]
    head = (
        f"POST /webservices/api/v1/request HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/zip\r\nContent-Length: 1000\r\nAccept: application/problem+json\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head + b"PK")
        time.sleep(2.5)  # more than HWS_UPLOAD_IDLE_TIMEOUT=1 without a byte
        try:
            sock.sendall(b"\x03")
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
            if b"request-timeout" in received:
                break
    assert received.startswith(b"HTTP/1.1 408 "), received
    assert b"request-timeout" in received
    time.sleep(0.5)
    assert _audit(server, "request.submitted") == []


def test_a_body_sent_in_uneven_pieces_is_stored_byte_for_byte(server, tmp_path) -> None:
    """A body sent over a real socket in uneven pieces, through ``hws serve``'s own HTTP
    protocol (``HeaderDeadlineProtocol.on_body``, which hands chunks on without uvicorn's
    copies), is stored whole and in order: the receipt names its size and sha-256. The
    case of chunks piling up before the application reads them, which timing alone does
    not bring about here, is driven directly in tests/cli/test_serve_protocol.py."""
    client_id, key = _enrol(server, tmp_path, "local", "127.0.0.1/32")
    token = httpx.post(server.token_endpoint, data=_token_form(server, client_id, key)).json()["access_token"]
    data = os.urandom(5 * 1024 * 1024 + 7)
    head = (
        f"POST /webservices/api/v1/request HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/zip\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        sent, step = 0, 0
        while sent < len(data):
            size = (1 + step * 997) % 3000 + 1 if step % 3 else 1024 * 1024  # small pieces, then a pile
            sock.sendall(data[sent : sent + size])
            sent += size
            step += 1
            if step % 3 == 1:
                time.sleep(0.002)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 202 "), received[:600]
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha-256:{digest}".encode() in received and f">{len(data)}<".encode() in received, received[:2000]


def test_serve_against_an_unreachable_database_exits_with_one_clear_line(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update({"HWS_DATA_DIR": str(tmp_path / "data"), "HWS_DATABASE_URL": "postgresql+psycopg://hws:s3cret@127.0.0.1:1/x"})
    result = subprocess.run(
        [sys.executable, "-m", "hws", "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    assert "database" in lines[0] and "127.0.0.1:1" in lines[0], lines
    assert "s3cret" not in result.stderr
