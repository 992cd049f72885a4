"""The header and the bag: exactly one known transaction, counted right; then its own rules."""

from __future__ import annotations

from lxml import etree

from hws.st96.content import PackageContent
from hws.st96.namespaces import DGN, com, dgn
from hws.st96.rules.application import check_application
from hws.st96.rules.context import RuleContext, text_of
from hws.st96.rules.decision import check_decision
from hws.st96.rules.office import check_office
from hws.st96.rules.references import check_references
from hws.st96.transactions import TransactionKind


def check_transaction(ctx: RuleContext, office: str | None) -> PackageContent | None:
    root = ctx.root
    header = root.find(dgn("HagueOfficeTransactionHeader"))
    if header is None:
        ctx.add("header-missing", "add dgn:HagueOfficeTransactionHeader as the first child of the root", root)
    bag = root.find(dgn("HagueOfficeToIBBag"))
    transaction: etree._Element | None = None
    kind: TransactionKind | None = None
    if bag is None:
        ctx.add("bag-missing", "add dgn:HagueOfficeToIBBag holding the one transaction", root)
    else:
        children = [el for el in bag if isinstance(el.tag, str)]
        known = []
        for el in children:
            qname = etree.QName(el)
            try:
                if qname.namespace != DGN:
                    raise ValueError
                known.append((el, TransactionKind(qname.localname)))
            except ValueError:
                ctx.add(
                    "transaction-unknown",
                    f"{qname.localname!r} is not an Office-to-IB transaction;"
                    f" use one of {', '.join(k.value for k in TransactionKind)}",
                    el,
                )
        if not children:
            ctx.add("bag-empty", "the bag is empty; put exactly one transaction in it", bag)
        elif len(children) > 1:
            names = ", ".join(etree.QName(el).localname for el in children)
            ctx.add(
                "bag-several-transactions",
                f"the bag holds {len(children)} transactions ({names}); send one package per transaction",
                children[1],
            )
        if len(children) == 1 and known:
            transaction, kind = known[0]
    if header is not None:
        total = text_of(header.find(com("TransactionTotalQuantity")))
        if bag is not None and total is not None and total.isdigit() and int(total) != len(bag):
            ctx.add(
                "header-count-mismatch",
                f"com:TransactionTotalQuantity says {total} but the bag holds {len(bag)} transaction(s)",
                header.find(com("TransactionTotalQuantity")),
            )
    sender = check_office(ctx, header, transaction, office)
    refs = check_references(ctx)
    if transaction is None or kind is None:
        return None
    if kind is TransactionKind.APPLICATION:
        return check_application(ctx, transaction, sender, refs)
    return check_decision(ctx, transaction, kind, sender, refs)
