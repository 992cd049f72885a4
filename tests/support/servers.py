"""Start the real server (``python -m hws serve``) on a free port, for end-to-end tests."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hws.client import HagueClient
from hws.client.enrolment import generate

#: A sandbox that walks the life cycle alone: automatic examination registering every
#: application (``HWS_AUTO_IRREGULARITY`` ``always`` for a first irregularity), the
#: movable calendar, a scheduler and workers that look often.
SANDBOX = {
    "HWS_SANDBOX": "1",
    "HWS_EXAMINATION": "auto",
    "HWS_AUTO_IRREGULARITY": "never",
    "HWS_SCHEDULER_INTERVAL": "0.3",
    "HWS_WORKER_POLL_INTERVAL": "0.1",
}


def run_hws(
    args: Sequence[str], env: Mapping[str, str], *, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``hws *args`` in this process with ``env`` as its environment (``os.environ`` is
    restored afterwards), as a :class:`subprocess.CompletedProcess`: its exit status, stdout
    and stderr apart. ``check``: :class:`subprocess.CalledProcessError` on a non-zero status."""
    from typer.testing import CliRunner

    from hws.cli.main import app

    changes: dict[str, str | None] = {name: None for name in os.environ if name not in env}
    changes.update({name: value for name, value in env.items() if os.environ.get(name) != value})
    result = CliRunner().invoke(app, list(args), env=changes, input=input)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # what the interpreter would have printed for an exception the command let through
        stderr += "".join(traceback.format_exception(result.exception))
    command = ["hws", *args]
    done = subprocess.CompletedProcess(command, result.exit_code, result.stdout, stderr)
    if check and result.exit_code != 0:
        raise subprocess.CalledProcessError(result.exit_code, command, result.stdout, stderr)
    return done


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.url}/oauth2"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/access_token"

    @property
    def api_url(self) -> str:
        return f"{self.url}/webservices/api/v1"

    def hws(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run an ``hws`` command against this server's settings, in this process (its
        environment for the time of the command): the command line, exit status, stdout and
        stderr of ``python -m hws``, without a new interpreter importing the service each
        time (about 1.3 s of CPU per command). The entry point itself is tested in
        tests/cli/test_cli_startup.py; :meth:`hws_process` runs the real one."""
        return run_hws(args, self.env, check=check, input=input)

    def hws_process(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``python -m hws`` in a process of its own, against this server's settings."""
        return subprocess.run(
            [sys.executable, "-m", "hws", *args], env=self.env, capture_output=True, text=True, check=check, timeout=120
        )

    def enrol(self, office: str, *args: str) -> HagueClient:
        """A new client of ``office`` (its keys made beside the data folder, allowed from
        127.0.0.1, ``args`` passed to ``hws admin clients add``), as the office kit's client."""
        files = generate(office, self.data_dir.parent / f"keys-{office}-{secrets.token_hex(4)}")
        created = json.loads(
            self.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", office,
                     "--ip", "127.0.0.1/32", *args, "--json").stdout
        )  # fmt: skip
        return HagueClient(issuer=self.issuer, client_id=created["client_id"], private_key=files.private_key)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, *, wait: bool = True) -> None:
        """SIGTERM, then wait for the exit (SIGKILL after 15 s). ``wait=False``, for a
        fixture's teardown when nothing reads the data folder again: the process ends in the
        background (about a second once its app is shut down) while the next test starts;
        it is waited for before this interpreter exits."""
        if not wait:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                _stopping.append(self.process)
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


#: servers told to stop (``stop(wait=False)``) that may not have exited yet
_stopping: list[subprocess.Popen[bytes]] = []


@atexit.register
def _wait_for_stopping_servers() -> None:
    for process in _stopping:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def start_server(
    data_dir: Path,
    *,
    database_url: str | None = None,
    extra_env: dict[str, str | None] | None = None,
    serve_args: tuple[str, ...] = (),
    ready_timeout: float = 60,
) -> RunningServer:
    _stopping[:] = [process for process in _stopping if process.poll() is None]  # the exited ones reaped
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update(
        {
            "HWS_DATA_DIR": str(data_dir),
            "HWS_PUBLIC_URL": url,
            "HWS_LOG_FORMAT": "json",
            "HWS_CONFIG_HOME": str(data_dir / "office-config"),
            # Load and concurrency tests drive many requests from one address and client:
            # limits are exercised by their own tests (tests/api/test_ratelimit.py).
            "HWS_TOKEN_RATE_PER_MINUTE": "0",
            "HWS_RATE_LIMIT_PER_MINUTE": "0",
            "HWS_MAX_CONCURRENT_PER_CLIENT": "0",
            # no schema set installed unless a test installs one: V6_0 packages get
            # structural checks, as the operator allows here explicitly
            "HWS_STRUCTURAL_ONLY_VERSIONS": "V6_0",
        }
    )
    if database_url:
        env["HWS_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    env = {name: value for name, value in env.items() if value is not None}  # None: unset it
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [sys.executable, "-m", "hws", "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = RunningServer(url, port, data_dir, env, process, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not become ready:\n{server.log()}")


def until(predicate, timeout: float = 60, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` every 0.2 s until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")
