"""The service an operator command works on: the data folder and database ``hws serve``
uses, found the same way (``hws admin --data-dir``, ``HWS_DATA_DIR``, the settings file
named by ``HWS_CONFIG``, else ``./var``), named on stderr, and never created by accident.

An operator command run from the wrong folder would otherwise make a new, empty database
there and, say, enrol a client the running service never sees. So a command refuses when
no hws database is where the settings point, unless it was asked to create one
(``hws admin init``, or ``hws admin --create …``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from hws.cli.console import err
from hws.cli.failures import DatabaseNotInitialised
from hws.config import Settings
from hws.service import Service, build_service
from hws.store import migration


@dataclass
class _Choice:
    data_dir: Path | None = None
    create: bool = False
    announced: bool = False


_choice = _Choice()


def choose(*, data_dir: Path | None, create: bool) -> None:
    """What ``hws admin``'s own options say (called by its callback on every run)."""
    global _choice
    _choice = _Choice(data_dir=data_dir, create=create)


def operator_settings() -> tuple[Settings, str]:
    """The settings, and where the data folder came from (for people)."""
    if _choice.data_dir is not None:
        return Settings(data_dir=_choice.data_dir), "--data-dir"
    settings = Settings()
    if "HWS_DATA_DIR" in os.environ:
        source = "HWS_DATA_DIR"
    elif "data_dir" in settings.model_fields_set:
        source = f"settings file {os.environ.get('HWS_CONFIG')}"
    else:
        source = "the default, ./var"
    return settings, source


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # only for the message
        return "the configured database"


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def operator_data_dir() -> Path:
    """The data folder an operator command writes into (schema sets); it must exist
    unless creating was asked for."""
    settings, source = operator_settings()
    _announce(settings, source)
    folder = settings.data_dir
    if not folder.is_dir():
        if not _choice.create:
            raise DatabaseNotInitialised(
                f"no hws data folder at {folder.resolve()} ({source}); nothing was created — run the command where "
                "the service runs, point at its data folder (hws admin --data-dir DIR, or HWS_DATA_DIR), "
                "or create a new one with `hws admin init`"
            )
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _announce(settings: Settings, source: str) -> None:
    if _choice.announced:
        return
    _choice.announced = True
    database = shown_url(settings.database_url or "")
    err.print(f"[dim]data folder {settings.data_dir.resolve()} ({source}); database {database}[/]", highlight=False)


def operator_service(*, migrate: bool = True, create: bool = False, create_schema: bool = False) -> Service:
    """The service of the settings, its database schema brought up to date first.

    ``create``: this command may create the database (``hws admin init``);
    ``create_schema``: it may create the schema in an existing server database (``hws
    admin db upgrade`` on a new PostgreSQL database). Otherwise
    :class:`DatabaseNotInitialised` when there is no hws database where the settings
    point, and nothing is written."""
    settings, source = operator_settings()
    _announce(settings, source)
    assert settings.database_url is not None
    may_create = create or _choice.create
    sqlite = _sqlite_file(settings.database_url)
    if sqlite is not None and not may_create and not (sqlite.is_file() and sqlite.stat().st_size > 0):
        raise DatabaseNotInitialised(
            f"no hws database at {sqlite.resolve()} (data folder: {source}); nothing was created — run the command "
            "where the service runs, point at its data folder (hws admin --data-dir DIR, or HWS_DATA_DIR), "
            "or create a new one with `hws admin init`"
        )
    if sqlite is not None:
        sqlite.parent.mkdir(parents=True, exist_ok=True)
    service = build_service(settings)
    try:
        if sqlite is None and not (may_create or create_schema) and migration.current_revision(service.engine) is None:
            raise DatabaseNotInitialised(
                f"the database {shown_url(settings.database_url)} has no hws schema; create it with `hws admin init` "
                "(or `hws admin db upgrade`)"
            )
        if migrate and settings.auto_migrate:
            migration.upgrade(service.engine)
    except BaseException:
        service.close()
        raise
    return service
