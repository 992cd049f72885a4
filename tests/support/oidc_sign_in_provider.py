"""An OpenID Connect provider people sign in at, for the console's single sign-on tests:
node-oidc-provider (npm ``oidc-provider``), installed as the DPoP interop tests install it
(:func:`tests.support.node_oidc_provider.install`, into ``~/.cache/hws-tests``), running
``oidc_sign_in_provider.mjs`` beside this module on a free loopback port.

Its issuer is ``http://localhost:<port>`` while the hws server under test is
``http://127.0.0.1:<port>``: two different sites to the browser, so the round trip
through the provider is cross-site as in a deployment (cookies' SameSite rules apply)."""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import node_oidc_provider
from tests.support.servers import free_port

SCRIPT = Path(__file__).with_name("oidc_sign_in_provider.mjs")


@dataclass
class Account:
    password: str
    claims: dict[str, Any]


@dataclass
class SignInProvider:
    issuer: str
    port: int
    client_id: str
    client_secret: str
    accounts_file: Path
    log_path: Path
    accounts: dict[str, Account] = field(default_factory=dict)

    def set_account(self, username: str, password: str, **claims: Any) -> Account:
        """Add or change an account (read by the provider at each sign-in)."""
        self.accounts[username] = Account(password, {"preferred_username": username, **claims})
        self._write()
        return self.accounts[username]

    def _write(self) -> None:
        data = {name: {"password": a.password, "claims": a.claims} for name, a in self.accounts.items()}
        temporary = self.accounts_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(self.accounts_file)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def env(self) -> dict[str, str | None]:
        """The hws server's settings for signing in here."""
        return {
            "HWS_CONSOLE_OIDC_ISSUER": self.issuer,
            "HWS_CONSOLE_OIDC_CLIENT_ID": self.client_id,
            "HWS_CONSOLE_OIDC_CLIENT_SECRET": self.client_secret,
        }


def install() -> Path:
    """The installed oidc-provider's folder (installed once per machine; npm needed the
    first time: a failure to install is an error, not a skip), with this script in it."""
    folder = node_oidc_provider.install()
    target = folder / SCRIPT.name
    if not target.exists() or target.read_bytes() != SCRIPT.read_bytes():
        # atomically: another test process may be starting node on it right now
        temporary = folder / f".{SCRIPT.name}.{os.getpid()}"
        shutil.copyfile(SCRIPT, temporary)
        os.replace(temporary, target)
    return folder


def _port_outside_ephemeral_range() -> int:
    """A free port the kernel will not hand out meanwhile: the port is chosen here but
    bound only once the hws server has started, and that server (like every other test
    server) takes an ephemeral port; a port below the ephemeral range cannot be it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, max(low, 10001))
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def planned(work: Path) -> SignInProvider:
    """A provider's port, issuer and client secret chosen ahead (the hws server needs them
    in its settings before it starts; the provider needs the server's address to start)."""
    work.mkdir(parents=True, exist_ok=True)
    port = _port_outside_ephemeral_range()
    provider = SignInProvider(
        issuer=f"http://localhost:{port}",
        port=port,
        client_id="hws-console",
        client_secret=secrets.token_urlsafe(24),
        accounts_file=work / "accounts.json",
        log_path=work / "oidc-sign-in-provider.log",
    )
    provider._write()
    return provider


@contextmanager
def running(provider: SignInProvider, *, hws_url: str, claims_parameter: bool = True) -> Iterator[SignInProvider]:
    """Start ``provider`` for the console at ``hws_url`` (its callback and sign-in page
    registered); yields it once it listens. Without ``claims_parameter`` the provider
    does not support the claims request parameter: the role comes with the scope ``hws``,
    from the userinfo endpoint only."""
    folder = install()
    log = provider.log_path.open("w")
    process = subprocess.Popen(
        [
            # --name=value: a value may start with a dash (a token_urlsafe secret does, now and then)
            "node", SCRIPT.name, f"--port={provider.port}", f"--issuer={provider.issuer}", f"--client-id={provider.client_id}",
            f"--client-secret={provider.client_secret}", f"--redirect-uri={hws_url}/console/sso/callback",
            f"--post-logout-redirect-uri={hws_url}/console/sign-in", f"--accounts={provider.accounts_file}",
            *([] if claims_parameter else ["--no-claims-parameter"]),
        ],
        cwd=folder, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("ready "):
                break
            if not line and process.poll() is not None:
                raise RuntimeError(f"the OpenID Connect provider did not start:\n{provider.log()}")
        else:
            raise RuntimeError(f"the OpenID Connect provider did not start in time:\n{provider.log()}")
        yield provider
    except BaseException:
        sys.stderr.write(f"--- the OpenID Connect provider's log ---\n{provider.log()}\n")
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
