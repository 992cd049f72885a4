"""Designs: unique identifiers, image views, stated counts, Locarno classes; the designs a decision affects."""

from __future__ import annotations

from pathlib import PurePosixPath

from lxml import etree

from hws.st96.content import Design, View
from hws.st96.namespaces import com, dgn
from hws.st96.rules.context import FILE_TYPES, IMAGE_TYPES, RuleContext, locarno_code, text_of


def check_designs(ctx: RuleContext, transaction: etree._Element) -> tuple[Design, ...]:
    designs: list[Design] = []
    seen: set[str] = set()
    bag = transaction.find(dgn("HagueDesignBag"))
    if bag is None:
        return ()
    for design_el in bag.iterfind(dgn("HagueDesign")):
        ident = text_of(design_el.find(dgn("DesignIdentifier")))
        if ident is not None:
            if ident in seen:
                ctx.add("design-identifier-duplicate", f"design {ident!r} is listed twice", design_el)
            seen.add(ident)
        views = []
        for view_el in design_el.iterfind(f"{dgn('ViewBag')}/{dgn('View')}"):
            file_el = view_el.find(com("FileName"))
            ref = text_of(file_el) or ""
            if ref and FILE_TYPES.get(PurePosixPath(ref).suffix.lower(), (None,))[0] not in IMAGE_TYPES:
                ctx.add("view-not-image", f"view file {ref!r} must be a JPEG (.jpg) or PNG (.png) image", file_el)
            views.append(
                View(
                    text_of(view_el.find(dgn("ViewIdentifier"))),
                    ref,
                    text_of(view_el.find(dgn("ViewTypeCategory"))),
                )
            )
        stated = text_of(design_el.find(dgn("ViewTotalQuantity")))
        if stated is not None and stated.isdigit() and int(stated) != len(views):
            ctx.add(
                "count-mismatch",
                f"design {ident!r} states {stated} views but lists {len(views)}",
                design_el.find(dgn("ViewTotalQuantity")),
            )
        classes = tuple(
            locarno_code(cls_el)
            for cls_el in design_el.iterfind(f"{com('LocarnoClassificationBag')}/{com('LocarnoClassification')}")
            if text_of(cls_el.find(com("LocarnoClass")))
        )
        product = text_of(design_el.find(f"{com('ProductDescriptionTextBag')}/{com('ProductDescriptionText')}"))
        designs.append(Design(ident, tuple(views), product, classes))
    return tuple(designs)


def affected_designs(transaction: etree._Element) -> tuple[str, ...] | None:
    """The identifiers of the designs a decision names, or ``None`` for all of them."""
    affected = transaction.find(dgn("AffectedDesign"))
    if affected is None or affected.find(dgn("AllDesignsIndicator")) is not None:
        return None
    return tuple(
        t for t in (text_of(el) for el in affected.iterfind(f"{dgn('DesignIdentifierBag')}/{dgn('DesignIdentifier')}")) if t
    )
