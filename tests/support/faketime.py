"""Run a command with the machine's clock moved (Debian's ``faketime``, libfaketime).

Only the wall clock moves (``time.time``, ``datetime.now``, ``date``, …); the monotonic
clock stays real, so timeouts and leases behave. Child processes inherit the fake clock
(``LD_PRELOAD`` and the environment are passed down), so a server started by a test run
under faketime lives on the same date as the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

SHIM = Path(__file__).with_name("faketime_shim")


def faketime_binary() -> str:
    found = shutil.which("faketime")
    if found is None:
        raise RuntimeError("Debian's faketime is not installed: `apt-get install faketime` (make test installs it)")
    return found


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["TZ"] = "UTC"
    env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SHIM), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def run_at(
    moment: str,
    command: Sequence[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with the wall clock starting at ``moment`` (``YYYY-MM-DD HH:MM:SS``, UTC)
    and advancing in real time."""
    return subprocess.run(
        [faketime_binary(), moment, *command],
        env={**environment(), **(extra_env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
