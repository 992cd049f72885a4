"""File references: every reference names a file of the package, inside it, and every file is referenced."""

from __future__ import annotations

from lxml import etree

from hws.st96.namespaces import com
from hws.st96.problems import Location, Problem
from hws.st96.rules.context import RuleContext, reference_escapes


def check_references(ctx: RuleContext) -> dict[str, list[etree._Element]]:
    """Every com:FileName / com:ThumbnailFileName must name a file of the package, and
    every file must be named. Returns reference → elements naming it."""
    refs: dict[str, list[etree._Element]] = {}
    folded = {name.casefold(): name for name in ctx.files}
    for el in ctx.root.iter(com("FileName"), com("ThumbnailFileName")):
        ref = (el.text or "").strip()
        if not ref:
            ctx.add("reference-empty", "this file reference is empty; give the file's path in the package", el)
            continue
        if reference_escapes(ref):
            ctx.add(
                "reference-escapes",
                f"{ref!r} points outside the package; use the file's exact relative path inside the ZIP",
                el,
            )
            continue
        refs.setdefault(ref, []).append(el)
    for ref, elements in refs.items():
        if ref in ctx.files or ref in ctx.refused_names:
            continue
        hint = ""
        near = folded.get(ref.casefold())
        if near is not None:
            hint = f" (the package has {near!r}: names are case-sensitive)"
        ctx.add("reference-missing", f"{ref!r} is referenced but not in the package{hint}", elements[0])
    for name in ctx.files:
        if name == ctx.entry or name in refs:
            continue
        ctx.problems.append(
            Problem(
                "file-unreferenced",
                f"{name!r} is in the package but the XML does not reference it; reference it or remove it",
                Location(entry=name),
            )
        )
    return refs
