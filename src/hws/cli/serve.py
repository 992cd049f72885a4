"""``hws serve``: run the service (API now; the in-process worker joins with the import pipeline)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
from pathlib import Path

import typer
import uvicorn

from hws import logs
from hws.api.app import create_app
from hws.config import Settings
from hws.service import Service, build_service


def first_start_hints(service: Service) -> str:
    """Copy-paste commands to enrol a test office and call ping."""
    bin_dir = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else Path(".")
    hws = shlex.quote(str(bin_dir / "hws")) if (bin_dir / "hws").exists() else "hws"
    office_dir = service.settings.data_dir / "demo-office"
    issuer = service.settings.issuer
    return f"""
No client is enrolled yet. To enrol a test office and call pingMe, in another terminal:

  {hws} keygen --name DEMO --out {office_dir}
  {hws} admin clients add --cert {office_dir}/cert.pem --office KR --ip 127.0.0.1/32 --client-id demo-kr
  {hws} configure --issuer {issuer} --client-id demo-kr --private-key {office_dir}/private_key.pem
  {hws} ping --name KR

(Run them from this folder so the operator command finds the same data folder.)
"""


def _exit_cleanly(_signum: int, _frame: object) -> None:
    # uvicorn drains in-flight requests and shuts the app down, then raises the SIGTERM
    # it caught again with the handler found before it: after that orderly stop, exit 0.
    raise SystemExit(0)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="API processes (more than one needs a shared database)."),
) -> None:
    """Run the service on the configured database and data folder."""
    settings = Settings()
    if "public_url" not in settings.model_fields_set:
        # No public URL configured: the service is reached where it listens.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["HWS_PUBLIC_URL"] = f"http://{shown}:{port}"
        settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    service = build_service(settings)
    service.start()
    if service.registry.count() == 0:
        sys.stderr.write(first_start_hints(service) + "\n")
    versions = service.schema_set.versions()
    if versions:
        sys.stderr.write(f"ST.96 schema sets installed: {', '.join(versions)} (packages are validated against them)\n")
    else:
        sys.stderr.write(
            "No ST.96 schema set installed: packages get structural checks only. "
            "Install WIPO's schemas with `hws admin schemas install DIR|ZIP`.\n"
        )
    sys.stderr.write(f"hws serving on http://{host}:{port} — issuer {settings.issuer}, data {settings.data_dir.resolve()}\n")
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if workers == 1:
        uvicorn.run(create_app(service), host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=30)
        return
    service.close()
    os.environ.setdefault("HWS_AUTO_MIGRATE", "false")
    # Prometheus counters of all API processes, summed at /metrics (multiprocess mode).
    metrics_dir = settings.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "hws.api.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
