"""``hws watch`` on a bad day, through its real entry point against the real server (or
none): a rejected import, a hook that keeps failing, a package the service refuses
outright, identifiers the service does not know, an office that is not examining, a
service that is down, a state file that is another office's or already in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hws.client.enrolment import generate
from hws.client.watch_state import WatchState
from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, RunningServer, free_port, start_server, until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("watch-cases")]

#: small enough that a 40 KB file is refused at the door (413)
MAX_PACKAGE = 32_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("watch-server"),
        extra_env={**SANDBOX, "HWS_MAX_PACKAGE_BYTES": str(MAX_PACKAGE)},
    )
    yield running
    running.stop()


@dataclass
class Office:
    env: dict[str, str]
    folder: Path

    def watch(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hws", "watch", "--out", str(self.folder / "dl"), *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def events(self, result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def shown(self) -> dict[str, Any]:
        result = self.watch("--show", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]


def office_of(server: RunningServer, folder: Path, code: str, *flags: str) -> Office:
    files = generate(code, folder / "keys")
    created = json.loads(
        server.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", code,
                   "--ip", "127.0.0.1/32", *flags, "--json").stdout
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update({"HWS_CONFIG_HOME": str(folder / "config"), "HWS_ISSUER": server.issuer,
                "HWS_CLIENT_ID": created["client_id"], "HWS_PRIVATE_KEY": str(files.private_key)})  # fmt: skip
    return Office(env, folder)


def test_rejected_import_and_a_hook_that_keeps_failing(server: RunningServer, tmp_path: Path) -> None:
    office = office_of(server, tmp_path, "EM", "--examining")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "foreign.zip").write_bytes(example_package("application", office="KR", office_reference="KR-NOT-OURS"))
    os.utime(outbox / "foreign.zip", (0, 0))
    hook = 'test "$HWS_EVENT" != import.rejected || { echo "ticket system down" >&2; exit 3; }'
    args = ("--outbox", str(outbox), "--hook", hook, "--hook-attempts", "2", "--once", "--json")

    first = office.watch(*args)
    assert first.returncode == 0, first.stderr
    [sent] = [e for e in office.events(first) if e["event"] == "package.submitted"]
    assert sent["package"] == "foreign.zip" and (outbox / "sent" / "foreign.zip").exists()

    def rejected() -> dict[str, Any] | None:
        result = office.watch(*args)
        assert result.returncode == 0, result.stderr
        return next((e for e in office.events(result) if e["event"] == "import.rejected"), None)

    event = until(rejected, what="the rejection")
    assert event["import_id"] == sent["import_id"] and event["errors"] >= 1
    assert "office-code-mismatch" in {p["code"] for p in event["problems"]}

    # the hook failed at the round that recorded it; one more round, and it is given up
    again = office.watch(*args)
    assert "hook for import.rejected" in again.stderr and "given up" in again.stderr and "ticket system down" in again.stderr
    hooks = {e["event"]: (e["hook"], e["hook_attempts"]) for e in office.shown()["events"]}
    assert hooks["package.submitted"] == ("done", 1) and hooks["import.rejected"] == ("failed", 2)
    assert office.events(office.watch(*args)) == []  # nothing new, and the given-up hook is not run again


def test_a_package_refused_at_the_door_goes_to_refused(server: RunningServer, tmp_path: Path) -> None:
    office = office_of(server, tmp_path, "EM")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "huge.zip").write_bytes(os.urandom(MAX_PACKAGE + 8_000))
    os.utime(outbox / "huge.zip", (0, 0))
    (outbox / "fresh.zip").write_bytes(b"still being written")  # changed just now: left for a later round
    (outbox / "notes.txt").write_text("not a package")
    result = office.watch("--outbox", str(outbox), "--once", "--json")
    assert result.returncode == 0, result.stderr
    [refused] = office.events(result)
    assert (refused["event"], refused["package"], refused["http_status"]) == ("package.refused", "huge.zip", 413)
    assert (outbox / "refused" / "huge.zip").exists()
    assert "413" in (outbox / "refused" / "huge.zip.problem.txt").read_text()
    assert sorted(p.name for p in outbox.iterdir() if p.is_file()) == ["fresh.zip", "notes.txt"]


def test_identifiers_the_service_does_not_know(server: RunningServer, tmp_path: Path) -> None:
    office = office_of(server, tmp_path, "EM")
    unknown_import, unknown_request = "01M8ZGJ9V2RCRD5NZF6J2AF9TW", "970999999"
    result = office.watch("--follow", unknown_import, "--follow", unknown_request, "--once", "--json")
    assert result.returncode == 0, result.stderr
    assert {(e["event"], e.get("import_id") or e.get("srn")) for e in office.events(result)} == {
        ("import.not-found", unknown_import),
        ("request.not-found", unknown_request),
    }
    assert all(item["final"] for item in office.shown()["followed"])  # not asked for again

    wrong = office.watch("--follow", "DM/123", "--once")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "error: --follow DM/123: neither an import ID (26 characters) nor a service request number (970…)"
    ]


def test_an_office_that_is_not_examining(server: RunningServer, tmp_path: Path) -> None:
    office = office_of(server, tmp_path, "JP")
    auto = office.watch("--once")
    assert auto.returncode == 0, auto.stderr
    assert "no confidential copies" in auto.stderr and "only bulletins are downloaded" in auto.stderr
    insisted = office.watch("--confidential", "--once", "--json")
    assert insisted.returncode == 4
    failure = json.loads(insisted.stdout)
    assert failure["exit_code"] == 4 and failure["status"] == 403


def test_service_down(tmp_path: Path) -> None:
    files = generate("EM", tmp_path / "keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
    env.update({"HWS_CONFIG_HOME": str(tmp_path / "config"), "HWS_ISSUER": f"http://127.0.0.1:{free_port()}/oauth2",
                "HWS_CLIENT_ID": "nobody", "HWS_PRIVATE_KEY": str(files.private_key)})  # fmt: skip
    office = Office(env, tmp_path)
    down = office.watch("--once")
    assert down.returncode == 3
    [line] = down.stderr.strip().splitlines()
    assert line.startswith("error: cannot connect to http://127.0.0.1:") and "connection refused" in line
    as_json = json.loads(office.watch("--once", "--json").stdout)
    assert as_json["kind"] == "connection-refused" and as_json["exit_code"] == 3


def test_a_state_file_is_one_offices_and_one_watchers(server: RunningServer, tmp_path: Path) -> None:
    em, jp = office_of(server, tmp_path / "em", "EM"), office_of(server, tmp_path / "jp", "JP")
    state = tmp_path / "shared.sqlite"
    assert em.watch("--state", str(state), "--once").returncode == 0
    other = jp.watch("--state", str(state), "--once")
    assert other.returncode == 2
    assert "is the state of office EM, and this profile's client is of office JP" in other.stderr

    with WatchState(state):  # a watcher running on it
        started = time.monotonic()
        busy = em.watch("--state", str(state), "--once")
        assert busy.returncode == 2 and "in use by another hws watch" in busy.stderr
        assert time.monotonic() - started < 60
