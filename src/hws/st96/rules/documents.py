"""Documents: each PDF's kind allowed for the transaction, reproductions as reproduction sheets, the right number of PDFs."""

from __future__ import annotations

from pathlib import PurePosixPath

from lxml import etree

from hws.st96.content import Document
from hws.st96.namespaces import com, dgn
from hws.st96.rules.context import FILE_TYPES, IMAGE_TYPES, RuleContext, bool_of, text_of
from hws.st96.transactions import REPRODUCTION_SHEETS, TransactionKind, document_rule


def check_documents(
    ctx: RuleContext, transaction: etree._Element, kind: TransactionKind, generic_category: str | None
) -> tuple[Document, ...]:
    rule = document_rule(kind, generic_category)
    documents: list[Document] = []
    pdfs: set[str] = set()
    prior_refusal = bool_of(transaction.get(dgn("priorRefusalIndicator")))
    for name_el in transaction.iter(com("FileName")):
        holder = name_el.getparent()
        if holder is None or holder.tag == dgn("View"):
            continue
        ref = (name_el.text or "").strip()
        suffix = PurePosixPath(ref).suffix.lower()
        media_type = FILE_TYPES.get(suffix, (None, ""))[0]
        kind_el = holder.find(com("DocumentKindCategory"))
        doc_kind = text_of(kind_el)
        documents.append(Document(ref, doc_kind, media_type, text_of(holder.find(com("DocumentName")))))
        if media_type == "application/pdf":
            pdfs.add(ref)
            if doc_kind is None:
                allowed = ", ".join(sorted(rule.kinds)) or "none"
                ctx.add(
                    "document-kind-missing",
                    f"{ref!r} has no com:DocumentKindCategory; add one of: {allowed}",
                    holder,
                )
            elif doc_kind not in rule.kinds:
                allowed = ", ".join(sorted(rule.kinds)) or "none (this transaction carries no document)"
                ctx.add(
                    "document-kind-not-allowed",
                    f"{ref!r} has kind {doc_kind!r}, not allowed for {kind.value}; allowed: {allowed}",
                    kind_el,
                )
            elif prior_refusal is True and doc_kind == "GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL":
                ctx.add(
                    "document-kind-inconsistent",
                    "dgn:priorRefusalIndicator is true: the kind must be GRANT_OF_PROTECTION_AFTER_REFUSAL",
                    kind_el,
                )
            elif prior_refusal is False and doc_kind == "GRANT_OF_PROTECTION_AFTER_REFUSAL":
                ctx.add(
                    "document-kind-inconsistent",
                    "dgn:priorRefusalIndicator is false: the kind must be GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL",
                    kind_el,
                )
        elif media_type in IMAGE_TYPES:
            if doc_kind is None:
                ctx.add(
                    "document-kind-missing",
                    f"{ref!r} has no com:DocumentKindCategory; reproductions use {REPRODUCTION_SHEETS}",
                    holder,
                )
            elif doc_kind != REPRODUCTION_SHEETS:
                ctx.add(
                    "document-kind-not-allowed",
                    f"{ref!r} is an image: its kind must be {REPRODUCTION_SHEETS}, not {doc_kind!r}",
                    kind_el,
                )
    if not rule.count_ok(len(pdfs)):
        what = kind.value + (f" ({generic_category})" if generic_category else "")
        ctx.add(
            "document-count",
            f"{what} carries {len(pdfs)} PDF document(s); it must carry {rule.describe_count()}",
            transaction,
        )
    return tuple(documents)
