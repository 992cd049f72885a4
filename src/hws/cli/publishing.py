"""``hws admin publish``: publish a week by hand, or check that a published week rebuilds
to the same bytes."""

from __future__ import annotations

from typing import Any

import typer

from hws.cli.console import emit_json, fail, out
from hws.cli.operator_service import operator_service
from hws.domain.weeks import InvalidWeek, Week
from hws.store import publications as pub_store
from hws.usecases.publishing import Publisher


def publish(
    week: str = typer.Option(None, "--week", help="ISO week yyyyww; default: every due week not yet published."),
    verify: bool = typer.Option(False, "--verify", help="Rebuild the published week and compare its bytes (changes nothing)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Publish the weekly bulletin and confidential copies (published weeks never change)."""
    service = operator_service()
    publisher = Publisher(service)
    try:
        weeks = [Week.parse(week)] if week else publisher.due()
    except InvalidWeek as exc:
        fail(str(exc), as_json=as_json)
    if verify:
        if not week:
            fail("--verify needs --week", as_json=as_json)
        target = weeks[0]
        results: list[dict[str, Any]] = []
        for record in pub_store.for_week(service.engine, target.id):
            if record.kind == pub_store.BULLETIN:
                ref, _ = publisher.build_bulletin(target)
            else:
                ref, _ = publisher.build_confidential_copy(target, record.office)
            results.append({"kind": record.kind, "office": record.office, "published": record.sha256, "rebuilt": ref.sha256,
                            "identical": ref.sha256 == record.sha256})  # fmt: skip
        if not results:
            fail(f"week {target.id} is not published", as_json=as_json)
        if as_json:
            emit_json(results)
        else:
            for r in results:
                out.print(
                    f"{r['kind']} {r['office'] or ''} {'identical' if r['identical'] else 'DIFFERENT'} ({r['published'][:16]}…)"
                )
        if not all(r["identical"] for r in results):
            raise typer.Exit(1)
        return
    schedule = service.settings.schedule
    published = []
    for target in weeks:
        if schedule.moment(target) > service.calendar.now():
            fail(
                f"week {target.id} is not over yet: its publication is scheduled for {schedule.moment(target).isoformat()}",
                as_json=as_json,
            )
        for record in publisher.publish(target):
            published.append({"kind": record.kind, "week": record.week, "office": record.office, "sha256": record.sha256,
                              "size": record.size, "registrations": record.registrations, "decisions": record.decisions})  # fmt: skip
    if as_json:
        emit_json(published)
    elif not published:
        out.print("nothing to publish: every due week is published")
    else:
        for p in published:
            out.print(
                f"{p['kind']} {p['week']} {p['office']} {p['size']} bytes, {p['registrations']} registrations, {p['decisions']} decisions"
            )
