"""The HTTP app starts nothing of its own; hws serve's embedded mode adds the job runners
and, when the settings say so, the scheduler."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.embedded import embedded_app
from tests.conftest import make_service


class Recorder:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def test_background_parts_start_in_order_and_stop_in_reverse(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url, worker_threads=0, scheduler=False)
    log: list[str] = []
    with TestClient(create_app(service, background=[Recorder(log, "a"), Recorder(log, "b")])) as client:
        assert client.get("/healthz").status_code == 200
        assert log == ["start a", "start b"]
    assert log == ["start a", "start b", "stop b", "stop a"]
    service.close()


def test_the_embedded_app_runs_workers_and_the_scheduler_as_configured(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from hws import embedded

    seen: list[object] = []
    monkeypatch.setattr(embedded, "create_app", lambda service, background: seen.extend(background) or "app")
    with_scheduler = make_service(tmp_path / "a", f"sqlite:///{tmp_path / 'a.sqlite3'}", worker_threads=2, scheduler=True)
    assert embedded_app(with_scheduler) == "app"
    assert [type(part).__name__ for part in seen] == ["WorkerPool", "DeliveryPool", "Scheduler"]
    seen.clear()
    without = make_service(tmp_path / "b", f"sqlite:///{tmp_path / 'b.sqlite3'}", worker_threads=0, scheduler=False)
    embedded_app(without, workers=3)
    assert [type(part).__name__ for part in seen] == ["WorkerPool", "DeliveryPool"] and len(seen[0]._threads) == 3  # type: ignore[attr-defined]
    seen.clear()
    embedded_app(without)  # an API-only process (no job runners) sends no webhooks either
    assert [type(part).__name__ for part in seen] == ["WorkerPool"]
    seen.clear()
    quiet = make_service(tmp_path / "c", f"sqlite:///{tmp_path / 'c.sqlite3'}", scheduler=False, webhook_delivery_threads=0)
    embedded_app(quiet)
    assert [type(part).__name__ for part in seen] == ["WorkerPool"]
    with_scheduler.close()
    without.close()
    quiet.close()
