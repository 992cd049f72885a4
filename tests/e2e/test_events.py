"""Signed notifications and the event feed (issue 13), on the real server.

Webhook deliveries are checked by the ``standardwebhooks`` package from PyPI (not our
code) and their envelopes read by the ``cloudevents`` SDK; time moves with the sandbox
clock (``hws admin clock advance``), never by sleeping through a retry window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat
from standardwebhooks.webhooks import Webhook

from hws.client import HagueClient
from hws.client.enrolment import generate
from hws.client.errors import APIError
from hws.client.events import FeedEvent
from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support import servers
from tests.support.servers import RunningServer, start_server, until
from tests.support.webhook_receiver import Received, Receiver

pytestmark = pytest.mark.e2e

PREFIX = "int.wipo.hws."
#: a sandbox whose operator allows webhooks to loopback over http (the receivers here)
LOOPBACK = {**servers.SANDBOX, "HWS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32", "HWS_WEBHOOK_ALLOW_HTTP": "1"}
#: longer than any retry delay with its jitter (10 h + 20 %)
PAST_ANY_RETRY = 13 * 3600


def add_webhook(server: RunningServer, office: str, url: str) -> dict[str, Any]:
    result = server.hws("admin", "clients", "webhooks", "add", "--office", office, "--url", url, "--json")
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def deliveries(server: RunningServer, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        server.hws("admin", "clients", "webhooks", "deliveries", endpoint_id, "--json").stdout
    )
    return found


def verified(secret: str, got: Received) -> dict[str, Any]:
    """The event, once ``standardwebhooks`` accepts its signature and the CloudEvents SDK its envelope."""
    payload: dict[str, Any] = Webhook(secret).verify(got.body, got.headers)
    event = JSONFormat().read(None, got.body)
    assert event.get_specversion() == "1.0" and event.get_id() == payload["id"] == got.headers["webhook-id"]
    return payload


def application(tmp_path: Path, reference: str, office: str = "KR", **changes: Any) -> Path:
    package = tmp_path / f"{reference}.zip"
    package.write_bytes(example_package("application", office=office, office_reference=reference, **changes))
    return package


def sandbox_now(server: RunningServer) -> datetime:
    return datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])


def advance(server: RunningServer, seconds: int) -> None:
    server.hws("admin", "clock", "advance", f"{seconds}s")


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "server", extra_env=LOOPBACK)
    yield server
    server.stop()


def test_a_webhook_receives_the_life_cycle_in_order_signed(loopback: RunningServer, tmp_path: Path) -> None:
    server = loopback
    receiver = Receiver().start()
    try:
        kr = server.enrol("KR")
        endpoint = add_webhook(server, "KR", f"{receiver.url}/hague")
        assert endpoint["secret"].startswith("whsec_")
        receipt = kr.submit(application(tmp_path, "KR-HOOK-1", deferment=None, immediate_publication=True))
        srn = kr.wait_for_import(receipt.import_id, timeout=60).srn

        def types() -> list[str]:
            return [verified(endpoint["secret"], got)["type"].removeprefix(PREFIX) for got in receiver.requests()]

        until(lambda: len(types()) >= 3, what="accepted, taken up and registered")
        registered = verified(endpoint["secret"], receiver.requests()[2])["data"]
        assert registered["status"] == "Registered" and registered["serviceRequestNumber"] == srn
        week = Week.of(date.fromisoformat(registered["expectedPublicationDate"]))
        advance(server, int((Schedule().moment(week) - sandbox_now(server)).total_seconds()) + 60)
        until(lambda: "bulletin.published" in types(), timeout=120, what="the bulletin's event")

        events = [verified(endpoint["secret"], got) for got in receiver.requests()]
        assert [e["type"].removeprefix(PREFIX) for e in events] == [
            "import.accepted", "request.status-changed", "request.status-changed", "bulletin.published",
        ]  # fmt: skip
        assert [e["data"]["status"] for e in events[1:3]] == ["Processing", "Registered"]
        assert events[0]["data"]["serviceRequestNumber"] == srn and events[0]["subject"] == receipt.import_id
        assert events[3]["data"]["week"] == week.id and registered["internationalRegistrationNumber"]
        assert [e["hwssequence"] for e in events] == [1, 2, 3, 4]
        assert all(got.path == "/hague" for got in receiver.requests())
        # the same events in the office's feed
        feed = list(kr.events(cursor="0", wait=0, until_idle=True))
        assert [e.id for e in feed] == [e["id"] for e in events]
        kr.close()
    finally:
        receiver.stop()


def test_failed_tries_are_retried_then_a_dead_letter_is_redelivered_by_the_operator(
    loopback: RunningServer, tmp_path: Path
) -> None:
    server = loopback
    server.enrol("KR")
    # 500 for the first three tries, then 200: one delivery more per failure, then done.
    flaky = Receiver(answer=lambda _r, n: (500, {}) if n <= 3 else (200, {})).start()
    try:
        endpoint = add_webhook(server, "KR", f"{flaky.url}/flaky")
        server.hws("admin", "clients", "webhooks", "test", endpoint["id"], "--wait", "0")
        for tries in (1, 2, 3):
            until(lambda tries=tries: len(flaky.requests()) >= tries, what=f"try {tries}")
            until(lambda tries=tries: deliveries(server, endpoint["id"])[0]["attempts"] >= tries, what="its record")
            advance(server, PAST_ANY_RETRY)
        until(lambda: deliveries(server, endpoint["id"])[0]["status"] == "delivered", what="delivery")
        advance(server, PAST_ANY_RETRY)  # nothing more is sent once it was delivered
        assert server.hws("admin", "clients", "webhooks", "test", endpoint["id"], "--wait", "30").returncode == 0
        got = flaky.requests()
        assert len(got) == 5  # 3 failures + 1 delivery + the second test
        assert len({r.headers["webhook-id"] for r in got[:4]}) == 1  # the same message each time
        for request in got:
            verified(endpoint["secret"], request)
        record = deliveries(server, endpoint["id"])[1]
        assert (record["status"], record["attempts"], record["lastStatus"]) == ("delivered", 4, 200)
    finally:
        flaky.stop()

    # The receiver is down for the whole retry window: dead-lettered after the last try.
    down = Receiver()  # not started: its port refuses connections
    endpoint = add_webhook(server, "KR", f"{down.url}/down")
    server.hws("admin", "clients", "webhooks", "test", endpoint["id"], "--wait", "0")
    for tries in range(1, 9):
        until(lambda tries=tries: deliveries(server, endpoint["id"])[0]["attempts"] >= tries, what=f"try {tries}")
        advance(server, PAST_ANY_RETRY)
    dead = deliveries(server, endpoint["id"])[0]
    assert (dead["status"], dead["attempts"]) == ("dead", 8) and dead["lastError"]
    listed = json.loads(server.hws("admin", "clients", "webhooks", "list", "--office", "KR", "--json").stdout)
    assert next(e for e in listed if e["id"] == endpoint["id"])["enabled"]  # 4 days of failures: not yet disabled
    down.start()
    try:
        again = server.hws("admin", "clients", "webhooks", "redeliver", endpoint["id"], "--json", check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        redelivered = json.loads(again.stdout)
        assert redelivered["redelivered"] == [dead["id"]]
        until(lambda: deliveries(server, endpoint["id"])[0]["status"] == "delivered", what="redelivery")
        (got,) = down.requests()
        assert verified(endpoint["secret"], got)["id"] == dead["eventId"]
    finally:
        down.stop()
    audit = server.hws("admin", "audit", "--action", "webhook.redelivered", "--json", check=False)
    assert endpoint["id"] in audit.stdout, audit.stdout + audit.stderr


def test_an_endpoint_failing_for_days_is_disabled_with_an_audit_entry(loopback: RunningServer) -> None:
    server = loopback
    server.enrol("KR")
    down = Receiver()  # never started
    endpoint = add_webhook(server, "KR", f"{down.url}/never")

    def tries() -> int:
        return sum(d["attempts"] for d in deliveries(server, endpoint["id"]))

    def enabled() -> bool:
        listed = json.loads(server.hws("admin", "clients", "webhooks", "list", "--json").stdout)
        return bool(listed[0]["enabled"])

    for _day in range(14):  # 13 hours a round: five days of failures after 10 rounds
        if not enabled():
            break
        made = tries()
        server.hws("admin", "clients", "webhooks", "test", endpoint["id"], "--wait", "0")  # always something to send
        advance(server, PAST_ANY_RETRY)  # whatever failed last is due again
        until(lambda made=made: tries() > made, what="a try")
    listed = json.loads(server.hws("admin", "clients", "webhooks", "list", "--json").stdout)
    assert not listed[0]["enabled"] and "every delivery failed since" in listed[0]["disabledReason"]
    audit = server.hws("admin", "audit", "--action", "webhook.disabled", "--json")
    assert endpoint["id"] in audit.stdout


def test_loopback_is_refused_without_the_operators_allowance_and_redirects_are_not_followed(tmp_path: Path) -> None:
    strict = start_server(tmp_path / "strict", extra_env={**servers.SANDBOX, "HWS_WEBHOOK_ALLOW_HTTP": "1"})
    try:
        refused = strict.hws("admin", "clients", "webhooks", "add", "--office", "KR", "--url", "http://127.0.0.1:9/x",
                             "--json", check=False)  # fmt: skip
        assert refused.returncode != 0 and "loopback" in refused.stdout + refused.stderr
        kr = strict.enrol("KR")
        for url in ("http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x", "http://169.254.169.254/latest"):
            with pytest.raises(APIError) as caught:
                kr.request("POST", "/webhooks", json={"url": url}, accept="application/json")
            assert caught.value.status == 422 and caught.value.code == "validation-failed", url
        assert json.loads(kr.request("GET", "/webhooks", accept="application/json").content) == {"endpoints": []}
        kr.close()
    finally:
        strict.stop()

    server = start_server(tmp_path / "loopback", extra_env=LOOPBACK)
    target = Receiver().start()
    redirecting = Receiver(answer=lambda _r, _n: (307, {"Location": f"{target.url}/elsewhere"})).start()
    try:
        kr = server.enrol("KR")
        # the office manages its own endpoint through the API
        created = json.loads(
            kr.request("POST", "/webhooks", json={"url": f"{redirecting.url}/moved", "description": "ours"},
                       accept="application/json").content
        )  # fmt: skip
        assert created["secret"].startswith("whsec_")
        kr.request("POST", f"/webhooks/{created['id']}/test", accept="application/json")
        until(lambda: deliveries(server, created["id"])[0]["attempts"] == 1, what="the first try")
        record = deliveries(server, created["id"])[0]
        assert record["status"] == "pending" and record["lastStatus"] == 307 and "not followed" in record["lastError"]
        assert len(redirecting.requests()) == 1 and target.requests() == []
        shown = json.loads(kr.request("GET", f"/webhooks/{created['id']}", accept="application/json").content)
        assert "secret" not in shown and shown["deliveries"][0]["lastStatus"] == 307
        us = server.enrol("US")
        with pytest.raises(APIError) as caught:  # another office's endpoint does not exist for it
            us.request("DELETE", f"/webhooks/{created['id']}")
        assert caught.value.status == 404
        kr.request("DELETE", f"/webhooks/{created['id']}")
        assert json.loads(kr.request("GET", "/webhooks", accept="application/json").content) == {"endpoints": []}
        for client in (kr, us):
            client.close()
    finally:
        redirecting.stop()
        target.stop()
        server.stop()


def _worker(server: RunningServer, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "hws", "worker"], env=server.env, stdout=out, stderr=subprocess.STDOUT)


def test_killing_the_worker_between_change_and_delivery_loses_no_event_and_keeps_the_order(tmp_path: Path) -> None:
    """The API process runs no jobs and sends nothing; a ``hws worker`` does both and is
    SIGKILLed again and again while packages are imported, examined and announced."""
    env = {**LOOPBACK, "HWS_WORKER_THREADS": "0", "HWS_JOB_LEASE_SECONDS": "2", "HWS_SCHEDULER": "0"}
    server = start_server(tmp_path / "server", extra_env=env)
    # a receiver that takes its time, so that deliveries trail the changes and a kill falls between
    receiver = Receiver(answer=lambda _r, _n: (time.sleep(0.2), (204, {}))[1]).start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        kr = server.enrol("KR")
        endpoint = add_webhook(server, "KR", f"{receiver.url}/kill")
        packages = 5
        for n in range(packages):
            kr.submit(application(tmp_path, f"KR-KILL-{n}", deferment=None))
        expected = packages * 3  # accepted, taken up, registered
        log = tmp_path / "worker.log"
        seen: list[int] = []  # each request's sequence, its signature checked once, when it came

        def sequences() -> list[int]:
            for got in receiver.requests()[len(seen) :]:
                seen.append(verified(endpoint["secret"], got)["hwssequence"])
            return list(seen)

        def complete() -> bool:
            return set(sequences()) >= set(range(1, expected + 1))

        kills = 0
        while not complete():
            worker = _worker(server, log)
            before = len(sequences())
            until(lambda before=before: len(sequences()) > before or complete(), timeout=90, what="progress")
            # killed as soon as a delivery arrived (before it is recorded as delivered), or a little later
            time.sleep((kills % 4) * 0.3)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            kills += 1
        received = sequences()
        assert set(received) == set(range(1, expected + 1))  # every event, none lost
        assert received == sorted(received)  # per-subscription order (a repeat only re-sends the latest)
        assert kills >= 3
        final = deliveries(server, endpoint["id"])
        assert {d["status"] for d in final} <= {"delivered", "pending"}
        kr.close()
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(10)
        receiver.stop()
        server.stop()


def _enrol(server: RunningServer, office: str) -> tuple[str, Path]:
    """A client of ``office``: its id and private key file (kept across a restart)."""
    files = generate(office, server.data_dir.parent / f"keys-{office}")
    created = json.loads(server.hws("admin", "clients", "add", "--cert", str(files.certificate), "--office", office,
                                    "--ip", "127.0.0.1/32", "--json").stdout)  # fmt: skip
    return created["client_id"], files.private_key


def test_two_offices_follow_the_feed_each_their_own_resuming_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "server"
    server = start_server(data, extra_env=servers.SANDBOX)
    clients = {office: _enrol(server, office) for office in ("KR", "US")}
    seen: dict[str, list[FeedEvent]] = {"KR": [], "US": []}
    imports: dict[str, set[str]] = {"KR": set(), "US": set()}
    failures: list[BaseException] = []

    def follow(server: RunningServer, office: str, until_sequence: int) -> None:
        client_id, key = clients[office]
        try:
            with HagueClient(issuer=server.issuer, client_id=client_id, private_key=key) as client:
                for event in client.events(cursor_file=tmp_path / f"{office}.cursor", wait=5):
                    seen[office].append(event)
                    if event.sequence >= until_sequence:
                        break
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    def round_(server: RunningServer, reference: str, until_sequence: int) -> None:
        threads = [threading.Thread(target=follow, args=(server, office, until_sequence)) for office in seen]
        for thread in threads:  # following (long polls waiting) before anything happens
            thread.start()
        for office, (client_id, key) in clients.items():
            with HagueClient(issuer=server.issuer, client_id=client_id, private_key=key) as client:
                receipt = client.submit(application(tmp_path, f"{office}-{reference}", office=office, deferment=None))
                imports[office].add(receipt.import_id)
        for thread in threads:
            thread.join(120)
        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads)

    try:
        round_(server, "FEED-1", 3)
        server.stop()
        server = start_server(data, extra_env=servers.SANDBOX)  # the same database, another port
        round_(server, "FEED-2", 6)
    finally:
        server.stop()
    for office, events in seen.items():
        assert {e.office for e in events} == {office}
        mentioned = {e.data.get("importId") for e in events}
        assert mentioned == imports[office]  # its own imports only
        sequences = [e.sequence for e in events]
        # in order; resuming from the cursor file repeats at most the event the first follower
        # stopped on (at least once: its cursor is written when the next one is asked for)
        assert sorted(set(sequences)) == list(range(1, 7)) and sequences == sorted(sequences)
        assert len(sequences) - len(set(sequences)) <= 1


def test_hws_watch_learns_of_changes_from_the_feed_not_from_its_rounds(tmp_path: Path) -> None:
    """With a round every ten minutes, the watcher still sees the request taken up and
    registered by the operator after its first round: the feed's long poll wakes it."""
    server = start_server(tmp_path / "server", extra_env={**servers.SANDBOX, "HWS_EXAMINATION": "manual"})
    watch: subprocess.Popen[bytes] | None = None
    try:
        client_id, key = _enrol(server, "KR")
        with HagueClient(issuer=server.issuer, client_id=client_id, private_key=key) as kr:
            receipt = kr.submit(application(tmp_path, "KR-WATCH-1", deferment=None))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HWS_")}
        env.update({"HWS_CONFIG_HOME": str(tmp_path / "config"), "HWS_ISSUER": server.issuer, "HWS_CLIENT_ID": client_id,
                    "HWS_PRIVATE_KEY": str(key)})  # fmt: skip
        output = tmp_path / "watch.jsonl"
        with output.open("wb") as out, (tmp_path / "watch.err").open("wb") as err:
            watch = subprocess.Popen(
                [sys.executable, "-m", "hws", "watch", "--out", str(tmp_path / "dl"), "--follow", receipt.import_id,
                 "--interval", "600", "--json"], env=env, stdout=out, stderr=err,
            )  # fmt: skip

        def watched(kind: str, **fields: Any) -> dict[str, Any] | None:
            lines = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
            return next((e for e in lines if e["event"] == kind and all(e.get(k) == v for k, v in fields.items())), None)

        imported = until(lambda: watched("import.imported", import_id=receipt.import_id), what="the first round")
        until(lambda: watched("request.status", srn=imported["srn"]), what="the request's first status")
        server.hws("admin", "sr", "take-up", imported["srn"])
        server.hws("admin", "sr", "register", imported["srn"])
        until(lambda: watched("request.status", srn=imported["srn"], status="Registered"), what="the registration")
        assert watch.poll() is None
        # the same events from the command line, as CloudEvents JSON lines
        followed = subprocess.run(
            [sys.executable, "-m", "hws", "events", "follow", "--json", "--until-idle", "--after", "0", "--wait", "0"],
            env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        lines = [json.loads(line) for line in followed.stdout.splitlines()]
        assert [(e["type"].removeprefix(PREFIX), e["data"]["status"]) for e in lines] == [
            ("import.accepted", "Imported"), ("request.status-changed", "Processing"),
            ("request.status-changed", "Registered"),
        ]  # fmt: skip
        assert [e["hwssequence"] for e in lines] == [1, 2, 3]
    finally:
        if watch is not None and watch.poll() is None:
            watch.send_signal(signal.SIGTERM)
            watch.wait(30)
        server.stop()
