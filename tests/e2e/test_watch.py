"""``hws watch`` end to end: the real server (sandbox, automatic examination), the real
``hws`` command in its own process, a package dropped in its outbox, two weeks published
by moving the sandbox clock; the watcher is killed with SIGKILL in the middle of a
download (its answers trickle through a throttled loopback proxy) and started again:
both weeks' bulletins and confidential copies are there and verified, every event was
hooked exactly once, and the interrupted download was resumed, not started again."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, RunningServer, start_server, until
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

OFFICE = "EM"
#: the hook: one line per run, the event's stable ID and its type, appended
HOOK = 'printf "%s %s\\n" "$HWS_EVENT_ID" "$HWS_EVENT" >> "$HOOK_LOG"'


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    yield server
    server.stop()


class Watch:
    """``hws watch`` run as an office runs it, one process per start."""

    def __init__(self, server: RunningServer, proxy: TcpProxy, tmp_path: Path) -> None:
        files = generate(OFFICE, tmp_path / "keys")
        created = json.loads(
            server.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", OFFICE,
                       "--ip", "127.0.0.1/32", "--examining", "--json").stdout
        )  # fmt: skip
        self.client = {"issuer": server.issuer, "client_id": created["client_id"], "private_key": files.private_key}
        self.tmp = tmp_path
        self.out, self.outbox, self.hook_log = tmp_path / "dl", tmp_path / "outbox", tmp_path / "hooks.log"
        self.outbox.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
        self.env.update({
            "HWS_CONFIG_HOME": str(tmp_path / "config"),
            "HWS_ISSUER": server.issuer,
            # the API through the proxy (the token endpoint is the discovered one, direct)
            "HWS_API_URL": f"http://127.0.0.1:{proxy.port}/webservices/api/v1",
            "HWS_CLIENT_ID": created["client_id"],
            "HWS_PRIVATE_KEY": str(files.private_key),
            "HOOK_LOG": str(self.hook_log),
        })  # fmt: skip
        self.runs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> subprocess.Popen[bytes]:
        stdout = self.tmp / f"watch-{len(self.runs)}.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "hws", "watch", "--out", str(self.out), "--outbox", str(self.outbox),
             "--hook", HOOK, "--interval", "0.3", "--json"],
            env=self.env, stdout=stdout.open("wb"), stderr=(self.tmp / f"watch-{len(self.runs)}.err").open("wb"),
        )  # fmt: skip
        self.runs.append((process, stdout))
        return process

    def events(self) -> list[dict[str, Any]]:
        lines = [line for _, path in self.runs for line in path.read_text().splitlines() if line.strip()]
        return [json.loads(line) for line in lines]

    def event(self, kind: str, **fields: Any) -> dict[str, Any] | None:
        return next((e for e in self.events() if e["event"] == kind and all(e.get(k) == v for k, v in fields.items())), None)

    def hooked(self) -> list[str]:
        return self.hook_log.read_text().splitlines() if self.hook_log.exists() else []

    def drop(self, reference: str) -> None:
        """A package put in the outbox as an office system would: written, then renamed."""
        data = example_package(
            "application", office=OFFICE, office_reference=reference, deferment=None, immediate_publication=True
        )
        part = self.outbox / f"{reference}.zip.tmp"
        part.write_bytes(data)
        os.utime(part, (0, 0))  # long written: the outbox does not wait for it to settle
        part.rename(self.outbox / f"{reference}.zip")

    def diagnostics(self) -> str:
        return "\n".join(
            f"--- run {i}: {path.read_text()}\n{path.with_suffix('.err').read_text()}" for i, (_, path) in enumerate(self.runs)
        )


def publish(server: RunningServer, week: Week) -> None:
    """Move the sandbox clock a minute past ``week``'s publication moment."""
    now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
    seconds = int((Schedule().moment(week) - now).total_seconds()) + 60
    if seconds > 0:
        moved = server.hws("admin", "clock", "advance", f"{seconds}s", check=False)
        assert moved.returncode == 0, moved.stdout + moved.stderr


def registered_week(watch: Watch, reference: str) -> Week:
    """The week the application of ``reference`` is to be published in, once registered."""
    submitted = until(lambda: watch.event("package.submitted", package=f"{reference}.zip"), what=f"{reference} sent")
    imported = until(lambda: watch.event("import.imported", import_id=submitted["import_id"]), what=f"{reference} imported")
    status = until(lambda: watch.event("request.status", srn=imported["srn"], status="Registered"), what="registration")
    return Week.of(date.fromisoformat(status["expected_publication"]))


def test_watch_follows_downloads_survives_sigkill_and_hooks_each_event_once(sandbox: RunningServer, tmp_path: Path) -> None:
    server = sandbox
    with TcpProxy("127.0.0.1", server.port) as proxy:
        watch = Watch(server, proxy, tmp_path)
        try:
            first = watch.start()
            watch.drop("EM-WATCH-1")
            week_a = registered_week(watch, "EM-WATCH-1")

            # Week A is published while the answers trickle: killed mid-download.
            proxy.rate = 256  # a bulletin of a few KiB takes seconds
            publish(server, week_a)
            part = watch.out / f"bulletin-{week_a.id}.zip.part"
            until(lambda: part.exists() and part.stat().st_size > 0, what="the bulletin download under way")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            cut_at = part.stat().st_size
            assert not (watch.out / f"bulletin-{week_a.id}.zip").exists()

            # While it is down, the office drops the next package; then it starts again.
            watch.drop("EM-WATCH-2")
            proxy.rate = None
            second = watch.start()
            resumed = until(lambda: watch.event("bulletin.downloaded", week=week_a.id), what=f"bulletin {week_a.id}")
            assert resumed["outcome"] == "resumed" and resumed["resumed_from"] >= cut_at > 0
            week_b = registered_week(watch, "EM-WATCH-2")
            assert week_b > week_a

            publish(server, week_b)
            until(lambda: watch.event("bulletin.downloaded", week=week_b.id), what=f"bulletin {week_b.id}")
            with HagueClient(**watch.client) as office:  # type: ignore[arg-type]
                bulletins = {p.week: p for p in office.list_bulletins()}
                copies = {p.week: p for p in office.list_confidential()}
            until(lambda: all(watch.event("confidential.downloaded", week=w) for w in copies), what="confidential copies")
            until(lambda: len(watch.hooked()) >= len(watch.events()), what="the hooks of every event")
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        except BaseException:
            print(watch.diagnostics())
            raise
        finally:
            for process, _ in watch.runs:
                if process.poll() is None:
                    process.kill()

    # Both weeks there and verified against the service's listing; no part file left.
    assert {week_a.id, week_b.id} <= set(bulletins)
    for week, listed in bulletins.items():
        data = (watch.out / f"bulletin-{week}.zip").read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed.sha256 and len(data) == listed.size
    assert copies, "the examining office has confidential copies"
    for week, listed in copies.items():
        data = (watch.out / f"confidential-{OFFICE}-{week}.zip").read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed.sha256
    assert not list(watch.out.glob("*.part*"))
    assert sorted(p.name for p in (watch.outbox / "sent").iterdir()) == ["EM-WATCH-1.zip", "EM-WATCH-2.zip"]

    # Each hook ran exactly once, for every event recorded, whichever run recorded it.
    hooked = Counter(line.split()[0] for line in watch.hooked())
    assert [key for key, n in hooked.items() if n != 1] == []
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "hws", "watch", "--out", str(watch.out), "--show", "--json"],
        env=watch.env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout)  # fmt: skip
    recorded = {e["id"] for e in shown["events"]}
    assert set(hooked) == recorded and {e["hook"] for e in shown["events"]} == {"done"}
    expected = {f"bulletin:{week_a.id}", f"bulletin:{week_b.id}", *(f"confidential:{w}" for w in copies)}
    assert expected <= recorded
    assert sum(1 for key in recorded if key.startswith("package:")) == 2
    assert sorted(d["week"] for d in shown["downloads"] if d["kind"] == "bulletin") == sorted([week_a.id, week_b.id])
