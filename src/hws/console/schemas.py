"""Schema sets: the official ST.96 sets installed (``hws admin schemas install``), their
files and fingerprints, and which ``st96Version`` values are checked by structural rules
alone (:class:`hws.st96.schemaset.StructuralOnly`, the service's own setting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.console.access import service, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96.schemaset import IB_TO_OFFICE, OFFICE_TO_IB, SchemaError, list_schema_sets
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()


@dataclass(frozen=True)
class Installed:
    version: str
    path: Path
    files: int
    #: document → its fingerprint (the content hash the compiled schema is cached under)
    fingerprints: dict[str, str | None]
    problem: str | None = None


def _installed(svc: Service) -> list[Installed]:
    found = []
    for item in list_schema_sets(svc.settings.data_dir):
        fingerprints: dict[str, str | None] = {}
        problem = None
        for document in (OFFICE_TO_IB, IB_TO_OFFICE):
            try:
                fingerprints[document] = svc.schema_set.fingerprint(item.version, document)
            except (OSError, SchemaError) as exc:
                fingerprints[document], problem = None, str(exc)
        found.append(Installed(item.version, item.path, item.files, fingerprints, problem))
    return found


def _context(svc: Service) -> dict[str, Any]:
    installed = _installed(svc)
    versions = [i.version for i in installed]
    rule = svc.structural_only
    if rule.versions is not None:
        listed = sorted(rule.versions)
        structural = "any" if "*" in rule.versions else [v for v in listed if v not in versions]
    else:
        structural = "any" if rule.allows("V0_0", versions) else []
    return {
        "installed": installed,
        "structural": structural,
        "configured": sorted(rule.versions) if rule.versions is not None else None,
        "describe": rule.describe(versions),
        "documents": (OFFICE_TO_IB, IB_TO_OFFICE),
    }


@router.get("/schemas")
async def schemas(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    context = await run_in_threadpool(_context, service(request))
    return render(request, "schemas/list.html", **context)
