"""``hws serve``: run the service (API now; the in-process worker joins with the import pipeline)."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, cast

import typer
import uvicorn
from sqlalchemy.engine import make_url
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT

# uvicorn's choice for "auto" when httptools is installed, as uvicorn[standard] does
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hws import logs
from hws.config import Settings
from hws.embedded import embedded_app
from hws.service import Service, build_service
from hws.store import database


def first_start_hints(service: Service) -> str:
    """Copy-paste commands to enrol a test office and call ping."""
    bin_dir = Path(sys.argv[0]).resolve().parent if sys.argv and sys.argv[0] else Path(".")
    hws = shlex.quote(str(bin_dir / "hws")) if (bin_dir / "hws").exists() else "hws"
    office_dir = service.settings.data_dir.resolve() / "demo-office"
    data_dir = shlex.quote(str(service.settings.data_dir.resolve()))
    issuer = service.settings.issuer
    return f"""
No client is enrolled yet. To enrol a test office and call pingMe, in another terminal:

  {hws} keygen --name DEMO --out {office_dir}
  {hws} admin --data-dir {data_dir} clients add --cert {office_dir}/cert.pem --office KR --ip 127.0.0.1/32 --client-id demo-kr
  {hws} configure --issuer {issuer} --client-id demo-kr --private-key {office_dir}/private_key.pem
  {hws} ping --name KR
"""


def sandbox_banner(settings: Settings) -> str:
    """Said first when the service is a sandbox: nobody should take it for production."""
    line = "=" * 78
    return (
        f"{line}\n"
        "  SANDBOX (HWS_SANDBOX=1): a test service, not the International Bureau's.\n"
        f"  Its calendar can be moved (hws admin clock); examination is {settings.examination}"
        + (" (sandbox rules decide)" if settings.examination == "auto" else " (an operator decides)")
        + ".\n  Bulletins and confidential copies it publishes are test data.\n"
        f"{line}"
    )


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for a request's head.

    uvicorn bounds the wait *between* requests (``timeout_keep_alive``) but not the
    request line and headers themselves: a client that sends half a request line and
    then nothing (or a header byte now and then) holds a connection for ever. Here a
    timer starts when a connection opens, and when the first byte of a later request on
    it arrives; if the head is not complete within ``HWS_HEADER_READ_TIMEOUT`` seconds,
    the connection gets ``408`` and is closed. A request whose head has arrived is not
    touched (its body has its own idle timeout, ``HWS_UPLOAD_IDLE_TIMEOUT``).

    Module level so that ``--workers N`` can name it to its child processes; each child
    reads the timeout from its settings once (the children build theirs from the same
    environment as the parent).
    """

    header_timeout: float | None = None

    def __init__(
        self, config: Config, server_state: ServerState, app_state: dict[str, Any], _loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if HeaderDeadlineProtocol.header_timeout is None:
            HeaderDeadlineProtocol.header_timeout = Settings().header_read_timeout
        self._head_timer: asyncio.TimerHandle | None = None

    def _head_pending(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None and self.header_timeout is not None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))  # a stream transport (TCP)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_pending():
            self._arm()  # the first bytes of a request (or more of a head still coming)
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:
            self._disarm()  # a request's head is complete: the app has it

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_body(self, body: bytes) -> None:
        """uvicorn's ``on_body`` without two copies of every chunk: uvicorn appends each
        chunk to the request's ``bytearray`` and hands the application ``bytes(...)`` of
        it — two copies on the event loop, with the interpreter held (a 1 GiB upload:
        2 GiB of copying). Here a chunk that finds nothing waiting is kept as it is, and
        ``receive`` hands that very object over (``bytes`` of a ``bytes`` is itself);
        only chunks that arrive before the application read the last one are joined.
        Flow control and the wake-up are uvicorn's, unchanged."""
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        if cycle.body:
            cycle.body += body  # the application has not read the last chunk yet
        else:
            cycle.body = body  # type: ignore[assignment]  # bytes: read-only, handed over as is
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # the next head's clock starts with its first byte (keep-alive covers the wait)

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self._head_pending() or self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 33\r\nconnection: close\r\n\r\nthe request head was not complete"
        )
        self.transport.close()


def _unreachable(settings: Settings, error: BaseException) -> str:
    """One line for stderr: which database, why (password hidden)."""
    try:
        where = make_url(settings.database_url or "").render_as_string(hide_password=True)
    except Exception:  # only for the message
        where = "the configured database"
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"hws serve: cannot reach the database {where}: {reason[0] if reason else type(error).__name__}"


def _causes(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _exit_cleanly(_signum: int, _frame: object) -> None:
    # uvicorn drains in-flight requests and shuts the app down, then raises the SIGTERM
    # it caught again with the handler found before it: after that orderly stop, exit 0.
    raise SystemExit(0)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, help="API processes (more than one needs a shared database)."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Data folder (database, blobs, keys); default HWS_DATA_DIR, the settings file, else ./var."
    ),
) -> None:
    """Run the service on the configured database and data folder."""
    if data_dir is not None:
        os.environ["HWS_DATA_DIR"] = str(data_dir)  # for this process and the --workers children alike
    settings = Settings()
    if "public_url" not in settings.model_fields_set:
        # No public URL configured: the service is reached where it listens.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["HWS_PUBLIC_URL"] = f"http://{shown}:{port}"
        settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.sandbox:
        sys.stderr.write(sandbox_banner(settings) + "\n")
    try:
        service = build_service(settings)
        service.start()
    except Exception as exc:
        if not any(database.unavailable(e) for e in _causes(exc)):
            raise
        sys.stderr.write(_unreachable(settings, exc) + "\n")
        raise typer.Exit(1) from None
    if service.registry.count() == 0:
        sys.stderr.write(first_start_hints(service) + "\n")
    versions = service.schema_set.versions()
    if versions:
        sys.stderr.write(f"ST.96 schema sets installed: {', '.join(versions)} (packages are validated against them)\n")
    else:
        sys.stderr.write("No ST.96 schema set installed. Install WIPO's schemas with `hws admin schemas install DIR|ZIP`.\n")
    sys.stderr.write(f"Schema versions: {service.structural_only.describe(versions)}.\n")
    sys.stderr.write(f"hws serving on http://{host}:{port} — issuer {settings.issuer}, data {settings.data_dir.resolve()}\n")
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # No proxy_headers: uvicorn would otherwise take X-Forwarded-For from 127.0.0.1 as
    # the client's address before hws sees the request. The caller's address is decided
    # by hws alone (hws.api.security.source_address), from the socket unless the peer is
    # one of HWS_TRUSTED_PROXIES.
    HeaderDeadlineProtocol.header_timeout = settings.header_read_timeout
    if workers == 1:
        uvicorn.run(
            embedded_app(service), host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=30,
            proxy_headers=False, http=HeaderDeadlineProtocol,
        )  # fmt: skip
        return
    service.close()
    os.environ.setdefault("HWS_AUTO_MIGRATE", "false")
    # Prometheus counters of all API processes, summed at /metrics (multiprocess mode).
    metrics_dir = settings.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    uvicorn.run(
        "hws.embedded:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        proxy_headers=False,
        http=HeaderDeadlineProtocol,
    )
