"""Interoperability with WIPO's own procedure (shared/spec/wipo-hws-introduction-2021.md).

* Appendix A — the office's OpenSSL script makes the key pair and certificate; the
  operator enrols the certificate with ``hws admin clients add``.
* Appendix C — WIPO's bash snippet (curl, jq, openssl, base64, xxd) obtains an access
  token from our token endpoint; the token then opens ``GET /pingMe``.
* The other direction: ``hws keygen`` files work with Appendix A's OpenSSL commands and
  with the Appendix C snippet.

Both scripts live in ``tests/e2e/wipo/`` as printed, corrected only where the document's
text is garbled (each correction is listed in the script's header).

The snippet has a real flaw: it turns the DER ECDSA signature into JOSE's raw ``r‖s`` by
printing the two INTEGERs with ``openssl asn1parse`` and gluing the hex together, so an
``r`` or ``s`` below 2**248 loses its leading zero byte(s) and the signature is shorter
than the 64 bytes RFC 7518 §3.4 requires (about 1 run in 128). The service must refuse
such an assertion (401 ``invalid_client``) — it cannot guess where ``r`` ends — and the
office simply runs the snippet again: each run has a new ``exp`` and a new random ECDSA
nonce, hence a new assertion, so the no-``jti`` single-use rule (the assertion's hash is
the key) never blocks the retry. ``test_snippet_malformed_signature_is_refused`` forces
that case deterministically.

OpenSSL does not normalise ECDSA signatures either: every other run, ``s`` is above n/2.
The service refuses such a high-S signature by default (checklist auth rule 16: its twin
``(r, n − s)`` would verify too), with an ``error_description`` saying so, and the snippet
is run again; an operator whose offices use the snippet as published can accept high-S
(``HWS_ASSERTION_ACCEPT_HIGH_S=true``): single use keys on what was signed, so the twin is
still refused (``test_accepting_high_s_still_refuses_the_malleated_twin``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from hws.auth.jws_checks import is_high_s
from hws.keys.jose import P256_ORDER
from hws.keys.public_keys import b64url_decode, b64url_encode, public_jwk, thumbprint
from tests.support.certificates import self_signed
from tests.support.jose import form, new_ec_key
from tests.support.servers import RunningServer

pytestmark = pytest.mark.e2e

WIPO = Path(__file__).resolve().parent / "wipo"
APPENDIX_A = WIPO / "appendix_a_keygen.sh"
APPENDIX_C = WIPO / "appendix_c_token.sh"
SHELL_TOOLS = ("bash", "curl", "jq", "openssl", "base64", "xxd", "sed", "tr", "expr", "date")
CLIENT_ID = "das-api-auth"
SCOPE = "hws/requests"
ATTEMPTS = 40  # each run: P(high-S) = 1/2, P(short signature) = 1/128
CN = "DAS private_key_jwt authentication"


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def shell_tools() -> None:
    """The scripts need bash, curl, jq, openssl, base64 and xxd: skip without them, but
    fail loudly under CI, where the interoperability proof must not silently vanish."""
    missing = [tool for tool in SHELL_TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"WIPO's Appendix A/C scripts need {', '.join(missing)} (not found on PATH)"
        if _under_ci():
            pytest.fail(f"{message}; these are required under CI=true", pytrace=False)
        pytest.skip(message)


# Running the scripts -----------------------------------------------------------------------


def _script_env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HWS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["LC_ALL"] = "C"
    env.update(values)
    return env


def run_appendix_a(folder: Path, client_name: str = "DAS") -> subprocess.CompletedProcess[str]:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", str(APPENDIX_A)],
        cwd=folder,
        env=_script_env(CLIENT_NAME=client_name),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"Appendix A failed:\n{done.stderr}"
    return done


@dataclass
class SnippetRun:
    """One run of the Appendix C snippet: the token endpoint's answer and the assertion
    it sent (read from ``bash -x``'s trace, the script itself prints no assertion)."""

    response: dict[str, Any]
    assertion: str

    @property
    def signature(self) -> bytes:
        return b64url_decode(self.assertion.split(".")[2])


def run_appendix_c(
    server: RunningServer, private_key: Path, workdir: Path, *, client_id: str = CLIENT_ID, scope: str = SCOPE
) -> SnippetRun:
    workdir.mkdir(parents=True, exist_ok=True)
    env = _script_env(PRIVATE_KEY_ES256=str(private_key), CLIENT_ID=client_id, SCOPE=scope, ISSUER=server.issuer)
    done = subprocess.run(["bash", "-x", str(APPENDIX_C)], cwd=workdir, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"Appendix C failed ({done.returncode}):\n{done.stderr[-3000:]}"
    traced = re.findall(r"^\++ JWT_ASSERTION=(\S+)$", done.stderr, re.MULTILINE)
    assert len(traced) == 1, f"no assertion in the snippet's trace:\n{done.stderr[-3000:]}"
    try:
        response = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"the token endpoint's answer is not JSON: {done.stdout!r}\n{done.stderr[-3000:]}")
    return SnippetRun(response, traced[0])


@dataclass
class Attempts:
    runs: list[SnippetRun] = field(default_factory=list)

    @property
    def malformed(self) -> list[SnippetRun]:
        return [run for run in self.runs if len(run.signature) != 64]

    @property
    def high_s(self) -> list[SnippetRun]:
        return [run for run in self.runs if is_high_s(run.signature)]


def token_by_snippet(server: RunningServer, private_key: Path, workdir: Path) -> tuple[SnippetRun, Attempts]:
    """Run the snippet until it obtains a token (bounded): a run whose signature came out
    shorter than 64 bytes must be refused with invalid_client, any other failure is a bug."""
    attempts = Attempts()
    for n in range(ATTEMPTS):
        run = run_appendix_c(server, private_key, workdir / f"run-{n}")
        attempts.runs.append(run)
        if len(run.signature) != 64:
            assert run.response.get("error") == "invalid_client", (
                f"a {len(run.signature)}-byte ES256 signature must be refused with invalid_client: {run.response}"
            )
            continue
        if is_high_s(run.signature):  # openssl does not normalise: refused (auth rule 16), sign again
            assert run.response.get("error") == "invalid_client", f"a high-S signature must be refused: {run.response}"
            assert "low-S" in run.response.get("error_description", ""), run.response
            continue
        assert "access_token" in run.response, (
            f"a well-formed assertion of the snippet was refused: {run.response}\n{server.log()[-3000:]}"
        )
        return run, attempts
    pytest.fail(
        f"no token after {ATTEMPTS} runs of the snippet ({len(attempts.malformed)} malformed, "
        f"{len(attempts.high_s)} high-S signatures)"
    )


# The operator's side and the API ----------------------------------------------------------------


def enrol(server: RunningServer, cert: Path, client_id: str = CLIENT_ID) -> dict[str, Any]:
    done = server.hws(
        "admin",
        "clients",
        "add",
        "--cert",
        str(cert),
        "--office",
        "KR",
        "--ip",
        "127.0.0.1/32",
        "--client-id",
        client_id,
        "--json",
    )
    client: dict[str, Any] = json.loads(done.stdout)
    assert client["client_id"] == client_id
    assert SCOPE in client["scopes"]
    return client


def ping(server: RunningServer, token: str, name: str = "DAS") -> httpx.Response:
    return httpx.get(f"{server.api_url}/pingMe", params={"name": name}, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def assert_token_opens_ping(server: RunningServer, response: dict[str, Any]) -> None:
    assert response["token_type"] == "Bearer"
    assert response["expires_in"] == 3600
    assert response["scope"] == SCOPE
    answer = ping(server, response["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert "Hello DAS" in answer.text
    assert CLIENT_ID in answer.text


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stderr}"
    return done.stdout


def post_assertion(server: RunningServer, assertion: str) -> httpx.Response:
    return httpx.post(server.token_endpoint, data=form(assertion, scope=SCOPE), timeout=10)


# 1-4: Appendix A files, Appendix C token, pingMe --------------------------------------------------


def test_appendix_a_and_c_as_published_get_a_token_that_opens_ping(
    shell_tools: None, server: RunningServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    office = tmp_path / "office"
    run_appendix_a(office, "DAS")
    for name in ("hague4offices_private.pem", "hague4offices_public.pem", "es256_cert.pem"):
        assert (office / name).is_file(), name
    assert re.search(rf"CN\s*=\s*{CN}$", openssl("x509", "-in", str(office / "es256_cert.pem"), "-noout", "-subject").strip())

    client = enrol(server, office / "es256_cert.pem")
    assert client["office"] == "KR"
    # the key hws bound from es256_cert.pem is the Appendix A pair's public key
    public = serialization.load_pem_public_key((office / "hague4offices_public.pem").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert client["kid"] == thumbprint(public_jwk(public))

    run, attempts = token_by_snippet(server, office / "hague4offices_private.pem", tmp_path / "snippet")
    record_property("snippet_runs", len(attempts.runs))
    record_property("snippet_malformed_signatures", len(attempts.malformed))
    record_property("snippet_high_s_signatures", len(attempts.high_s))
    print(
        f"Appendix C: {len(attempts.runs)} run(s), {len(attempts.malformed)} malformed, "
        f"{len(attempts.high_s)} high-S signature(s)"
    )

    # the assertion is exactly WIPO's: typ JWT, no jti, aud = token endpoint, exp = now + 10 s
    header_b64, payload_b64, _ = run.assertion.split(".")
    assert json.loads(b64url_decode(header_b64)) == {"alg": "ES256", "typ": "JWT"}
    claims = json.loads(b64url_decode(payload_b64))
    assert set(claims) == {"iss", "sub", "aud", "exp"}
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"] == server.token_endpoint
    assert 0 < claims["exp"] - time.time() <= 11

    assert_token_opens_ping(server, run.response)

    # without a jti the hash of what was signed (header.payload) is its single-use key: the same bytes again fail
    replay = post_assertion(server, run.assertion)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


# 4: the snippet's DER -> raw conversion flaw, forced --------------------------------------------


def _snippet_like_assertion(server: RunningServer, key: ec.EllipticCurvePrivateKey) -> tuple[str, bytes, int, int]:
    """Header and payload as the snippet makes them (jq -c output), signed until r or s
    has a leading zero byte. Returns (signing input, DER signature, r, s)."""
    header = b64url_encode(b'{"alg":"ES256","typ":"JWT"}')
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": server.token_endpoint, "exp": int(time.time()) + 10}
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    for _ in range(20_000):  # P(r or s < 2**248) is about 1/128 per signature
        der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        if (r < 2**248 or s < 2**248) and s <= P256_ORDER // 2:  # low-S: the correct form is accepted
            return signing_input, der, r, s
    raise AssertionError("no signature with a leading zero byte in 20000 tries")


def _minimal(n: int) -> bytes:
    """What `openssl asn1parse` prints for a positive INTEGER, as bytes: no leading zeros."""
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def test_snippet_malformed_signature_is_refused(server: RunningServer, tmp_path: Path) -> None:
    key = new_ec_key()
    cert = tmp_path / "cert.pem"
    cert.write_bytes(self_signed(key, cn=CN))
    enrol(server, cert)

    signing_input, _der, r, s = _snippet_like_assertion(server, key)
    stripped = _minimal(r) + _minimal(s)
    assert len(stripped) < 64
    malformed = f"{signing_input}.{b64url_encode(stripped)}"
    refused = post_assertion(server, malformed)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "invalid_client"
    assert refused.headers["cache-control"] == "no-store"
    assert "access_token" not in refused.json()

    # the very same header, payload and (r, s), encoded as RFC 7518 §3.4 says: accepted
    # (a refused assertion is not remembered, and the bytes differ anyway)
    correct = f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    accepted = post_assertion(server, correct)
    assert accepted.status_code == 200, accepted.text
    assert_token_opens_ping(server, accepted.json())

    # and the correct one is single use (no jti: the assertion's hash is the key)
    again = post_assertion(server, correct)
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


def _snippet_conversion(der: bytes, workdir: Path) -> bytes:
    """Run the snippet's own DER -> raw lines (taken from the script file) on ``der``."""
    lines = [
        line for line in APPENDIX_C.read_text().splitlines() if line.startswith(("JSON_SIGNATURE_HEX=", "JSON_SIGNATURE_B64="))
    ]
    assert len(lines) == 2
    (workdir / "sig.der").write_bytes(der)
    program = "\n".join(
        [
            "JSON_SIGNATURE_ASN1_B64=$(openssl asn1parse -inform DER -in sig.der | base64 -w0)",
            *lines,
            'printf "%s" "$JSON_SIGNATURE_B64"',
        ]
    )
    done = subprocess.run(["bash", "-c", program], cwd=workdir, env=_script_env(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return b64url_decode(done.stdout) if done.stdout else b""


def test_snippet_conversion_is_what_the_malformed_test_assumes(shell_tools: None, tmp_path: Path) -> None:
    """The snippet's asn1parse/sed/xxd lines really drop leading zero bytes (so the forced
    case above is the snippet's), and keep 32+32 bytes when r and s are >= 2**248,
    including a high-bit r or s whose DER INTEGER carries a 00 sign byte."""
    key = new_ec_key()
    seen = {"short": False, "sign-byte": False}
    for n in range(20_000):  # signing is cheap; only the two interesting cases run the shell
        der = key.sign(f"message {n}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        case = "short" if (r < 2**248 or s < 2**248) else "sign-byte" if (r >= 2**255 or s >= 2**255) else None
        if case is None or seen[case]:
            continue
        raw = _snippet_conversion(der, tmp_path)
        assert raw == _minimal(r) + _minimal(s), (case, hex(r), hex(s), raw.hex())
        assert (len(raw) == 64) is (case == "sign-byte"), (case, len(raw))
        seen[case] = True
        if all(seen.values()):
            break
    assert all(seen.values()), seen


# 5: hws keygen files with Appendix A's OpenSSL commands and Appendix C --------------------------------


def test_hws_keygen_files_work_with_openssl_and_the_snippet(shell_tools: None, server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "keys"
    made = json.loads(server.hws("keygen", "--name", "DAS", "--out", str(out), "--json").stdout)
    private_key, public_key, cert = out / "private_key.pem", out / "public_key.pem", out / "cert.pem"
    assert made["common_name"] == CN
    assert Path(made["private_key"]) == private_key

    assert stat.S_IMODE(private_key.stat().st_mode) == 0o600
    assert private_key.read_text().startswith("-----BEGIN EC PRIVATE KEY-----")  # as `openssl ecparam -genkey -noout` writes it

    # Appendix A's "openssl ec -in PRIVATE -pubout" gives exactly public_key.pem
    assert openssl("ec", "-in", str(private_key), "-pubout") == public_key.read_text()
    assert "ASN1 OID: prime256v1" in openssl("ec", "-in", str(private_key), "-noout", "-text")
    # the certificate: CN as Appendix A's openssl.cnf makes it, and it carries that public key
    assert re.search(rf"CN\s*=\s*{CN}$", openssl("x509", "-in", str(cert), "-noout", "-subject").strip())
    assert openssl("x509", "-in", str(cert), "-noout", "-pubkey") == public_key.read_text()
    assert "ecdsa-with-SHA256" in openssl("x509", "-in", str(cert), "-noout", "-text")
    # OpenSSL signs with the hws key and verifies with the hws public key
    (tmp_path / "msg").write_bytes(b"hague")
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(private_key), str(tmp_path / "msg")], capture_output=True, check=True
    ).stdout
    public = serialization.load_pem_public_key(public_key.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"hague", ec.ECDSA(hashes.SHA256()))

    enrol(server, cert)
    run, attempts = token_by_snippet(server, private_key, tmp_path / "snippet")
    print(f"Appendix C with the hws key: {len(attempts.runs)} run(s), {len(attempts.malformed)} malformed signature(s)")
    assert_token_opens_ping(server, run.response)


def test_accepting_high_s_still_refuses_the_malleated_twin(tmp_path: Path) -> None:
    """With ``HWS_ASSERTION_ACCEPT_HIGH_S=true`` a snippet-like assertion (no jti) with a
    high-S signature gets a token; its low-S twin ``(r, n − s)`` — a different signature
    of the same header.payload — is a replay, and so is the original sent again."""
    from tests.support.jose import malleate
    from tests.support.servers import start_server

    server = start_server(tmp_path / "server", extra_env={"HWS_ASSERTION_ACCEPT_HIGH_S": "true"})
    try:
        key = new_ec_key()
        cert = tmp_path / "cert.pem"
        cert.write_bytes(self_signed(key, cn=CN))
        enrol(server, cert)
        header = b64url_encode(b'{"alg":"ES256","typ":"JWT"}')
        claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": server.token_endpoint, "exp": int(time.time()) + 10}
        signing_input = f"{header}.{b64url_encode(json.dumps(claims, separators=(',', ':')).encode())}"
        while True:  # as openssl signs: whatever s comes out; keep a high one
            r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
            if s > P256_ORDER // 2:
                break
        high = f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
        accepted = post_assertion(server, high)
        assert accepted.status_code == 200, accepted.text
        assert_token_opens_ping(server, accepted.json())
        for replay in (malleate(high), high):
            refused = post_assertion(server, replay)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", refused.text
            assert refused.json()["error_description"] == "the client assertion has already been used"
    finally:
        server.stop()
