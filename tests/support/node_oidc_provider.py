"""node-oidc-provider (npm ``oidc-provider``) as a real, independent authorization server
for tests: the bench's ``bench/oidc-provider/server.mjs``, installed once per machine
(npm registry) into ``~/.cache/hws-tests`` and started on a free loopback port."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "bench" / "oidc-provider"


def install() -> Path:
    """A folder holding server.mjs and node_modules/oidc-provider (the version the bench pins);
    only oidc-provider is installed (the bench's SQLite adapter is not needed here)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are needed (Debian's nodejs/npm, as the bench uses)")
    version = json.loads((SOURCE / "package.json").read_text())["dependencies"]["oidc-provider"]
    folder = Path.home() / ".cache" / "hws-tests" / f"oidc-provider-{hashlib.sha256(version.encode()).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    for source in SOURCE.glob("*.mjs"):
        shutil.copyfile(source, folder / source.name)
    if not (folder / "node_modules" / "oidc-provider" / "package.json").exists():
        (folder / "package.json").write_text(
            json.dumps(
                {"name": "hws-test-oidc-provider", "private": True, "type": "module", "dependencies": {"oidc-provider": version}}
            )
        )
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(client_id: str, client_jwk: dict[str, str], work: Path, *flags: str) -> Iterator[str]:
    """Start the provider with one private_key_jwt client; yields its issuer URL."""
    folder = install()
    jwk_file = work / "client.jwk.json"
    jwk_file.write_text(json.dumps(client_jwk))
    port = _free_port()
    log = (work / "oidc-provider.log").open("w")
    process = subprocess.Popen(
        ["node", "server.mjs", "--port", str(port), "--client-id", client_id, "--client-jwk", str(jwk_file), *flags],
        cwd=folder, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("ready "):
                yield line.split(" ", 1)[1].strip()
                return
            if not line and process.poll() is not None:
                break
        raise RuntimeError(f"oidc-provider did not start; see {work / 'oidc-provider.log'}")
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
