"""The service an operator command works on: built from the settings (the same ones
``hws serve`` reads), its database schema brought up to date first."""

from __future__ import annotations

from hws.config import Settings
from hws.service import Service, build_service
from hws.store import migration


def operator_service(*, migrate: bool = True) -> Service:
    service = build_service(Settings())
    if migrate and service.settings.auto_migrate:
        service.settings.data_dir.mkdir(parents=True, exist_ok=True)
        migration.upgrade(service.engine)
    return service
