"""What ``hws serve`` says when it starts: a sandbox says so first; the first-start hints
point the operator command at the service's own data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import SANDBOX, start_server

pytestmark = pytest.mark.e2e


def test_a_sandbox_says_so_and_production_does_not(tmp_path: Path) -> None:
    sandbox = start_server(tmp_path / "sandbox", extra_env=SANDBOX)
    try:
        log = sandbox.log()
        assert "SANDBOX (HWS_SANDBOX=1): a test service" in log
        assert "examination is auto (sandbox rules decide)" in log
        # the hints name the data folder, so they work from any folder
        assert f"hws admin --data-dir {(tmp_path / 'sandbox').resolve()} clients add" in log.replace("'", "")
    finally:
        sandbox.stop()
    production = start_server(tmp_path / "production")
    try:
        assert "SANDBOX" not in production.log()
    finally:
        production.stop()
